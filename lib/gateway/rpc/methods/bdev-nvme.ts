/**
 * Backends: SPDK's bdev_nvme_attach_controller, bdev_nvme_detach_controller and
 * bdev_nvme_get_controllers. A remote NVMe/TCP or NVMe/RDMA controller is attached through
 * rdmagate's host; each of its namespaces becomes a bdev "<name>n<nsid>" that subsystems can
 * export. With psk (a keyring key's name, as SPDK's) an NVMe/TCP backend is reached over TLS.
 * An attach naming an attached controller adds a failover path to it (multipath "failover",
 * SPDK's default; lib/gateway/backend-paths.ts), and a detach naming one of its paths removes it.
 */
import { randomUUID } from 'node:crypto';
import { ConflictError, InvalidArgumentError, NotFoundError, RdmagateError } from '../../../errors';
import { withoutUndefined, type JsonObject } from '../../../jsonrpc/json';
import { defaultHostNqn } from '../../../nvmf/host/options';
import type { BdevInfo, NvmeControllerInfo } from '../../../nvmf/target';
import { applySavedPolicies, attachMember, detachMember, forgetMembers, memberAt, memberAttached, memberKey, multipathMembers, setPolicy } from '../../backend-multipath';
import { addBackendPath, applyBackendPaths, backendPaths, pathOf, pathText, removeBackendPath, samePath, type PathAddress } from '../../backend-paths';
import { dhchapSecrets, explainInvalidKey, pskSecret, type KeyRefs } from '../../keyring';
import type { BdevRecord, ConfigEntry, GatewayState } from '../../state';
import { method, type MethodTable } from '../method';
import * as p from '../params';
import { deleteWhenReleased } from './release';

const NVME_IO_TYPES: Record<string, boolean> = {
  read: true, write: true, unmap: true, flush: true, reset: false, nvme_admin: false, nvme_io: false,
  compare: false, compare_and_write: false, write_zeroes: true, abort: false, zcopy: false,
};

// Reconnect defaults for a gateway: keep trying for a minute, so a backend restart is
// ridden out (SPDK's own defaults never reconnect). The first attempt comes after 100 ms
// and each next one waits twice as long, up to reconnect_delay_sec: a blip costs the
// frontend a fraction of a second, a long outage a try every two seconds.
const DEFAULT_CTRLR_LOSS_SEC = 60;
const DEFAULT_RECONNECT_DELAY_SEC = 2;
const FIRST_RECONNECT_DELAY_SEC = 0.1;
// SQ flow control off by default: a backend read then completes with its last C2HData
// PDU, which halves the PDUs the gateway receives for reads. nvmet-tcp and SPDK (so
// Mayastor) both accept it; `disable_sq_flow_control: false` keeps it on for others.
const DEFAULT_DISABLE_SQ_FLOW = true;

const attachShape = {
  name: p.string({ maxLength: 64 }),
  trtype: p.string(),
  traddr: p.string(),
  adrfam: p.optional(p.string()),
  trsvcid: p.optional(p.portText()),
  subnqn: p.string({ maxLength: 223 }),
  hostnqn: p.optional(p.string({ maxLength: 223 })),
  hdgst: p.optional(p.boolean()),
  ddgst: p.optional(p.boolean()),
  fabrics_connect_timeout_us: p.optional(p.integer(1000, 600_000_000)),
  ctrlr_loss_timeout_sec: p.optional(p.integer(-1, 86400)),
  reconnect_delay_sec: p.optional(p.integer(0, 3600)),
  disable_sq_flow_control: p.optional(p.boolean()),
  // Key names (keyring_file_add_key), as in SPDK: the params, saved as they are, hold no secret.
  // psk: an NVMe/TCP TLS PSK's, with which every queue connects over TLS 1.3.
  psk: p.optional(p.string()),
  dhchap_key: p.optional(p.string()),
  dhchap_ctrlr_key: p.optional(p.string()),
  // What a second attach under the same name does: add a failover path (failover, the default),
  // attach another controller whose namespaces become further paths of the bdevs (multipath),
  // or refuse (disable).
  multipath: p.optional(p.string()),
};

const MULTIPATH_MODES = ['disable', 'failover', 'multipath'] as const;

function multipathMode(given: string | undefined): (typeof MULTIPATH_MODES)[number] {
  const mode = (given ?? 'failover').toLowerCase();
  if (!(MULTIPATH_MODES as readonly string[]).includes(mode)) {
    throw new InvalidArgumentError(`multipath: '${given}' is none of ${MULTIPATH_MODES.join(', ')}`);
  }
  return mode as (typeof MULTIPATH_MODES)[number];
}

function nvmeBdevRecord(b: BdevInfo, createdBy: ConfigEntry): BdevRecord {
  return {
    module: 'nvme',
    productName: 'NVMe disk',
    // The remote namespace's UUID is what hosts must see through the gateway too.
    uuid: b.uuid && !/^0{8}-/.test(b.uuid) ? b.uuid : randomUUID(),
    supportedIoTypes: NVME_IO_TYPES,
    createdBy,
  };
}

function controllerBdevs(state: GatewayState, name: string): string[] {
  return [...state.bdevs.keys()].filter((b) => state.bdevs.get(b)?.module === 'nvme' && b.startsWith(`${name}n`));
}

export const bdevNvmeMethods: MethodTable = {
  bdev_nvme_attach_controller: method(attachShape, { mutates: true }).handle(async (a, ctx) => {
    const { state } = ctx;
    const trtype = a.trtype.toLowerCase();
    if (trtype !== 'tcp' && trtype !== 'rdma') throw new InvalidArgumentError(`trtype: unknown transport '${a.trtype}'`);
    if (a.psk !== undefined && trtype !== 'tcp') throw new InvalidArgumentError(`psk is NVMe/TCP's (TLS): trtype ${a.trtype} has none`);
    const mode = multipathMode(a.multipath);
    const existing = state.nvmeControllers.get(a.name);
    // The same path again for a backend still pending is its retry (or an operator's).
    const retry = existing !== undefined && state.pendingBackends.has(a.name) && samePath(pathOf(existing), pathOf(a));
    if (existing && !retry) {
      if (mode === 'disable') throw new ConflictError('ERR_ALREADY_EXISTS', `A controller named ${a.name} already exists and multipath is disabled`);
      if (mode === 'failover') {
        addBackendPath(state, a.name, withoutUndefined({ ...a, trtype }));
        return controllerBdevs(state, a.name);
      }
    }
    const keys: KeyRefs = { ...state.keyring.dhchapKeys(a), ...state.keyring.tlsPsk(a.psk) };
    const { ctrlLoss, reconnectDelay } = reconnectPolicy(a.ctrlr_loss_timeout_sec, a.reconnect_delay_sec);
    // Saved with the config: a machine without /etc/nvme/hostnqn makes a new one at each
    // start, and a backend that allow-lists the gateway (a Mayastor nexus) would refuse it.
    // A further controller is the same host as the first.
    const hostnqn = a.hostnqn ?? (existing && !retry ? String(existing.hostnqn) : defaultHostNqn());
    const params = withoutUndefined({ ...a, hostnqn });
    const attach = (at: PathAddress, multipath = false) => state.target.attachNvmeController({
      name: a.name,
      transport: trtype,
      traddr: at.traddr,
      trsvcid: at.trsvcid,
      subnqn: a.subnqn,
      hostnqn,
      headerDigest: a.hdgst ?? false,
      dataDigest: a.ddgst ?? false,
      disableSqFlow: a.disable_sq_flow_control ?? DEFAULT_DISABLE_SQ_FLOW,
      ctrlLossTmo: ctrlLoss,
      reconnectDelay,
      firstReconnectDelay: Math.min(FIRST_RECONNECT_DELAY_SEC, reconnectDelay),
      attachTimeoutMs: a.fabrics_connect_timeout_us === undefined ? 30000 : Math.ceil(a.fabrics_connect_timeout_us / 1000),
      ...dhchapSecrets(keys),
      ...pskSecret(keys),
      multipath,
    }).catch((e: unknown) => { throw explainInvalidKey(e, keys); });
    if (existing && !retry) {
      const at = pathOf(a);
      const wasPending = memberAt(state, a.name, at)?.attached === false;
      const bdevs = await attachMember(state, a.name, params, ctx.replaying ?? false,
        { ctrlLossSec: ctrlLoss, reconnectDelaySec: reconnectDelay }, (to) => attach(to, true),
        (e) => UNREACHABLE.has((e as RdmagateError).code));
      // A namespace new to the backend is a bdev of its own. save_config writes it with the
      // backend's own attach (each further controller's is written once, after): a record
      // naming this controller's would outlive the controller, its bdev kept by another path.
      const createdBy: ConfigEntry = { method: 'bdev_nvme_attach_controller', params: existing };
      for (const b of bdevs) if (!state.bdevs.has(b.name)) state.bdevs.set(b.name, nvmeBdevRecord(b, createdBy));
      applySavedPolicies(state, bdevs.map((b) => b.name));
      if (wasPending) await memberAttached(state, a.name, at);
      return bdevs.map((b) => b.name);
    }
    // A pending backend's retry goes through each of its paths until one answers.
    const paths = retry ? backendPaths(state, a.name) : [pathOf(a)];
    const attached = await attachThrough(paths, attach).catch((e: unknown) => {
      // A saved backend that does not answer: the rest of the config is served meanwhile.
      if (!ctx.replaying || !UNREACHABLE.has((e as RdmagateError).code)) throw e;
      state.pendingBackends.add(a.name, params, (e as Error).message, { ctrlLossSec: ctrlLoss, reconnectDelaySec: reconnectDelay });
      state.nvmeControllers.set(a.name, params);
      state.backendKeys.set(a.name, keys);
      return undefined;
    });
    if (!attached) return [];
    const { bdevs, through } = attached;
    // One config entry for the controller and all its bdevs: save_config writes it once.
    const createdBy: ConfigEntry = { method: 'bdev_nvme_attach_controller', params };
    for (const b of bdevs) state.bdevs.set(b.name, nvmeBdevRecord(b, createdBy));
    state.nvmeControllers.set(a.name, createdBy.params);
    state.backendKeys.set(a.name, keys);
    if (retry) applyBackendPaths(state, a.name, through);
    applySavedPolicies(state, bdevs.map((b) => b.name));
    await state.pendingBackends.attached(a.name, (entry) => ctx.replay(entry.method, entry.params));
    return bdevs.map((b) => b.name);
  }),

  // SPDK's: the backend re-authenticates now with the keys named (none: it stops proving
  // itself at its next connect), and its reconnects use them. The saved config names them.
  bdev_nvme_set_keys: method({ name: p.string(), dhchap_key: p.optional(p.string()), dhchap_ctrlr_key: p.optional(p.string()) },
    { mutates: true })
    .handle(async ({ name, ...names }, { state }) => {
      const params = state.nvmeControllers.get(name);
      if (!params) throw new NotFoundError(`No such device: no NVMe controller ${name}`);
      const keys = state.keyring.dhchapKeys(names);
      const applied = () => {
        // The native host took the keys (for its reconnects too), whatever the re-authentication's
        // outcome. The params are the object save_config writes for the controller and its bdevs.
        delete params.dhchap_key;
        delete params.dhchap_ctrlr_key;
        Object.assign(params, withoutUndefined(names));
        // Its TLS PSK is not one of these keys, and stays.
        const psk = state.backendKeys.get(name)?.psk;
        state.backendKeys.set(name, { ...keys, ...(psk ? { psk } : {}) });
      };
      try {
        await state.target.setNvmeControllerKeys(name, dhchapSecrets(keys));
      } catch (e) {
        const code = (e as RdmagateError).code;
        if (code === 'ERR_NVME_AUTH' || code === 'ERR_NVME_DISCONNECTED' || code === 'ERR_NVME_TIMEOUT') applied();
        throw explainInvalidKey(e, keys);
      }
      applied();
      return true;
    }),

  bdev_nvme_detach_controller: method({ name: p.string(), trtype: p.optional(p.string()), traddr: p.optional(p.string()),
    adrfam: p.optional(p.string()), trsvcid: p.optional(p.string()), subnqn: p.optional(p.string()) }, { mutates: true })
    .handle(async ({ name, traddr, trsvcid, adrfam }, { state }) => {
      if (!state.nvmeControllers.has(name)) throw new NotFoundError(`No such device: no NVMe controller ${name}`);
      // A path named: only that path goes, or the controller with its only path (SPDK's rule).
      if (traddr !== undefined) {
        const at = pathOf({ traddr, trsvcid, adrfam });
        const paths = backendPaths(state, name);
        // A further controller, or the first one's only path while a further one is attached.
        const further = multipathMembers(state, name).some((m) => m.attached);
        if (memberAt(state, name, at) || (further && paths.length === 1 && samePath(paths[0]!, at))) {
          detachMember(state, name, at);
          return true;
        }
        if (!paths.some((x) => samePath(x, at))) throw new NotFoundError(`No such device: controller ${name} has no path ${pathText(at)}`);
        if (paths.length > 1) {
          removeBackendPath(state, name, at);
          return true;
        }
      }
      if (state.pendingBackends.has(name)) {
        state.pendingBackends.remove(name);
        forget(state, name);
        return true;
      }
      const bdevs = new Set(controllerBdevs(state, name));
      // ERR_BUSY while a namespace uses one of its bdevs
      await deleteWhenReleased(state.target, (bdev) => bdevs.has(bdev), () => state.target.detachNvmeController(name));
      for (const bdev of bdevs) {
        state.bdevs.delete(bdev);
        state.multipathPolicies.delete(bdev);
      }
      forget(state, name);
      return true;
    }),

  bdev_nvme_get_controllers: method({ name: p.optional(p.string()) }, { mutates: false })
    .handle(({ name }, { state }) => {
      const live = new Map(state.target.nvmeControllers().map((c) => [c.name, c]));
      const names = name === undefined ? [...state.nvmeControllers.keys()] : [name];
      if (name !== undefined && !state.nvmeControllers.has(name)) throw new NotFoundError(`No such device: no NVMe controller ${name}`);
      return names.map((n) => {
        const a = state.nvmeControllers.get(n)!;
        const c = live.get(n);
        const first = c?.controllers[0];
        // As SPDK: trid is the path in use (or tried next), alternate_trids the others.
        const paths = backendPaths(state, n);
        const active = first?.paths.find((x) => x.active);
        const inUse = paths.find((x) => active && samePath(x, active)) ?? paths[0]!;
        const trid = (at: PathAddress): JsonObject => ({ trtype: String(a.trtype).toUpperCase(), adrfam: at.adrfam ?? String(a.adrfam ?? 'IPv4'),
          traddr: at.traddr, trsvcid: String(at.trsvcid), subnqn: String(a.subnqn) });
        const others = paths.filter((x) => x !== inUse);
        const ctrlrs: JsonObject[] = [{ state: first?.state ?? state.pendingBackends.state(n) ?? 'deleting', trid: trid(inUse),
          ...(others.length ? { alternate_trids: others.map(trid) } : {}) }];
        // With multipath mode "multipath", a controller of its own per further path.
        for (const m of multipathMembers(state, n)) {
          const at = pathOf(m.params);
          const own = m.attached ? c?.controllers.find((x) => x.paths.some((y) => samePath(y, at))) : undefined;
          ctrlrs.push({ state: own?.state ?? state.pendingBackends.state(memberKey(n, at)) ?? 'deleting', trid: trid(at) });
        }
        return { name: n, ctrlrs };
      });
    }),

  // How commands go down an NVMe bdev's paths. As SPDK: a selector only for active_active,
  // rr_min_io only for its round_robin.
  bdev_nvme_set_multipath_policy: method({ name: p.string(), policy: p.string(), selector: p.optional(p.string()),
    rr_min_io: p.optional(p.integer(1, 0xffffffff)) }, { mutates: true })
    .handle((a, ctx) => {
      const { state } = ctx;
      if (a.policy !== 'active_passive' && a.policy !== 'active_active') {
        throw new InvalidArgumentError(`policy: '${a.policy}' is neither active_passive nor active_active`);
      }
      if (a.selector !== undefined && a.selector !== 'round_robin' && a.selector !== 'queue_depth') {
        throw new InvalidArgumentError(`selector: '${a.selector}' is neither round_robin nor queue_depth`);
      }
      if (a.selector !== undefined && a.policy !== 'active_active') throw new InvalidArgumentError('selector: only active_active has one');
      if (a.rr_min_io !== undefined && (a.policy !== 'active_active' || (a.selector ?? 'round_robin') !== 'round_robin')) {
        throw new InvalidArgumentError('rr_min_io: only active_active with the round_robin selector has one');
      }
      const params = withoutUndefined({ ...a });
      if (state.bdevs.get(a.name)?.module !== 'nvme') {
        // A replayed config's policy for a backend not attached yet: applied when it is.
        if (!ctx.replaying) throw new NotFoundError(`No such device: no NVMe bdev ${a.name}`);
      } else {
        setPolicy(state, params);
      }
      state.multipathPolicies.set(a.name, params);
      return true;
    }),

  // A reconnect now, whatever ctrlr_loss_timeout_sec says: the way back for a backend that
  // failed. Answers once it is enabled again, or -5 (EIO) when this attempt fails.
  bdev_nvme_reset_controller: method({ name: p.string(), cntlid: p.optional(p.integer(0, 0xffff)) }, { mutates: false })
    .handle(async ({ name }, { state }) => {
      if (!state.nvmeControllers.has(name)) throw new NotFoundError(`No such device: no NVMe controller ${name}`);
      if (state.pendingBackends.has(name)) {
        if (await state.pendingBackends.retryNow(name)) return true;
        throw new RdmagateError('ERR_NVME_CONNECT', `reset of ${name} failed: it does not answer`);
      }
      state.target.resetNvmeController(name);
      const info = await settled(state, name);
      if (info?.state === 'enabled') return true;
      throw new RdmagateError('ERR_NVME_CONNECT', `reset of ${name} failed${info?.reason ? `: ${info.reason}` : ''}`);
    }),
};

/** Backend `name` is detached: what the gateway kept of it goes. */
function forget(state: GatewayState, name: string): void {
  state.nvmeControllers.delete(name);
  state.nvmePaths.delete(name);
  forgetMembers(state, name);
  state.backendKeys.delete(name);
}

/** Attaches through the first of `paths` that answers. */
async function attachThrough(paths: PathAddress[], attach: (at: PathAddress) => Promise<BdevInfo[]>):
    Promise<{ bdevs: BdevInfo[]; through: PathAddress }> {
  let first: unknown;
  for (const at of paths) {
    try {
      return { bdevs: await attach(at), through: at };
    } catch (e) {
      first ??= e;
      if (!UNREACHABLE.has((e as RdmagateError).code)) throw e;
    }
  }
  throw first;
}

/** Why an attach fails when the backend is away rather than wrong. */
const UNREACHABLE = new Set(['ERR_NVME_CONNECT', 'ERR_NVME_TIMEOUT', 'ERR_NVME_DISCONNECTED', 'ERR_NVME_TRANSPORT']);
const RESET_POLL_MS = 20;
const RESET_WAIT_MS = 120_000;

/** Backend `name` once a reset has ended: enabled, failed, or gone (undefined); still resetting after RESET_WAIT_MS. */
async function settled(state: GatewayState, name: string): Promise<NvmeControllerInfo | undefined> {
  const end = Date.now() + RESET_WAIT_MS;
  for (;;) {
    const info = state.target.nvmeControllers().find((c) => c.name === name);
    if (!info || info.state === 'enabled' || info.state === 'failed' || Date.now() >= end) return info;
    await new Promise((r) => setTimeout(r, RESET_POLL_MS));
  }
}

/**
 * SPDK's rules (bdev_nvme_check_io_error_resiliency_params) with the gateway's defaults:
 * reconnect_delay_sec 0 means no reconnect, so it goes with ctrlr_loss_timeout_sec 0 (and
 * alone implies it); otherwise the delay is at least a second and at most the loss timeout.
 * No setting reconnects faster than FIRST_RECONNECT_DELAY_SEC.
 */
function reconnectPolicy(lossSec: number | undefined, delaySec: number | undefined): { ctrlLoss: number; reconnectDelay: number } {
  const ctrlLoss = lossSec ?? (delaySec === 0 ? 0 : DEFAULT_CTRLR_LOSS_SEC);
  if (ctrlLoss === 0) {
    if (delaySec !== undefined && delaySec !== 0) {
      throw new InvalidArgumentError('ctrlr_loss_timeout_sec: 0 means no reconnect, so reconnect_delay_sec must be 0 too');
    }
    return { ctrlLoss, reconnectDelay: 1 };  // never used: nothing reconnects
  }
  if (delaySec === 0) throw new InvalidArgumentError('reconnect_delay_sec: 0 means no reconnect, so ctrlr_loss_timeout_sec must be 0 too');
  const reconnectDelay = delaySec ?? Math.min(DEFAULT_RECONNECT_DELAY_SEC, ctrlLoss === -1 ? Infinity : ctrlLoss);
  if (ctrlLoss > 0 && reconnectDelay > ctrlLoss) {
    throw new InvalidArgumentError(`reconnect_delay_sec (${reconnectDelay}) must be at most ctrlr_loss_timeout_sec (${ctrlLoss})`);
  }
  return { ctrlLoss, reconnectDelay };
}

