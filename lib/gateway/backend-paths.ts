/**
 * Failover paths of the gateway's backends (SPDK's bdev_nvme multipath "failover"): a second
 * bdev_nvme_attach_controller with the name of an attached controller and another address
 * of the same subsystem adds a path; when the backend loses its association, each
 * reconnect attempt goes to the next path in turn. The controller's own params keep its
 * first path; each added path is saved as an attach call of its own, as SPDK's save_config
 * writes them.
 */
import { ConflictError, InvalidArgumentError } from '../errors';
import type { JsonObject, JsonValue } from '../jsonrpc/json';
import type { ConfigEntry, GatewayState } from './state';

export interface PathAddress {
  traddr: string;
  trsvcid: number;
  adrfam?: string;
}

/** What an added path must share with its controller (given or not, the controller's hold). */
const SHARED_FIELDS = ['subnqn', 'hostnqn', 'psk', 'dhchap_key', 'dhchap_ctrlr_key', 'hdgst', 'ddgst'] as const;

/** An attach's path: its params, as given or as saved. */
export function pathOf(params: Readonly<Record<string, JsonValue | undefined>>): PathAddress {
  return {
    traddr: String(params.traddr),
    trsvcid: params.trsvcid === undefined ? 4420 : Number(params.trsvcid),
    ...(params.adrfam === undefined ? {} : { adrfam: String(params.adrfam) }),
  };
}

export function samePath(a: PathAddress, b: PathAddress): boolean {
  return a.traddr === b.traddr && a.trsvcid === b.trsvcid;
}

export function pathText(p: PathAddress): string {
  return p.traddr.includes(':') ? `[${p.traddr}]:${p.trsvcid}` : `${p.traddr}:${p.trsvcid}`;
}

/** Every path of backend `name` as saved: its own first, then those added. */
export function backendPaths(state: GatewayState, name: string): PathAddress[] {
  const params = state.nvmeControllers.get(name);
  return params ? [pathOf(params), ...(state.nvmePaths.get(name) ?? []).map(pathOf)] : [];
}

/**
 * Adds `path` (the params of an attach naming controller `name`) as a failover path. Refused
 * (ERR_INVALID_ARG) when it names another transport, subsystem, host or key than the
 * controller's, and (ERR_ALREADY_EXISTS) when the controller has that path. A backend still
 * pending (not answering since the gateway started) keeps it for its retries.
 */
export function addBackendPath(state: GatewayState, name: string, path: JsonObject): void {
  checkSharedFields(state, name, path, 'a failover path');
  const controller = state.nvmeControllers.get(name)!;
  const at = pathOf(path);
  checkPathFree(state, name, at);
  if (!state.pendingBackends.has(name)) state.target.addNvmeControllerPath(name, at.traddr, at.trsvcid);
  const saved: JsonObject = { name, trtype: String(controller.trtype), traddr: at.traddr, trsvcid: String(at.trsvcid),
    subnqn: String(controller.subnqn), multipath: 'failover' };
  if (at.adrfam !== undefined) saved.adrfam = at.adrfam;
  state.nvmePaths.set(name, [...(state.nvmePaths.get(name) ?? []), saved]);
}

/**
 * Refuses (ERR_ALREADY_EXISTS) an address backend `name` has already: its controller's, a
 * failover path's, or a further controller's (multipath "multipath", attached or pending).
 */
export function checkPathFree(state: GatewayState, name: string, at: PathAddress): void {
  const further = (state.nvmeMultipath.get(name) ?? []).map((m) => pathOf(m.params));
  if ([...backendPaths(state, name), ...further].some((p) => samePath(p, at))) {
    throw new ConflictError('ERR_ALREADY_EXISTS', `A controller named ${name} already exists with the network path ${pathText(at)}`);
  }
}

/** Refuses (ERR_INVALID_ARG) `path`, `what` of controller `name`, when it names another transport, subsystem, host or key. */
export function checkSharedFields(state: GatewayState, name: string, path: JsonObject, what: string): void {
  const controller = state.nvmeControllers.get(name)!;
  if (String(path.trtype).toLowerCase() !== String(controller.trtype).toLowerCase()) {
    throw new InvalidArgumentError(`trtype: ${what} of ${name} has its transport, ${String(controller.trtype)}`);
  }
  for (const field of SHARED_FIELDS) {
    if (path[field] !== undefined && path[field] !== (controller[field] ?? defaultOf(field))) {
      throw new InvalidArgumentError(`${field}: ${what} of ${name} shares the controller's ${field}`);
    }
  }
}

function defaultOf(field: (typeof SHARED_FIELDS)[number]): boolean | undefined {
  return field === 'hdgst' || field === 'ddgst' ? false : undefined;
}

/** A pending backend has just attached through `through`: its other saved paths become its failover paths. */
export function applyBackendPaths(state: GatewayState, name: string, through: PathAddress): void {
  for (const at of backendPaths(state, name)) {
    if (!samePath(at, through)) state.target.addNvmeControllerPath(name, at.traddr, at.trsvcid);
  }
}

/**
 * Removes path `at`, one of backend `name`'s, which has another (its only one goes with a
 * detach). Its first path removed, the next one takes its place in the controller's saved params.
 */
export function removeBackendPath(state: GatewayState, name: string, at: PathAddress): void {
  const params = state.nvmeControllers.get(name)!;
  const added = state.nvmePaths.get(name) ?? [];
  const index = added.findIndex((p) => samePath(pathOf(p), at));
  if (!state.pendingBackends.has(name)) state.target.removeNvmeControllerPath(name, at.traddr, at.trsvcid);
  if (index === -1) {
    // The params object is the one save_config writes for the controller and its bdevs.
    const next = added[0]!;
    delete params.adrfam;
    Object.assign(params, { traddr: next.traddr, trsvcid: next.trsvcid, ...(next.adrfam ? { adrfam: next.adrfam } : {}) });
    added.splice(0, 1);
  } else {
    added.splice(index, 1);
  }
  if (added.length === 0) state.nvmePaths.delete(name);
}

/** save_config's entries for the added paths, after every controller's own. */
export function backendPathEntries(state: GatewayState): ConfigEntry[] {
  return [...state.nvmePaths.values()].flat().map((params) => ({ method: 'bdev_nvme_attach_controller', params }));
}
