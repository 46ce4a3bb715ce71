/**
 * StorageClass parameters, volume_context and publish_context: the strings the CO carries
 * between our controller and our nodes. Parsed and checked here, once, for both sides.
 */
import { invalidArgument } from './errors';
import type { StringMap } from './types';

export type Transport = 'tcp' | 'rdma';
export type FsType = 'ext4' | 'xfs';
/**
 * How a DPU node (role dpu) hands the volume to its host: `aio` puts the block device the
 * DPU connected to behind the host-facing NVMe function; `nvmf` has the DPU's storage
 * stack connect to the gateway itself (the OPI storage API bridge).
 */
export type ConnectionMode = 'aio' | 'nvmf';
/**
 * Whether a volume's host must authenticate (DH-HMAC-CHAP, dhchap-secrets.ts): `unidirectional`
 * the host proves it knows its key; `bidirectional` the gateway proves its own too. Unset: no
 * authentication, as before.
 */
export type DhchapMode = 'unidirectional' | 'bidirectional';

export const FS_TYPES: readonly FsType[] = ['ext4', 'xfs'];
export const CONNECTION_MODES: readonly ConnectionMode[] = ['aio', 'nvmf'];
export const DHCHAP_MODES: readonly DhchapMode[] = ['unidirectional', 'bidirectional'];
/** The topology key each node reports: whether it has an active RDMA port. */
export const RDMA_TOPOLOGY_KEY = 'rdmagate.io/rdma';
/** Every volume's subsystem NQN is this followed by its volume_id. */
export const VOLUME_NQN_PREFIX = 'nqn.2026-11.io.rdmagate:vol:';

export function volumeNqn(volumeId: string): string {
  return VOLUME_NQN_PREFIX + volumeId;
}

/** The volume_id of a volume's subsystem NQN; undefined for any other NQN. */
export function volumeIdOfNqn(nqn: string): string | undefined {
  return nqn.startsWith(VOLUME_NQN_PREFIX) && nqn.length > VOLUME_NQN_PREFIX.length ? nqn.slice(VOLUME_NQN_PREFIX.length) : undefined;
}

/**
 * The serial number that goes with a volume's NGUID (20 characters, NVMe's and
 * virtio-blk's limit): the gateway's subsystem serial, and what a host matches a disk by
 * where the disk reports no NGUID or UUID of its own.
 */
export function volumeSerial(nguid: string): string {
  return `RG${nguid.slice(0, 18)}`;
}

/** The kernel host's connect options (nvme-cli's names and units). */
export interface ConnectTuning {
  nr_io_queues?: number;
  /** Seconds; -1: reconnect forever. */
  ctrl_loss_tmo?: number;
  keep_alive_tmo?: number;
  reconnect_delay?: number;
}

export interface VolumeParameters {
  plugin: string;
  transport: Transport | 'auto';
  fsType?: FsType;
  tuning: ConnectTuning;
  replicas: number;
  thin: boolean;
  /** For DPU nodes; unset: the node's default (--connection-mode, else aio). */
  connectionMode?: ConnectionMode;
  /** DH-HMAC-CHAP on the volume's export; unset (or `none`): none. */
  dhchap?: DhchapMode;
  /**
   * NVMe/TCP TLS 1.3 with a PSK (tls-secrets.ts): the volume is exported on the gateway's
   * secure-channel listener only, and nodes connect with the PSK. TCP only. Unset: no TLS.
   */
  tls?: boolean;
  /** The parameters as given, less the CO's own keys: what idempotency compares. */
  given: StringMap;
}

const TUNING: Record<keyof ConnectTuning, { min: number; max: number }> = {
  nr_io_queues: { min: 1, max: 1024 },
  ctrl_loss_tmo: { min: -1, max: 2 ** 31 - 1 },
  keep_alive_tmo: { min: 0, max: 65535 },
  reconnect_delay: { min: 1, max: 86400 },
};

/** Keys the Kubernetes sidecars add (csi.storage.k8s.io/pvc/name, .../fstype, ...); not ours to check. */
const CO_PREFIX = 'csi.storage.k8s.io/';

export function parseVolumeParameters(parameters: StringMap): VolumeParameters {
  const given: StringMap = {};
  for (const [k, v] of Object.entries(parameters ?? {})) if (!k.startsWith(CO_PREFIX)) given[k] = v;
  const out: VolumeParameters = { plugin: 'local', transport: 'auto', tuning: {}, replicas: 1, thin: true, given };
  for (const [k, v] of Object.entries(given)) {
    switch (k) {
      case 'plugin':
        if (!/^[a-z][a-z0-9-]*$/.test(v)) throw invalidArgument(`parameter plugin must be a plugin name, got "${v}"`);
        out.plugin = v;
        break;
      case 'transport':
        if (v !== 'tcp' && v !== 'rdma' && v !== 'auto') throw invalidArgument(`parameter transport must be tcp, rdma or auto, got "${v}"`);
        out.transport = v;
        break;
      case 'fsType':
        out.fsType = fsType(v, 'parameter fsType');
        break;
      case 'replicas':
        out.replicas = integer(v, 'parameter replicas', 1, 16);
        break;
      case 'thin':
        if (v !== 'true' && v !== 'false') throw invalidArgument(`parameter thin must be true or false, got "${v}"`);
        out.thin = v === 'true';
        break;
      case 'connectionMode':
        out.connectionMode = connectionMode(v, 'parameter connectionMode');
        break;
      case 'dhchap':
        if (v !== 'none') out.dhchap = dhchapMode(v, 'parameter dhchap');
        break;
      case 'tls':
        if (v !== 'true' && v !== 'false') throw invalidArgument(`parameter tls must be true or false, got "${v}"`);
        if (v === 'true') out.tls = true;
        break;
      default:
        if (k in TUNING) {
          const t = TUNING[k as keyof ConnectTuning];
          out.tuning[k as keyof ConnectTuning] = integer(v, `parameter ${k}`, t.min, t.max);
          break;
        }
        throw invalidArgument(`unknown parameter "${k}"; known: plugin, transport, fsType, ${Object.keys(TUNING).join(', ')}, replicas, thin, connectionMode, dhchap, tls`);
    }
  }
  // TLS is NVMe/TCP's: a class that asks for both cannot be served (transport auto becomes tcp).
  if (out.tls && out.transport === 'rdma') throw invalidArgument('parameter tls: "true" is NVMe/TCP\'s (TLS), and transport is rdma: use tcp or auto');
  return out;
}

/** What the node needs to know about a volume, fixed at creation. */
export function volumeContext(p: VolumeParameters, transport: Transport): StringMap {
  const ctx: StringMap = { plugin: p.plugin, transport };
  if (p.fsType) ctx.fsType = p.fsType;
  if (p.connectionMode) ctx.connectionMode = p.connectionMode;
  // The mode only, never a secret: volume_context is visible to anyone who can read the PV.
  if (p.dhchap) ctx.dhchap = p.dhchap;
  // The flag only: the PSK comes with each publish and stage, from the Secret.
  if (p.tls) ctx.tls = 'true';
  for (const [k, v] of Object.entries(p.tuning)) ctx[k] = String(v);
  return ctx;
}

/** The tuning a node reads back from volume_context; bad values are refused, not ignored. */
export function tuningFromContext(ctx: StringMap): ConnectTuning {
  const out: ConnectTuning = {};
  for (const [k, range] of Object.entries(TUNING)) {
    const v = ctx?.[k];
    if (v !== undefined && v !== '') out[k as keyof ConnectTuning] = integer(v, `volume_context ${k}`, range.min, range.max);
  }
  return out;
}

/** The connection mode a StorageClass asked for (volume_context), or undefined when it did not say. */
export function connectionModeFromContext(ctx: StringMap): ConnectionMode | undefined {
  const v = ctx?.connectionMode;
  return v === undefined || v === '' ? undefined : connectionMode(v, 'volume_context connectionMode');
}

/** The DH-HMAC-CHAP mode a volume was created with (volume_context), or undefined for none. */
export function dhchapModeFromContext(ctx: StringMap): DhchapMode | undefined {
  const v = ctx?.dhchap;
  return v === undefined || v === '' || v === 'none' ? undefined : dhchapMode(v, 'volume_context dhchap');
}

/** Whether a volume was created with `tls: "true"` (volume_context). */
export function tlsFromContext(ctx: StringMap): boolean {
  const v = ctx?.tls;
  if (v === undefined || v === '' || v === 'false') return false;
  if (v !== 'true') throw invalidArgument(`volume_context tls must be true or false, got "${v}"`);
  return true;
}

export function dhchapMode(v: string, what: string): DhchapMode {
  if (!(DHCHAP_MODES as readonly string[]).includes(v)) {
    throw invalidArgument(`${what} must be one of none, ${DHCHAP_MODES.join(', ')}, got "${v}"`);
  }
  return v as DhchapMode;
}

export function connectionMode(v: string, what: string): ConnectionMode {
  if (!(CONNECTION_MODES as readonly string[]).includes(v)) {
    throw invalidArgument(`${what} must be one of ${CONNECTION_MODES.join(', ')}, got "${v}"`);
  }
  return v as ConnectionMode;
}

export function fsType(v: string, what: string): FsType {
  if (!(FS_TYPES as readonly string[]).includes(v)) throw invalidArgument(`${what} must be one of ${FS_TYPES.join(', ')}, got "${v}"`);
  return v as FsType;
}

/** One address of a volume's subsystem: a gateway of a group that exports it. */
export interface PublishPath {
  traddr: string;
  trsvcid: string;
}

/** Where and how a node reaches a published volume: ControllerPublishVolume's answer. */
export interface PublishContext {
  transport: Transport;
  /** The first path's address: the one a node that knows of no `paths` connects to. */
  traddr: string;
  trsvcid: string;
  subnqn: string;
  /** The namespace's UUID and NGUID (32 hex digits), which name its block device on the node. */
  uuid: string;
  nguid: string;
  /**
   * Every gateway of a group that exports the volume, the optimized one first (the same
   * as traddr/trsvcid), all with the same transport and subsystem: a node connects each,
   * and the kernel's native multipath makes them one device. Absent for a single gateway.
   */
  paths?: PublishPath[];
}

/** The publish_context strings of `ctx`: `paths`, when there, as a JSON array. */
export function publishContextMap(ctx: PublishContext): StringMap {
  const { paths, ...rest } = ctx;
  return { ...rest, ...(paths ? { paths: JSON.stringify(paths) } : {}) };
}

/** The paths a node connects: `paths` when the controller sent them, else the one address. */
export function publishPaths(ctx: PublishContext): PublishPath[] {
  return ctx.paths ?? [{ traddr: ctx.traddr, trsvcid: ctx.trsvcid }];
}

export function parsePublishContext(ctx: StringMap): PublishContext {
  const get = (k: Exclude<keyof PublishContext, 'paths'>) => {
    const v = ctx?.[k];
    if (typeof v !== 'string' || v === '') throw invalidArgument(`publish_context.${k} is missing: was the volume published by this driver?`);
    return v;
  };
  const transport = get('transport');
  if (transport !== 'tcp' && transport !== 'rdma') throw invalidArgument(`publish_context.transport must be tcp or rdma, got "${transport}"`);
  const uuid = get('uuid');
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(uuid)) throw invalidArgument('publish_context.uuid is not a UUID');
  const nguid = get('nguid');
  if (!/^[0-9a-f]{32}$/i.test(nguid)) throw invalidArgument('publish_context.nguid is not 32 hex digits');
  const trsvcid = get('trsvcid');
  if (!isPort(trsvcid)) throw invalidArgument('publish_context.trsvcid is not a port');
  const paths = ctx?.paths === undefined || ctx.paths === '' ? undefined : parsePaths(ctx.paths);
  return { transport, traddr: get('traddr'), trsvcid, subnqn: get('subnqn'), uuid: uuid.toLowerCase(), nguid: nguid.toLowerCase(),
    ...(paths ? { paths } : {}) };
}

function isPort(v: unknown): v is string {
  return typeof v === 'string' && /^\d{1,5}$/.test(v);
}

/** publish_context.paths: a JSON array of 1 to 32 {traddr, trsvcid}. */
function parsePaths(text: string): PublishPath[] {
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    throw invalidArgument('publish_context.paths is not JSON');
  }
  if (!Array.isArray(list) || list.length === 0 || list.length > 32) {
    throw invalidArgument('publish_context.paths must be a JSON array of 1 to 32 {traddr, trsvcid}');
  }
  return list.map((p: unknown, i) => {
    const o = p as Partial<Record<keyof PublishPath, unknown>> | null;
    if (typeof o !== 'object' || o === null || typeof o.traddr !== 'string' || o.traddr === '' || !isPort(o.trsvcid)) {
      throw invalidArgument(`publish_context.paths[${i}] is not {"traddr": ADDRESS, "trsvcid": PORT}`);
    }
    return { traddr: o.traddr, trsvcid: o.trsvcid };
  });
}

function integer(v: string, what: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(v)) throw invalidArgument(`${what} must be an integer, got "${v}"`);
  const n = Number(v);
  if (n < min || n > max) throw invalidArgument(`${what} must be in [${min}, ${max}], got ${n}`);
  return n;
}
