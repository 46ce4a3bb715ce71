/**
 * NVMe-oF target: SPDK's nvmf_* methods over the Target API. Subsystems made here are
 * reachable only on their own listeners, as SPDK's are. NVMe/TCP TLS as SPDK has it: a
 * listener with secure_channel, a host with a psk (a keyring key's name).
 */
import { isIP } from 'node:net';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../../../errors';
import { withoutUndefined, type JsonObject } from '../../../jsonrpc/json';
import * as rdma from '../../../rdma';
import { DHCHAP_DEFAULT_DHGROUPS, DHCHAP_DEFAULT_DIGESTS } from '../../../nvmf/dhchap';
import {
  ANA_STATES, Listener, type ListenerInfo, type QpairInfo, type Subsystem, type SubsystemInfo, type TransportType,
} from '../../../nvmf/target';
import { dhchapSecrets, explainInvalidKey, keyNames, pskSecret, type KeyRefs } from '../../keyring';
import { hostKeysId, listenerKey, type ConfigEntry, type GatewayState, type TargetLimits } from '../../state';
import { method, type MethodTable } from '../method';
import * as p from '../params';

export const TRTYPES = ['TCP', 'RDMA'] as const;
type Trtype = (typeof TRTYPES)[number];
export const toTransport = (t: Trtype): TransportType => (t === 'TCP' ? 'tcp' : 'rdma');
const toTrtype = (t: TransportType): Trtype => (t === 'tcp' ? 'TCP' : 'RDMA');

export const NQN = p.string({ maxLength: 223 });
export const NSID_MAX = 0xfffffffe;

export const listenAddress = p.object({
  trtype: p.oneOf(TRTYPES),
  adrfam: p.optional(p.oneOf(['IPv4', 'IPv6'] as const)),
  traddr: p.string(),
  trsvcid: p.port(),
});
type ListenAddress = ReturnType<typeof listenAddress>;

export function subsystemOf(state: GatewayState, nqn: string): Subsystem {
  const s = state.target.subsystem(nqn);
  if (!s) throw new NotFoundError(`No such device: no subsystem ${nqn}`);
  return s;
}

export function addressText(l: { trtype: Trtype; traddr: string; trsvcid: number }): string {
  return `${l.trtype} ${l.traddr}:${l.trsvcid}`;
}

/** Checks a listen address against its transport and address family. */
function checkListenAddress(state: GatewayState, la: ListenAddress): void {
  if (!state.transports.has(toTransport(la.trtype))) {
    // SPDK answers Invalid Parameters when the transport was not created first.
    throw new InvalidArgumentError(`transport ${la.trtype} does not exist: create it first with nvmf_create_transport`);
  }
  const family = isIP(la.traddr);
  if (family === 0) throw new InvalidArgumentError(`listen_address.traddr must be an IPv4 or IPv6 address, got "${la.traddr}"`);
  if (la.adrfam !== undefined && la.adrfam !== `IPv${family}`) {
    throw new InvalidArgumentError(`listen_address.adrfam is ${la.adrfam}, but traddr ${la.traddr} is an IPv${family} address`);
  }
}

export const sameAddress = (la: ListenAddress) => (l: ListenerInfo) =>
  l.trtype === toTransport(la.trtype) && l.traddr === la.traddr && l.trsvcid === la.trsvcid;

/** Closes the listeners the gateway opened that no subsystem uses any more, freeing their ports. */
function closeUnusedListeners(state: GatewayState): void {
  const used = new Set(state.target.subsystems().flatMap((s) => s.listeners.map((l) => listenerKey(l.trtype, l.traddr, l.trsvcid))));
  for (const l of state.target.listeners()) {
    const key = listenerKey(l.trtype, l.traddr, l.trsvcid);
    if (state.ownedListeners.has(key) && !used.has(key)) {
      // A Listener over the Target's info is how the Target closes a listener by address.
      new Listener(state.target, l).close();
      state.ownedListeners.delete(key);
    }
  }
}

export function listenAddressJson(l: ListenerInfo): JsonObject {
  return { trtype: toTrtype(l.trtype), adrfam: l.adrfam, traddr: l.traddr, trsvcid: String(l.trsvcid) };
}

/**
 * SPDK's secure_channel of a listener (NVMe/TCP TLS required), as nvmf_get_subsystems,
 * nvmf_subsystem_get_listeners and save_config carry it: only where it is true, so that
 * what other listeners show is what it was before TLS.
 */
export function secureChannelJson(l: ListenerInfo): { secure_channel?: true } {
  return l.secureChannel ? { secure_channel: true } : {};
}

/** A qpair's peer ("10.0.0.1:4420" or "[fe80::1]:4420") as SPDK's peer_address. */
function peerAddressJson(q: QpairInfo): JsonObject | undefined {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(q.peer);
  if (!m) return undefined;
  return { trtype: toTrtype(q.transport), adrfam: isIP(m[1]) === 6 ? 'IPv6' : 'IPv4', traddr: m[1], trsvcid: m[2] };
}

/** A host of a subsystem as nvmf_get_subsystems and save_config show it: the names of its keys (psk too), never a secret. */
function hostJson(state: GatewayState, nqn: string, host: string): { nqn: string; psk?: string; dhchap_key?: string; dhchap_ctrlr_key?: string } {
  return { nqn: host, ...keyNames(state.hostKeys.get(hostKeysId(nqn, host))) };
}

/** Remembers the keys host `host` of `nqn` holds, for save_config and the keyring's counts; none: forgotten. */
export function setHostKeyRefs(state: GatewayState, nqn: string, host: string, refs: KeyRefs): void {
  if (refs.dhchapKey || refs.psk) state.hostKeys.set(hostKeysId(nqn, host), refs);
  else state.hostKeys.delete(hostKeysId(nqn, host));
}

function subsystemJson(state: GatewayState, s: SubsystemInfo): JsonObject {
  const common = {
    nqn: s.nqn,
    subtype: s.subtype,
    listen_addresses: s.listeners.map((l) => ({ ...listenAddressJson(l), ...secureChannelJson(l) })),
    allow_any_host: s.allowAnyHost,
    hosts: s.hosts.map((h) => hostJson(state, s.nqn, h)),
  };
  if (s.subtype === 'Discovery') return common;
  return {
    ...common,
    serial_number: s.serialNumber,
    model_number: s.modelNumber,
    max_namespaces: s.maxNamespaces,
    min_cntlid: s.minCntlid,
    max_cntlid: s.maxCntlid,
    ana_reporting: s.anaReporting,
    namespaces: s.namespaces.map((n) => ({
      nsid: n.nsid, bdev_name: n.bdevName, name: n.bdevName, nguid: n.nguid.toUpperCase(), uuid: n.uuid, anagrpid: n.anagrpid,
    })),
  };
}

/** An nvmf_subsystem_add_ns namespace as save_config writes it, in one key order. */
function namespaceJson(ns: { nsid?: number; bdev_name: string; nguid?: string; uuid?: string; anagrpid?: number }): JsonObject {
  return withoutUndefined({ nsid: ns.nsid, bdev_name: ns.bdev_name, nguid: ns.nguid, uuid: ns.uuid, anagrpid: ns.anagrpid });
}

/** The listeners' ANA states that are not the default (optimized), as the calls that set them. */
function anaStateConfig(s: SubsystemInfo): ConfigEntry[] {
  const out: ConfigEntry[] = [];
  for (const l of s.listeners) {
    const listen_address = listenAddressJson(l);
    if (l.anaState && l.anaState !== 'optimized') {
      out.push({ method: 'nvmf_subsystem_listener_set_ana_state', params: { nqn: s.nqn, listen_address, ana_state: l.anaState } });
    }
    for (const g of l.anaStates ?? []) {
      if (g.state === l.anaState) continue;
      out.push({ method: 'nvmf_subsystem_listener_set_ana_state',
        params: { nqn: s.nqn, listen_address, ana_state: g.state, anagrpid: g.anagrpid } });
    }
  }
  return out;
}

/** The transport params the Target has; every transport shares them. */
function transportParams(state: GatewayState, trtype: Trtype): JsonObject {
  const l = state.limits;
  return {
    trtype,
    max_queue_depth: l.maxQueueDepth,
    max_io_qpairs_per_ctrlr: l.maxIoQueues,
    in_capsule_data_size: l.inCapsuleDataSize,
    max_io_size: l.maxIoSize,
    // Data buffers are one max_io_size chunk each, so that is the unit of allocation.
    io_unit_size: l.maxIoSize,
  };
}

/**
 * How many max_io_size data buffers the Target's pool holds at most: it grows by regions
 * of max(2 MiB, max_io_size), as many as fit in bufferPoolBytes (one at least).
 */
function sharedBuffers(l: TargetLimits): number {
  const region = Math.max(2 << 20, l.maxIoSize);
  return Math.max(1, Math.floor(l.bufferPoolBytes / region)) * Math.floor(region / l.maxIoSize);
}

/**
 * The Target's limits are fixed when the gateway starts (TargetOptions). A transport
 * asking for other values cannot have them: a host would be told the Target's values, so
 * a smaller one would not hold either.
 */
function mustMatch(param: string, asked: number | undefined, actual: number, option: string): void {
  if (asked !== undefined && asked !== actual) {
    throw new InvalidArgumentError(`${param} ${asked} cannot be honoured: this target serves ${actual} ` +
      `(TargetOptions.${option}, fixed when the gateway starts)`);
  }
}

/**
 * The nvmf section of save_config: the target's DH-HMAC-CHAP settings where they are not the
 * defaults, transports, then each subsystem with its listeners, hosts (their keys by name)
 * and namespaces.
 */
export function nvmfConfig(state: GatewayState): ConfigEntry[] {
  const out: ConfigEntry[] = [];
  const dhchap = state.target.dhchapConfig();
  // Written only where it is not the default, so that other configs stay as they were.
  const same = (a: readonly string[], b: readonly string[]) => a.join() === b.join();
  if (!same(dhchap.digests, DHCHAP_DEFAULT_DIGESTS) || !same(dhchap.dhgroups, DHCHAP_DEFAULT_DHGROUPS)) {
    out.push({ method: 'nvmf_set_config', params: { dhchap_digests: dhchap.digests, dhchap_dhgroups: dhchap.dhgroups } });
  }
  out.push(...[...state.transports.values()].map((t) => ({ method: 'nvmf_create_transport', params: t.params })));
  for (const s of state.target.subsystems()) {
    if (s.subtype !== 'NVMe') continue;
    const nqn = s.nqn;
    out.push({ method: 'nvmf_create_subsystem', params: {
      nqn, serial_number: s.serialNumber, model_number: s.modelNumber, max_namespaces: s.maxNamespaces,
      allow_any_host: s.allowAnyHost,
      // Written only where they differ from the defaults, so that other configs stay as they were.
      ...(s.anaReporting ? { ana_reporting: true } : {}),
      ...(s.minCntlid !== 1 || s.maxCntlid !== 0xffef ? { min_cntlid: s.minCntlid, max_cntlid: s.maxCntlid } : {}),
    } });
    for (const l of s.listeners) {
      out.push({ method: 'nvmf_subsystem_add_listener', params: { nqn, listen_address: listenAddressJson(l), ...secureChannelJson(l) } });
    }
    for (const host of s.hosts) {
      const { nqn: _, ...keys } = hostJson(state, nqn, host);
      out.push({ method: 'nvmf_subsystem_add_host', params: { nqn, host, ...keys } });
    }
    for (const n of s.namespaces) {
      const namespace = namespaceJson({ nsid: n.nsid, bdev_name: n.bdevName, nguid: n.nguid, uuid: n.uuid,
        anagrpid: n.anagrpid === n.nsid ? undefined : n.anagrpid });
      out.push({ method: 'nvmf_subsystem_add_ns', params: { nqn, namespace } });
    }
    out.push(...anaStateConfig(s));
    out.push(...state.pendingBackends.namespaceEntries(nqn));
  }
  return out;
}

export const nvmfMethods: MethodTable = {
  nvmf_create_transport: method({
    trtype: p.oneOf(TRTYPES),
    max_queue_depth: p.optional(p.integer(1, 65535)),
    max_io_qpairs_per_ctrlr: p.optional(p.integer(1, 65535)),
    in_capsule_data_size: p.optional(p.integer(0, 0xffffffff)),
    max_io_size: p.optional(p.integer(1, 0xffffffff)),
    // Deprecated in SPDK and invisible to hosts: any unit up to max_io_size is accepted.
    io_unit_size: p.optional(p.integer(512, 0xffffffff)),
    num_shared_buffers: p.optional(p.integer(1, 0xffffffff)),
  }, { mutates: true })
    .handle((a, { state }) => {
      const l = state.limits;
      if (state.transports.has(toTransport(a.trtype))) {
        throw new ConflictError('ERR_ALREADY_EXISTS', `Transport type '${a.trtype}' already exists`);
      }
      mustMatch('max_queue_depth', a.max_queue_depth, l.maxQueueDepth, 'maxQueueDepth');
      mustMatch('max_io_qpairs_per_ctrlr', a.max_io_qpairs_per_ctrlr, l.maxIoQueues, 'maxIoQueues');
      mustMatch('in_capsule_data_size', a.in_capsule_data_size, l.inCapsuleDataSize, 'inCapsuleDataSize');
      mustMatch('max_io_size', a.max_io_size, l.maxIoSize, 'maxIoSize');
      if (a.io_unit_size !== undefined && a.io_unit_size > l.maxIoSize) {
        throw new InvalidArgumentError(`io_unit_size ${a.io_unit_size} is larger than max_io_size ${l.maxIoSize}`);
      }
      // SPDK's pool is num_shared_buffers x io_unit_size bytes; ours must hold as much.
      const asked = (a.num_shared_buffers ?? 0) * (a.io_unit_size ?? l.maxIoSize);
      if (asked > sharedBuffers(l) * l.maxIoSize) {
        throw new InvalidArgumentError(`num_shared_buffers ${a.num_shared_buffers} cannot be honoured: this target's ` +
          `pool holds ${sharedBuffers(l)} buffers of ${l.maxIoSize} bytes (TargetOptions.bufferPoolBytes, fixed when the gateway starts)`);
      }
      if (a.trtype === 'RDMA') rdma.requireRdma(); // RdmaUnavailableError: -95
      state.transports.set(toTransport(a.trtype), { trtype: a.trtype, params: transportParams(state, a.trtype) });
      return true;
    }),
  nvmf_get_transports: method({ trtype: p.optional(p.oneOf(TRTYPES)) }, { mutates: false })
    .handle(({ trtype }, { state }) => {
      const list = [...state.transports.values()].filter((t) => trtype === undefined || t.trtype === trtype);
      if (trtype !== undefined && list.length === 0) throw new NotFoundError(`No such device: transport ${trtype} does not exist`);
      // The pool's size is reported, not saved: a gateway restarted with another pool
      // still loads its config.
      return list.map((t) => ({ ...t.params, num_shared_buffers: sharedBuffers(state.limits) }));
    }),
  nvmf_create_subsystem: method({
    nqn: NQN,
    serial_number: p.optional(p.string({ maxLength: 20 })),
    model_number: p.optional(p.string({ maxLength: 40 })),
    allow_any_host: p.optional(p.boolean()),
    max_namespaces: p.optional(p.integer(1, 1024)),
    ana_reporting: p.optional(p.boolean()),
    min_cntlid: p.optional(p.integer(1, 0xffef)),
    max_cntlid: p.optional(p.integer(1, 0xffef)),
  }, { mutates: true })
    .handle((a, { state }) => {
      const s = state.target.addSubsystem({
        nqn: a.nqn, serialNumber: a.serial_number, modelNumber: a.model_number, maxNamespaces: a.max_namespaces,
        anaReporting: a.ana_reporting, minCntlid: a.min_cntlid, maxCntlid: a.max_cntlid,
        // SPDK's default: only the hosts added with nvmf_subsystem_add_host.
        allowAnyHost: a.allow_any_host ?? false,
      });
      s.allowAnyListener(false);
      return true;
    }),
  nvmf_delete_subsystem: method({ nqn: NQN }, { mutates: true })
    .handle(({ nqn }, { state }) => {
      const hosts = subsystemOf(state, nqn).info().hosts;
      state.target.removeSubsystem(nqn);
      for (const host of hosts) state.hostKeys.delete(hostKeysId(nqn, host));
      closeUnusedListeners(state);
      return true;
    }),
  nvmf_get_subsystems: method({ nqn: p.optional(NQN) }, { mutates: false })
    .handle(({ nqn }, { state }) => {
      const list = state.target.subsystems().filter((s) => nqn === undefined || s.nqn === nqn);
      if (nqn !== undefined && list.length === 0) throw new NotFoundError(`No such device: no subsystem ${nqn}`);
      return list.map((s) => subsystemJson(state, s));
    }),
  // secure_channel: NVMe/TCP TLS required on this listener (SPDK's -k/--secure-channel). A
  // listener that other subsystems share has one setting: asking for the other is -17.
  nvmf_subsystem_add_listener: method({ nqn: NQN, listen_address: listenAddress, secure_channel: p.optional(p.boolean()),
    ana_state: p.optional(p.oneOf(ANA_STATES)) }, { mutates: true })
    .handle(({ nqn, listen_address: la, secure_channel, ana_state }, { state }) => {
      const s = subsystemOf(state, nqn);
      if (secure_channel && la.trtype !== 'TCP') {
        throw new InvalidArgumentError(`secure_channel is NVMe/TCP's (TLS): a ${la.trtype} listener has none`);
      }
      checkListenAddress(state, la);
      if (ana_state !== undefined && !s.info().anaReporting) throw new InvalidArgumentError(`${nqn} was made without ana_reporting`);
      if (s.info().listeners.some(sameAddress(la))) {
        throw new ConflictError('ERR_ALREADY_EXISTS', `${nqn} already has listener ${addressText(la)}`);
      }
      const existed = state.target.listeners().some(sameAddress(la));
      const listener = { transport: toTransport(la.trtype), address: la.traddr, port: la.trsvcid };
      s.addListener({ ...listener, secureChannel: secure_channel ?? false });
      if (!existed) state.ownedListeners.add(listenerKey(toTransport(la.trtype), la.traddr, la.trsvcid));
      if (ana_state !== undefined) s.setListenerAnaState(listener, ana_state);
      return true;
    }),
  nvmf_subsystem_remove_listener: method({ nqn: NQN, listen_address: listenAddress }, { mutates: true })
    .handle(({ nqn, listen_address: la }, { state }) => {
      const s = subsystemOf(state, nqn);
      if (!s.info().listeners.some(sameAddress(la))) {
        throw new NotFoundError(`No such device: ${nqn} has no listener ${addressText(la)}`);
      }
      s.removeListener({ transport: toTransport(la.trtype), address: la.traddr, port: la.trsvcid });
      closeUnusedListeners(state);
      return true;
    }),
  nvmf_subsystem_add_ns: method({
    nqn: NQN,
    namespace: p.object({
      bdev_name: p.string(),
      // 0 asks for the lowest free nsid, as leaving it out does (SPDK).
      nsid: p.optional(p.integer(0, NSID_MAX)),
      nguid: p.optional(p.string()),
      uuid: p.optional(p.uuid()),
      anagrpid: p.optional(p.integer(1, NSID_MAX)),
    }),
  }, { mutates: true })
    .handle(({ nqn, namespace: ns }, { state, replaying }) => {
      const s = subsystemOf(state, nqn);
      // A saved namespace of a backend not attached yet waits for it (pending-backends.ts).
      const waitsFor = replaying && !state.bdevs.has(ns.bdev_name) ? state.pendingBackends.ownerOf(ns.bdev_name) : undefined;
      if (waitsFor !== undefined) {
        state.pendingBackends.defer(waitsFor, { method: 'nvmf_subsystem_add_ns', params: { nqn, namespace: namespaceJson(ns) } });
        return ns.nsid ?? 0;
      }
      for (const other of state.target.subsystems()) {
        const user = other.namespaces.find((n) => n.bdevName === ns.bdev_name);
        if (user) throw new ConflictError('ERR_BUSY', `bdev ${ns.bdev_name} is already claimed by ${other.nqn} nsid ${user.nsid}`);
      }
      // As SPDK: the namespace's UUID defaults to the bdev's, and its NGUID to the same 16 bytes.
      const uuid = ns.uuid ?? state.bdevs.get(ns.bdev_name)?.uuid;
      const nguid = ns.nguid ?? uuid?.replace(/-/g, '');
      return s.addNamespace({ bdev: ns.bdev_name, nsid: ns.nsid || undefined, nguid, uuid, anagrpid: ns.anagrpid }).nsid;
    }),
  nvmf_subsystem_remove_ns: method({ nqn: NQN, nsid: p.integer(1, NSID_MAX) }, { mutates: true })
    .handle(({ nqn, nsid }, { state }) => {
      subsystemOf(state, nqn).removeNamespace(nsid);
      return true;
    }),
  // The keys are named (keyring_file_add_key), as in SPDK: no secret travels in params. With
  // psk the host may connect through secure_channel listeners (NVMe/TCP TLS), with a TLS PSK
  // derived from that key for it and this subsystem.
  nvmf_subsystem_add_host: method({
    nqn: NQN, host: NQN, psk: p.optional(p.string()), dhchap_key: p.optional(p.string()), dhchap_ctrlr_key: p.optional(p.string()),
  }, { mutates: true })
    .handle(({ nqn, host, psk, ...names }, { state }) => {
      const s = subsystemOf(state, nqn);
      if (s.info().hosts.includes(host)) throw new ConflictError('ERR_ALREADY_EXISTS', `${host} is already allowed on ${nqn}`);
      const keys: KeyRefs = { ...state.keyring.dhchapKeys(names), ...state.keyring.tlsPsk(psk) };
      try {
        s.addHost({ nqn: host, ...dhchapSecrets(keys), ...pskSecret(keys) });
      } catch (e) {
        throw explainInvalidKey(e, keys);
      }
      setHostKeyRefs(state, nqn, host, keys);
      return true;
    }),
  nvmf_subsystem_remove_host: method({ nqn: NQN, host: NQN }, { mutates: true })
    .handle(({ nqn, host }, { state }) => {
      const s = subsystemOf(state, nqn);
      if (!s.info().hosts.includes(host)) throw new NotFoundError(`No such device: ${host} is not on the host list of ${nqn}`);
      s.removeHost(host);
      state.hostKeys.delete(hostKeysId(nqn, host));
      return true;
    }),
  nvmf_subsystem_allow_any_host: method({ nqn: NQN, allow_any_host: p.boolean() }, { mutates: true })
    .handle(({ nqn, allow_any_host }, { state }) => {
      subsystemOf(state, nqn).allowAnyHost(allow_any_host);
      return true;
    }),
  nvmf_subsystem_get_controllers: method({ nqn: NQN }, { mutates: false })
    .handle(({ nqn }, { state }) => {
      subsystemOf(state, nqn);
      const qpairs = state.target.qpairs();
      return state.target.controllers().filter((c) => c.subnqn === nqn).map((c) => ({
        cntlid: c.cntlid,
        hostnqn: c.hostnqn,
        num_io_qpairs: qpairs.filter((q) => q.cntlid === c.cntlid && q.qid > 0).length,
      }));
    }),
  nvmf_subsystem_get_qpairs: method({ nqn: NQN }, { mutates: false })
    .handle(({ nqn }, { state }) => {
      subsystemOf(state, nqn);
      const controllers = new Map(state.target.controllers().filter((c) => c.subnqn === nqn).map((c) => [c.cntlid, c]));
      // The Target lists only qpairs that completed Connect and belong to a live controller.
      // It does not say which listener a qpair came in through, so there is no listen_address.
      return state.target.qpairs().filter((q) => controllers.has(q.cntlid)).map((q) => {
        const peer = peerAddressJson(q);
        return {
          cntlid: q.cntlid, qid: q.qid, state: 'active', hostnqn: controllers.get(q.cntlid)!.hostnqn,
          ...(peer ? { peer_address: peer } : {}),
          // SPDK's shape: state, digest and dhgroup of the queue's DH-HMAC-CHAP.
          ...(q.auth ? { auth: { state: q.auth.state, ...(q.auth.digest ? { digest: q.auth.digest, dhgroup: q.auth.dhgroup } : {}) } } : {}),
        };
      });
    }),
  nvmf_get_stats: method({}, { mutates: false })
    .handle((_, { state }) => {
      // The Target counts per qpair, not per reactor, and forgets a qpair's counters when
      // it disconnects: one poll group for all reactors, over the connected qpairs only.
      // No tick_rate: nothing here is measured in ticks.
      const qpairs = state.target.qpairs();
      const trtypes = new Set<TransportType>([...state.transports.keys(), ...qpairs.map((q) => q.transport)]);
      const sum = (list: QpairInfo[], f: (q: QpairInfo) => number) => list.reduce((n, q) => n + f(q), 0);
      return {
        poll_groups: [{
          name: 'all_reactors',
          current_admin_qpairs: qpairs.filter((q) => q.qid === 0).length,
          current_io_qpairs: qpairs.filter((q) => q.qid > 0).length,
          transports: [...trtypes].map((t) => {
            const list = qpairs.filter((q) => q.transport === t);
            return {
              trtype: toTrtype(t),
              // rdmagate's own counters, beyond SPDK's fields.
              commands: sum(list, (q) => q.commands),
              errors: sum(list, (q) => q.errors),
              bytes_read: sum(list, (q) => q.bytesRead),
              bytes_written: sum(list, (q) => q.bytesWritten),
              in_capsule_bytes: sum(list, (q) => q.inCapsuleBytes),
              rdma_read_bytes: sum(list, (q) => q.rdmaReadBytes),
              rdma_write_bytes: sum(list, (q) => q.rdmaWriteBytes),
              bytes_copied: sum(list, (q) => q.bytesCopied),
              pool_exhausted: sum(list, (q) => q.poolExhausted),
            };
          }),
        }],
      };
    }),
};
