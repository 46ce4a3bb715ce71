/**
 * Active-active backends (SPDK's bdev_nvme multipath mode "multipath"): a further
 * bdev_nvme_attach_controller with an attached controller's name and `multipath: "multipath"`
 * attaches another controller of the same subsystem (through another gateway of a group, or
 * another port of the storage target). Each of its namespaces becomes one more path of the bdev
 * that namespace is, and bdev_nvme_set_multipath_policy says how commands go down the paths
 * (native/bdev/nvmf_namespace_bdev.h). Unlike a failover path, each controller is connected
 * all the time, so losing one costs no reconnect: its commands go down another at once.
 *
 * The first controller keeps its params (and its failover paths); each further one is saved
 * as an attach call of its own after it, as SPDK's save_config writes them.
 */
import { NotFoundError, RdmagateError } from '../errors';
import type { JsonObject } from '../jsonrpc/json';
import type { BdevInfo } from '../nvmf/target';
import { checkPathFree, checkSharedFields, pathOf, pathText, samePath, type PathAddress } from './backend-paths';
import type { RetryPolicy } from './pending-backends';
import type { ConfigEntry, GatewayState, MultipathMember } from './state';

/** The key a pending further controller is retried under (PendingBackends), apart from its backend's own. */
export function memberKey(name: string, at: PathAddress): string {
  return `${name} via ${pathText(at)}`;
}

function members(state: GatewayState, name: string): MultipathMember[] {
  let list = state.nvmeMultipath.get(name);
  if (!list) state.nvmeMultipath.set(name, list = []);
  return list;
}

/** The further controller of `name` reached through `at`, if there is one. */
export function memberAt(state: GatewayState, name: string, at: PathAddress): MultipathMember | undefined {
  return state.nvmeMultipath.get(name)?.find((m) => samePath(pathOf(m.params), at));
}

/**
 * Attaches `params` as a further controller of backend `name` through `attach`; returns its
 * bdevs (those it joined, and any of a namespace new to the backend). Refused when it names
 * another transport, subsystem, host or key than the controller's (ERR_INVALID_ARG), or a
 * path the backend has (ERR_ALREADY_EXISTS). While replaying a config, one that does not
 * answer (or whose first controller is itself pending) is kept and retried in the background.
 */
export async function attachMember(state: GatewayState, name: string, params: JsonObject, replaying: boolean, policy: RetryPolicy,
  attach: (at: PathAddress) => Promise<BdevInfo[]>, unreachable: (e: unknown) => boolean): Promise<BdevInfo[]> {
  checkSharedFields(state, name, params, 'a further controller');
  const at = pathOf(params);
  const known = memberAt(state, name, at);
  // A pending further controller's own retry is the one attach its address may have.
  if (!known || known.attached) checkPathFree(state, name, at);
  const key = memberKey(name, at);
  const keep = (reason: string): BdevInfo[] => {
    members(state, name).push({ params, attached: false });
    state.pendingBackends.add(key, params, reason, policy);
    return [];
  };
  if (state.pendingBackends.has(name)) {
    const why = `controller ${name} is not attached yet (its first path does not answer)`;
    if (replaying && !known) return keep(why);
    throw new RdmagateError('ERR_NVME_CONNECT', `cannot add a controller to ${name}: ${why}`);
  }
  let bdevs: BdevInfo[];
  try {
    bdevs = await attach(at);
  } catch (e) {
    if (replaying && !known && unreachable(e)) return keep((e as Error).message);
    throw e;
  }
  if (known) known.attached = true;
  else members(state, name).push({ params, attached: true });
  return bdevs;
}

/** A pending further controller has just attached (by its retry): it is no longer retried. */
export async function memberAttached(state: GatewayState, name: string, at: PathAddress): Promise<void> {
  await state.pendingBackends.attached(memberKey(name, at), async () => undefined);
}

/**
 * Detaches the further controller of `name` reached through `at` (pending or attached), or, with
 * `at` the first controller's own (and only) path, the first one, the next taking its place in
 * the saved params. Its bdevs keep their other paths; the bdevs it alone reached go, and are returned.
 */
export function detachMember(state: GatewayState, name: string, at: PathAddress): string[] {
  const list = state.nvmeMultipath.get(name) ?? [];
  const member = memberAt(state, name, at);
  if (member && !member.attached) {
    state.pendingBackends.remove(memberKey(name, at));
    list.splice(list.indexOf(member), 1);
    if (list.length === 0) state.nvmeMultipath.delete(name);
    return [];
  }
  const next = member ? undefined : list.find((m) => m.attached);
  if (!member && !next) throw new NotFoundError(`No such device: controller ${name} has no path ${pathText(at)}`);
  const before = new Set(state.target.bdevs().map((b) => b.name));
  state.target.detachNvmeController(name, at);
  if (member) {
    list.splice(list.indexOf(member), 1);
  } else {
    // The first controller went: the next takes its place, as the one save_config writes first.
    // Its failover paths went with it. The params object is the one its bdevs' records hold.
    const params = state.nvmeControllers.get(name)!;
    delete params.adrfam;
    const { traddr, trsvcid, adrfam } = next!.params;
    Object.assign(params, { traddr, trsvcid, ...(adrfam === undefined ? {} : { adrfam }) });
    state.nvmePaths.delete(name);
    list.splice(list.indexOf(next!), 1);
  }
  if (list.length === 0) state.nvmeMultipath.delete(name);
  const after = new Set(state.target.bdevs().map((b) => b.name));
  const gone = [...before].filter((b) => !after.has(b));
  for (const b of gone) {
    state.bdevs.delete(b);
    state.multipathPolicies.delete(b);
  }
  return gone;
}

/** The further controllers of `name`, attached or pending. */
export function multipathMembers(state: GatewayState, name: string): readonly MultipathMember[] {
  return state.nvmeMultipath.get(name) ?? [];
}

/** Forgets every further controller of `name` (detached with its backend). */
export function forgetMembers(state: GatewayState, name: string): void {
  for (const m of state.nvmeMultipath.get(name) ?? []) {
    if (!m.attached) state.pendingBackends.remove(memberKey(name, pathOf(m.params)));
  }
  state.nvmeMultipath.delete(name);
}

/** save_config's entries for the further controllers (attached or pending), after every controller's own. */
export function memberEntries(state: GatewayState): ConfigEntry[] {
  return [...state.nvmeMultipath.values()].flat().map((m) => ({ method: 'bdev_nvme_attach_controller', params: m.params }));
}

/** save_config's bdev_nvme_set_multipath_policy calls, after the attaches. */
export function policyEntries(state: GatewayState): ConfigEntry[] {
  return [...state.multipathPolicies.values()].map((params) => ({ method: 'bdev_nvme_set_multipath_policy', params }));
}

/** Applies a policy saved for any of `bdevs` (set while a replayed backend was still pending). */
export function applySavedPolicies(state: GatewayState, bdevs: readonly string[]): void {
  for (const b of bdevs) {
    const saved = state.multipathPolicies.get(b);
    if (saved) setPolicy(state, saved);
  }
}

/** Sets bdev `params.name`'s policy in the native target (bdev_nvme_set_multipath_policy's params). */
export function setPolicy(state: GatewayState, params: JsonObject): void {
  state.target.setMultipathPolicy(String(params.name), params.policy as 'active_passive' | 'active_active',
    (params.selector ?? 'round_robin') as 'round_robin' | 'queue_depth', Number(params.rr_min_io ?? 1));
}
