/**
 * Exports volumes through the rdmagate gateway's SPDK-style JSON-RPC: one bdev and one
 * subsystem per volume, with the namespace's UUID and NGUID fixed by the volume, and one
 * allowed host per node it is published to. Every step first looks at what is there, so
 * a publish or unpublish interrupted halfway (a controller restart, a lost reply) is
 * finished by the CO's retry rather than failing on "already exists".
 *
 * The bdev is a file bdev `csi_<volume_id>` for a file source, or, for an NVMe-oF source
 * (a Mayastor target), the namespace bdev `csi_<volume_id>n1` of a backend controller
 * named `csi_<volume_id>`: both names derive from the volume, so unexport finds either
 * without a record of which it made.
 *
 * As a member of a gateway group (group-exporter.ts), an exporter makes each subsystem with
 * ANA reporting and the member's own controller ID range, and sets its listener's ANA state
 * as the group asks: see NvmfExporterOptions.ana.
 *
 * A volume that requires DH-HMAC-CHAP has its hosts allowed with keys (nvmf_subsystem_add_host's
 * dhchap_key and dhchap_ctrlr_key), which name keyring entries read from the controller's key
 * files (key-dir.ts): added unless there, swapped in with nvmf_subsystem_set_keys when the host's
 * keys changed, and the host's others taken off the keyring once unused. A host taken off the
 * volume loses its keys after it is off (never before: it would be left allowed with no key).
 * Keys are found by their names' prefix, the volume's and host's, so this needs no record either.
 *
 * A volume that requires NVMe/TCP TLS (ExportSpec.tls) has its one listener on the gateway's TLS
 * address with secure_channel (a TLS listener is a port of its own: NVMe/TCP cannot serve TLS
 * and plain connections on one port), and its hosts allowed with a psk, a keyring entry read
 * from the host's PSK file, as the DH-HMAC-CHAP keys are. A host's PSK cannot be changed in
 * place (nvmf_subsystem_set_keys is DH-HMAC-CHAP's): a host whose PSK changed is taken off and
 * allowed again with the new one.
 */
import { isIP } from 'node:net';
import { KeyringClient } from '../gateway/keyring-client';
import { JsonRpcError, RpcErrorCode, rpcCall, type JsonObject } from '../jsonrpc';
import type { RpcTlsCredentials } from '../jsonrpc/endpoint';
import type { GatewayRpc } from '../jsonrpc/gateway-rpc';
import { failedPrecondition, invalidArgument } from './errors';
import { hostKeyNames, keyNamePrefix, type HostKeys, type KeyFile } from './key-dir';
import { volumeNqn, volumeSerial, VOLUME_NQN_PREFIX, type PublishContext, type Transport } from './parameters';
import type { NvmfBlockSource } from './plugins/plugin';
import type { ExportOptions, ExportSpec, VolumeExporter } from './volume-exporter';

export type { ExportOptions, ExportSpec, VolumeExporter } from './volume-exporter';
export type { GatewayRpc } from '../jsonrpc/gateway-rpc';

/**
 * A GatewayRpc over the gateway's unix socket (or tls://HOST:PORT, with `tls`), with a
 * connection per call, so that a gateway restart costs the calls in flight and nothing
 * after. Like any RpcClient, it refuses a socket not owned by root or this user
 * (ERR_SOCKET_OWNER), and a TLS listener whose certificate the CA did not sign.
 */
export function socketGatewayRpc(socketPath: string, timeoutMs = 30_000, tls?: RpcTlsCredentials): GatewayRpc {
  return { call: (method, params) => rpcCall(socketPath, method, params, { timeoutMs, retries: 2, ...(tls ? { tls } : {}) }) };
}

export interface ListenAddress {
  traddr: string;
  trsvcid: number;
}

/** A listener's ANA state, as the gateway's JSON-RPC names it. */
export type AnaState = 'optimized' | 'non_optimized' | 'inaccessible';

/** A gateway group member's share of the controller IDs (1 to 0xffef): hosts must never see one ID twice. */
export interface CntlidRange {
  min: number;
  max: number;
}

export interface NvmfExporterOptions {
  rpc: GatewayRpc;
  /** Where nodes reach the gateway over NVMe/TCP. Required: every node can use TCP. */
  tcp: ListenAddress;
  /**
   * Where nodes reach it over NVMe/TCP with TLS (a secure-channel listener, for volumes whose
   * StorageClass sets tls): another port than `tcp`'s. Default: tcp's address, its port + 1.
   */
  tls?: ListenAddress;
  /** Where nodes with RDMA reach it; without it, every volume is exported over TCP. */
  rdma?: ListenAddress;
  /**
   * This gateway is a member of a group that exports each volume on every member: its
   * subsystems are made with ana_reporting and this controller ID range, and publish sets
   * the listener's ANA state. Without it: no ANA, the whole ID range (a lone gateway).
   */
  ana?: CntlidRange;
}

export interface PublishOptions extends ExportOptions {
  /** The ANA state of the volume's listener here (exporters with `ana` only); default optimized. */
  anaState?: AnaState;
}

/** A volume's subsystem as this gateway has it. */
export interface VolumeExport {
  volumeId: string;
  hosts: string[];
  /** The transports of its listeners. */
  transports: Transport[];
  anaReporting: boolean;
  /**
   * The keyring entries each host is allowed with ("KEY", "KEY,CTRLR_KEY", then ",psk=PSK"
   * where it has a TLS PSK, or "psk=PSK" alone), by host NQN; hosts without keys are absent.
   */
  hostKeys: Record<string, string>;
}

/** A host of a subsystem as nvmf_get_subsystems lists it: the names of its keys, never a secret. */
interface HostJson {
  nqn: string;
  psk?: string;
  dhchap_key?: string;
  dhchap_ctrlr_key?: string;
}

interface ControllerJson {
  name: string;
  ctrlrs?: { trid?: { traddr?: string; trsvcid?: string; subnqn?: string } }[];
}

interface SubsystemJson {
  nqn: string;
  ana_reporting?: boolean;
  hosts?: HostJson[];
  namespaces?: { nsid: number; bdev_name: string; uuid?: string }[];
  listen_addresses?: { trtype: string; traddr: string; trsvcid: string }[];
}

interface ListenerJson {
  address: { trtype: string; adrfam?: string; traddr: string; trsvcid: string };
  ana_states?: { ana_group: number; ana_state: AnaState }[];
}

const TRTYPE: Record<Transport, string> = { tcp: 'TCP', rdma: 'RDMA' };
/** NVMe's controller IDs: 0xfff0 and up are reserved. */
const CNTLID_MAX = 0xffef;
/** Every volume's model number, on every gateway. */
export const VOLUME_MODEL = 'rdmagate csi volume';

export class NvmfExporter implements VolumeExporter {
  readonly #rpc: GatewayRpc;
  readonly #keyring: KeyringClient;
  readonly #listen: Partial<Record<Transport, ListenAddress>>;
  readonly #tls: ListenAddress | undefined;
  readonly #ana: CntlidRange | undefined;

  constructor(options: NvmfExporterOptions) {
    this.#rpc = options.rpc;
    this.#keyring = new KeyringClient(options.rpc, failedPrecondition);
    this.#listen = { tcp: checkAddress(options.tcp, 'tcp'), ...(options.rdma ? { rdma: checkAddress(options.rdma, 'rdma') } : {}) };
    this.#tls = options.tls ? checkAddress(options.tls, 'tls') : defaultTlsAddress(options.tcp);
    if (this.#tls && this.#tls.traddr === options.tcp.traddr && this.#tls.trsvcid === options.tcp.trsvcid) {
      throw invalidArgument(`the tls listen address must be another port than the tcp one (${options.tcp.traddr}:${options.tcp.trsvcid}): ` +
        'a TLS listener takes only TLS connections');
    }
    if (options.ana) {
      const { min, max } = options.ana;
      if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > CNTLID_MAX || min > max) {
        throw invalidArgument(`the controller ID range must be within [1, ${CNTLID_MAX}], got [${min}, ${max}]`);
      }
      this.#ana = { min, max };
    }
  }

  /** Where nodes reach this gateway over `transport` (NVMe/TCP with TLS: `tls`); undefined when it has no such address. */
  listenAddress(transport: Transport, tls = false): ListenAddress | undefined {
    return tls ? (transport === 'tcp' ? this.#tls : undefined) : this.#listen[transport];
  }

  /** Whether the gateway has an RDMA listen address configured. */
  get hasRdma(): boolean {
    return this.#listen.rdma !== undefined;
  }

  static bdevName(volumeId: string): string {
    return `csi_${volumeId}`;
  }

  /** Exports the volume to `hostnqn` over `transport`; returns what the node needs to connect. */
  async publish(spec: ExportSpec, hostnqn: string, transport: Transport, options: PublishOptions = {}): Promise<PublishContext> {
    const secure = spec.tls === true;
    if (secure && transport !== 'tcp') throw failedPrecondition(`volume ${spec.volumeId} requires NVMe/TCP TLS, and it uses ${transport}`);
    if (secure && !options.keys?.psk) throw failedPrecondition(`volume ${spec.volumeId} requires NVMe/TCP TLS: a host is allowed only with a PSK`);
    const listen = this.listenAddress(transport, secure);
    if (!listen) {
      throw failedPrecondition(secure ? `volume ${spec.volumeId} requires NVMe/TCP TLS, and the gateway has no TLS listen address (its tcp port is 65535)`
        : `the volume uses ${transport}, and the gateway has no ${transport} listen address configured`);
    }
    const nqn = volumeNqn(spec.volumeId);
    const nguid = spec.uuid.replace(/-/g, '');
    await this.#ensureTransport(transport);
    const bdev = await this.#ensureBdev(spec, nqn);
    let sub = await this.#subsystem(nqn);
    if (!sub) {
      await this.#rpc.call('nvmf_create_subsystem', {
        nqn, serial_number: volumeSerial(nguid), model_number: VOLUME_MODEL, allow_any_host: false, max_namespaces: 1,
        ...(this.#ana ? { ana_reporting: true, min_cntlid: this.#ana.min, max_cntlid: this.#ana.max } : {}),
      });
      sub = { nqn, ...(this.#ana ? { ana_reporting: true } : {}) };
    }
    if (!sub.namespaces?.some((n) => n.bdev_name === bdev)) {
      await this.#rpc.call('nvmf_subsystem_add_ns', { nqn, namespace: { bdev_name: bdev, nsid: 1, uuid: spec.uuid, nguid } });
    }
    const trsvcid = String(listen.trsvcid);
    const address = { trtype: TRTYPE[transport], adrfam: isIP(listen.traddr) === 6 ? 'IPv6' : 'IPv4', traddr: listen.traddr, trsvcid };
    const anaState = this.#ana && sub.ana_reporting ? options.anaState ?? 'optimized' : undefined;
    if (!sub.listen_addresses?.some((l) => l.trtype === TRTYPE[transport] && l.traddr === listen.traddr && l.trsvcid === trsvcid)) {
      await this.#rpc.call('nvmf_subsystem_add_listener', { nqn, listen_address: address, ...(secure ? { secure_channel: true } : {}),
        ...(anaState ? { ana_state: anaState } : {}) });
    } else if (anaState) {
      await this.setAnaState(spec.volumeId, anaState);
    }
    await this.#allowHost(nqn, sub, hostnqn, spec.volumeId, options.keys);
    return { transport, traddr: listen.traddr, trsvcid, subnqn: nqn, uuid: spec.uuid, nguid };
  }

  /**
   * Takes `hostnqn` off the volume's subsystem; with no host left, unexports the volume.
   * Resolves true when the gateway no longer serves the volume to anyone.
   */
  async unpublish(volumeId: string, hostnqn: string): Promise<boolean> {
    const nqn = volumeNqn(volumeId);
    const sub = await this.#subsystem(nqn);
    const hosts = (sub?.hosts ?? []).map((h) => h.nqn);
    if (hosts.includes(hostnqn)) await this.#rpc.call('nvmf_subsystem_remove_host', { nqn, host: hostnqn });
    if (hosts.some((h) => h !== hostnqn)) {
      await this.#keyring.removeByPrefix(keyNamePrefix(volumeId, hostnqn), await this.#keyring.names());
      return false;
    }
    // The host's keys go with the volume's, once its subsystem is gone.
    await this.unexport(volumeId);
    return true;
  }

  /**
   * Deletes the volume's subsystem, whoever it still allows, and its bdev (a file bdev is
   * deleted, a backend controller detached), so that the file is closed, or the remote
   * target no longer used, and the volume may be expanded or deleted.
   */
  async unexport(volumeId: string): Promise<void> {
    const nqn = volumeNqn(volumeId);
    if (await this.#subsystem(nqn)) await this.#rpc.call('nvmf_delete_subsystem', { nqn });
    await this.#keyring.removeByPrefix(keyNamePrefix(volumeId), await this.#keyring.names());
    const bdev = NvmfExporter.bdevName(volumeId);
    if (await this.#exists('bdev_get_bdevs', { name: bdev })) {
      await this.#rpc.call('bdev_uring_delete', { name: bdev }).catch(methodMissing('bdev_uring_delete'));
    }
    if (await this.#controller(bdev)) await this.#detach(bdev);
  }

  /** The nodes (host NQNs) each exported volume is published to, by volume_id. */
  async exports(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const [id, e] of await this.volumeExports()) out.set(id, e.hosts);
    return out;
  }

  /** Every volume's subsystem on this gateway, by volume_id. */
  async volumeExports(): Promise<Map<string, VolumeExport>> {
    const list = (await this.#rpc.call('nvmf_get_subsystems')) as unknown as SubsystemJson[];
    const out = new Map<string, VolumeExport>();
    for (const s of list) {
      if (s.nqn.startsWith(VOLUME_NQN_PREFIX)) out.set(s.nqn.slice(VOLUME_NQN_PREFIX.length), volumeExport(s));
    }
    return out;
  }

  /** The volume's subsystem on this gateway, or undefined. */
  async volumeExport(volumeId: string): Promise<VolumeExport | undefined> {
    const s = await this.#subsystem(volumeNqn(volumeId));
    return s ? volumeExport(s) : undefined;
  }

  /** Allows `hostnqn` no more on the volume, and takes its keys off the keyring, leaving the export up (a group member resynced). */
  async removeHost(volumeId: string, hostnqn: string): Promise<void> {
    try {
      await this.#rpc.call('nvmf_subsystem_remove_host', { nqn: volumeNqn(volumeId), host: hostnqn });
    } catch (e) {
      if (!(e instanceof JsonRpcError && e.rpcCode === RpcErrorCode.ENODEV)) throw e;
    }
    await this.#keyring.removeByPrefix(keyNamePrefix(volumeId, hostnqn), await this.#keyring.names());
  }

  /**
   * The ANA state of each of the volume's listeners here (the state of its namespace's
   * group), undefined when the volume is not exported; a listener whose state the gateway
   * does not report (no namespace yet) is left out.
   */
  async anaStates(volumeId: string): Promise<AnaState[] | undefined> {
    let list: ListenerJson[];
    try {
      list = (await this.#rpc.call('nvmf_subsystem_get_listeners', { nqn: volumeNqn(volumeId) })) as unknown as ListenerJson[];
    } catch (e) {
      if (e instanceof JsonRpcError && e.rpcCode === RpcErrorCode.ENODEV) return undefined;
      throw e;
    }
    return list.flatMap((l) => (l.ana_states?.[0] ? [l.ana_states[0].ana_state] : []));
  }

  /**
   * Sets the ANA state of every listener of the volume here (every ANA group), where it is
   * not that already; resolves false when the volume is not exported here.
   */
  async setAnaState(volumeId: string, state: AnaState): Promise<boolean> {
    const nqn = volumeNqn(volumeId);
    let list: ListenerJson[];
    try {
      list = (await this.#rpc.call('nvmf_subsystem_get_listeners', { nqn })) as unknown as ListenerJson[];
    } catch (e) {
      if (e instanceof JsonRpcError && e.rpcCode === RpcErrorCode.ENODEV) return false;
      throw e;
    }
    for (const l of list) {
      if (l.ana_states?.length && l.ana_states.every((g) => g.ana_state === state)) continue;
      const { trtype, traddr, trsvcid } = l.address;
      const listen_address = { trtype, adrfam: l.address.adrfam ?? (isIP(traddr) === 6 ? 'IPv6' : 'IPv4'), traddr, trsvcid };
      await this.#rpc.call('nvmf_subsystem_listener_set_ana_state', { nqn, listen_address, ana_state: state });
    }
    return true;
  }

  /**
   * The volume grew under an export: a file bdev takes the file's new size, and the gateway
   * tells the hosts (a Namespace Attribute Changed notice). A backend controller's bdev
   * follows its storage system's own notice, so there is nothing to do for one here.
   */
  async grown(volumeId: string): Promise<void> {
    const name = NvmfExporter.bdevName(volumeId);
    if (await this.#exists('bdev_get_bdevs', { name })) {
      await this.#rpc.call('bdev_uring_rescan', { name })
        .catch(methodMissing('bdev_uring_rescan', 'tell the hosts that the volume grew until it is unpublished'));
    }
  }

  /** Whether the gateway still serves the volume (to anyone): then it may not be deleted. */
  async isExported(volumeId: string): Promise<boolean> {
    if (await this.#subsystem(volumeNqn(volumeId))) return true;
    const name = NvmfExporter.bdevName(volumeId);
    if (await this.#exists('bdev_get_bdevs', { name })) return true;
    return (await this.#controller(name)) !== undefined;
  }

  /**
   * Puts `hostnqn` on the subsystem's allow list: with `keys`, with them (their keyring entries
   * added first, a host there with other DH-HMAC-CHAP keys given these, one with another PSK
   * allowed again with this one, and its keys of this volume that are no longer used removed);
   * without, as it is.
   */
  async #allowHost(nqn: string, sub: SubsystemJson, hostnqn: string, volumeId: string, keys: HostKeys | undefined): Promise<void> {
    let host = sub.hosts?.find((h) => h.nqn === hostnqn);
    if (!keys) {
      if (!host) await this.#rpc.call('nvmf_subsystem_add_host', { nqn, host: hostnqn });
      return;
    }
    // Listed once: the keys this adds are the ones the removal below keeps.
    const listed = await this.#keyring.names();
    await this.#keyring.add([keys.key, keys.ctrlrKey, keys.psk].filter((k): k is KeyFile => k !== undefined), listed);
    const names = { ...(keys.key ? { dhchap_key: keys.key.name } : {}), ...(keys.ctrlrKey ? { dhchap_ctrlr_key: keys.ctrlrKey.name } : {}) };
    const psk: { psk?: string } = keys.psk ? { psk: keys.psk.name } : {};
    if (host && host.psk !== psk.psk) {
      // No method changes a host's PSK in place: off, and on again with the new one. Its
      // connections drop; it connects again once it has the new PSK (staged again).
      await this.#rpc.call('nvmf_subsystem_remove_host', { nqn, host: hostnqn });
      host = undefined;
    }
    if (!host) {
      await this.#rpc.call('nvmf_subsystem_add_host', { nqn, host: hostnqn, ...(psk.psk ? { psk: psk.psk } : {}), ...names });
    } else if (host.dhchap_key !== names.dhchap_key || host.dhchap_ctrlr_key !== names.dhchap_ctrlr_key) {
      // Connections that authenticated stay; the host's next ones use the new keys.
      await this.#rpc.call('nvmf_subsystem_set_keys', { nqn, host: hostnqn, ...names })
        .catch(methodMissing('nvmf_subsystem_set_keys', 'change the keys of a host of a volume that requires DH-HMAC-CHAP'));
    }
    await this.#keyring.removeByPrefix(keyNamePrefix(volumeId, hostnqn), listed, hostKeyNames(keys));
  }

  /** The bdev the volume's namespace is made of, created (or attached) unless it is there. */
  async #ensureBdev(spec: ExportSpec, nqn: string): Promise<string> {
    const name = NvmfExporter.bdevName(spec.volumeId);
    const source = spec.source;
    if (source.kind === 'file') {
      if (!(await this.#exists('bdev_get_bdevs', { name }))) {
        await this.#rpc.call('bdev_uring_create', { name, filename: source.path, block_size: source.blockSize, uuid: spec.uuid })
          .catch(methodMissing('bdev_uring_create'));
      }
      return name;
    }
    const bdev = `${name}n1`;
    const attached = await this.#controller(name);
    if (attached && !sameTarget(attached, source)) {
      // The backend moved (the storage system republished it elsewhere). Hosts connected
      // through the old one would lose their I/O: only an unused export is re-attached.
      const sub = await this.#subsystem(nqn);
      if ((sub?.hosts ?? []).length > 0) {
        throw failedPrecondition(`volume ${spec.volumeId} is served from ${describe(attached)}, and its source is now ` +
          `${source.traddr}:${source.trsvcid} ${source.subnqn}; unpublish it from every node to move it`);
      }
      if (sub) await this.#rpc.call('nvmf_delete_subsystem', { nqn: sub.nqn });
      await this.#detach(name);
    }
    if (!attached || !sameTarget(attached, source)) {
      const made = await this.#rpc.call('bdev_nvme_attach_controller', {
        name, trtype: source.transport, adrfam: isIP(source.traddr) === 6 ? 'IPv6' : 'IPv4', traddr: source.traddr,
        trsvcid: source.trsvcid, subnqn: source.subnqn,
      }).catch(methodMissing('bdev_nvme_attach_controller'));
      if (Array.isArray(made) && !made.includes(bdev)) {
        await this.#detach(name);
        throw failedPrecondition(`${source.subnqn} at ${source.traddr}:${source.trsvcid} has no namespace 1 (the gateway got ` +
          `${made.length ? made.join(', ') : 'no namespaces'})`);
      }
    }
    return bdev;
  }

  /** The backend controller `name`, or undefined when none is attached. */
  async #controller(name: string): Promise<ControllerJson | undefined> {
    try {
      const list = (await this.#rpc.call('bdev_nvme_get_controllers', { name })) as unknown as ControllerJson[];
      return list[0];
    } catch (e) {
      if (e instanceof JsonRpcError && (e.rpcCode === RpcErrorCode.ENODEV || e.rpcCode === RpcErrorCode.METHOD_NOT_FOUND)) return undefined;
      throw e;
    }
  }

  async #detach(name: string): Promise<void> {
    try {
      await this.#rpc.call('bdev_nvme_detach_controller', { name });
    } catch (e) {
      // Detached in between (a concurrent retry): what was asked is done.
      if (!(e instanceof JsonRpcError && e.rpcCode === RpcErrorCode.ENODEV)) throw e;
    }
  }

  async #subsystem(nqn: string): Promise<SubsystemJson | undefined> {
    try {
      const list = (await this.#rpc.call('nvmf_get_subsystems', { nqn })) as unknown as SubsystemJson[];
      return list[0];
    } catch (e) {
      if (e instanceof JsonRpcError && e.rpcCode === RpcErrorCode.ENODEV) return undefined;
      throw e;
    }
  }

  async #exists(method: string, params: JsonObject): Promise<boolean> {
    try {
      await this.#rpc.call(method, params);
      return true;
    } catch (e) {
      if (e instanceof JsonRpcError && e.rpcCode === RpcErrorCode.ENODEV) return false;
      throw e;
    }
  }

  async #ensureTransport(transport: Transport): Promise<void> {
    if (await this.#exists('nvmf_get_transports', { trtype: TRTYPE[transport] })) return;
    try {
      await this.#rpc.call('nvmf_create_transport', { trtype: TRTYPE[transport] });
    } catch (e) {
      // Another publish created it in between.
      if (!(e instanceof JsonRpcError && e.rpcCode === RpcErrorCode.EEXIST)) throw e;
    }
  }
}

function volumeExport(s: SubsystemJson): VolumeExport {
  const transports = (s.listen_addresses ?? []).map((l) => l.trtype.toLowerCase()).filter((t): t is Transport => t === 'tcp' || t === 'rdma');
  const hostKeys: Record<string, string> = {};
  for (const h of s.hosts ?? []) {
    const names = [...(h.dhchap_key ? [h.dhchap_key] : []), ...(h.dhchap_ctrlr_key ? [h.dhchap_ctrlr_key] : []), ...(h.psk ? [`psk=${h.psk}`] : [])];
    if (names.length > 0) hostKeys[h.nqn] = names.join(',');
  }
  return { volumeId: s.nqn.slice(VOLUME_NQN_PREFIX.length), hosts: (s.hosts ?? []).map((h) => h.nqn), transports: [...new Set(transports)],
    anaReporting: s.ana_reporting === true, hostKeys };
}

/** The TLS address where none is given: the TCP address, the next port (none after 65535). */
function defaultTlsAddress(tcp: ListenAddress): ListenAddress | undefined {
  return tcp && tcp.trsvcid < 65535 ? { traddr: tcp.traddr, trsvcid: tcp.trsvcid + 1 } : undefined;
}

function checkAddress(a: ListenAddress, transport: Transport | 'tls'): ListenAddress {
  if (!a || isIP(a.traddr) === 0) throw invalidArgument(`the ${transport} listen address must be a numeric IP address, got ${JSON.stringify(a?.traddr)}`);
  if (!Number.isInteger(a.trsvcid) || a.trsvcid < 1 || a.trsvcid > 65535) throw invalidArgument(`the ${transport} listen port must be in [1, 65535]`);
  return a;
}

/** A gateway without `method` (an older one) is FAILED_PRECONDITION, saying what it cannot do. */
export function methodMissing(method: string, cannot?: string): (e: unknown) => never {
  return (e) => {
    if (e instanceof JsonRpcError && e.rpcCode === RpcErrorCode.METHOD_NOT_FOUND) {
      const what = cannot ?? `serve ${method.startsWith('bdev_nvme') ? 'volumes backed by a remote NVMe-oF target' : 'file-backed volumes'}`;
      throw failedPrecondition(`the gateway has no ${method} method: it cannot ${what}`);
    }
    throw e;
  };
}

function sameTarget(c: ControllerJson, s: NvmfBlockSource): boolean {
  const t = c.ctrlrs?.[0]?.trid;
  return t?.traddr === s.traddr && t?.trsvcid === s.trsvcid && t?.subnqn === s.subnqn;
}

function describe(c: ControllerJson): string {
  const t = c.ctrlrs?.[0]?.trid;
  return t ? `${t.traddr}:${t.trsvcid} ${t.subnqn}` : `controller ${c.name}`;
}
