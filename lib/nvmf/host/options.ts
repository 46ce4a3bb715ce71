/** Host options, validated once at the boundary and turned into what native code takes. */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../../errors';
import * as v from '../../validate';
import type { NativeHostOptions } from '../../native';
import { dhchapKeys, type DhchapKeys } from '../dhchap';
import { tlsPsk, type TlsIdentityVersion, type TlsPsk } from '../tls';

/** NVMe/TCP, or NVMe/RDMA (rdma_cm; needs rdma-core and an RDMA device with an IP address). */
export type HostTransport = 'tcp' | 'rdma';
/** What happens to I/O in flight when the connection is lost: fail it, or resend it after the reconnect. */
export type IoFailureMode = 'fail' | 'retry';
/** Which thread polls a controller's queues: a native reactor, or the JS thread's event loop. */
export type HostPolling = 'reactor' | 'event-loop';

/**
 * Where and as whom to connect. Names and units are nvme-cli's (`nvme connect`). With
 * `dhchapKey` (nvme-cli's --dhchap-secret) the host authenticates with DH-HMAC-CHAP, and
 * with `dhchapCtrlrKey` (--dhchap-ctrl-secret) checks the controller too; a failed
 * authentication rejects with ERR_NVME_AUTH, a controller that requires it from a host
 * given no key with ERR_NVME_CONNECT. With `psk` (nvme-cli's --tls-key) every NVMe/TCP
 * queue connects over TLS 1.3 with the TLS PSK derived from it for this host and subsystem;
 * a handshake the controller refuses rejects with ERR_NVME_CONNECT.
 */
export interface ConnectOptions extends DhchapKeys, TlsPsk {
  /** The PSK identity offered with `psk` (nvme-cli's --identity): 0 (default, as Linux 6.x) or 1. */
  tlsIdentityVersion?: TlsIdentityVersion;
  transport?: HostTransport;
  /** Numeric IPv4 or IPv6 address of the controller. */
  traddr: string;
  /** Port. Default 4420. */
  trsvcid?: number;
  subnqn: string;
  /** Default: /etc/nvme/hostnqn, else a UUID NQN generated once per process. */
  hostnqn?: string;
  /** UUID text. Default: /etc/nvme/hostid, else the UUID of a UUID hostnqn, else generated. */
  hostid?: string;
  /** I/O queues (each its own TCP connection or RDMA queue pair). Default 1. */
  nrIoQueues?: number;
  /** Depth of each I/O queue; clamped to what the controller allows. Default 128. */
  queueSize?: number;
  /** Keep-alive timeout in seconds; Keep Alive is sent every half of it; 0 disables. Default 5. */
  keepAliveTmo?: number;
  /** Seconds between reconnect attempts. Default 10. */
  reconnectDelay?: number;
  /**
   * Seconds before the first reconnect attempt, each next one waiting twice as long, up to
   * reconnectDelay; ctrlLossTmo then counts time since the loss. Default: reconnectDelay
   * (every attempt waits reconnectDelay, as Linux does).
   */
  firstReconnectDelay?: number;
  /** Seconds of reconnecting before the controller is given up; -1 forever, 0 never reconnect. Default 600. */
  ctrlLossTmo?: number;
  /** NVMe/TCP only. */
  headerDigest?: boolean;
  /** NVMe/TCP only. */
  dataDigest?: boolean;
  /** Ask the controller to turn SQ flow control off (reads may then complete without a response capsule). */
  disableSqFlow?: boolean;
  /**
   * NVMe/TCP: read small PDUs through a staging buffer, as SPDK's `enable_recv_pipe` does:
   * one read serves many PDUs, and payloads up to 8 KiB are copied once by the CPU (counted
   * in `bytesCopied`). false: every payload lands in the IoBuffer, one read per PDU. Default true.
   */
  recvPipe?: boolean;
  /** Native reactor threads for this controller's queues (polling 'reactor'). Default 1. */
  reactors?: number;
  /**
   * 'reactor' (default): native reactor threads poll the queues, and completions wake the
   * event loop. 'event-loop': the JS thread polls them itself, once per turn of the event
   * loop, as an SPDK application polls its queue pairs. That saves a thread and the hop to
   * it and back, which counts where cores are few; but the JS thread then spins while
   * such a controller has work (after 1 ms without any, it sleeps in the event loop until
   * a socket, a timer or a call of its own needs the controller), and no I/O of the
   * controller moves while JS is busy with something else.
   */
  polling?: HostPolling;
  /** Default 'fail'. */
  ioFailureMode?: IoFailureMode;
  /** Per command, and for each connect step. Default 30000. */
  timeoutMs?: number;
}

function reconnectDelays(o: Partial<ConnectOptions>): { reconnectDelayMs: number; firstReconnectDelayMs: number } {
  // A floor of 10 ms: a target that refuses at once must not be hammered in a tight loop.
  const reconnectDelayMs = seconds(o.reconnectDelay, 'reconnectDelay', 0.01, 86400, 10);
  const firstReconnectDelayMs = o.firstReconnectDelay === undefined ? reconnectDelayMs
    : seconds(o.firstReconnectDelay, 'firstReconnectDelay', 0.01, 86400, 10);
  if (firstReconnectDelayMs > reconnectDelayMs) {
    throw new InvalidArgumentError(`firstReconnectDelay (${o.firstReconnectDelay} s) must be at most reconnectDelay (${reconnectDelayMs / 1000} s)`);
  }
  return { reconnectDelayMs, firstReconnectDelayMs };
}

/**
 * Where the discovery controller is. Default port: 8009 (NVMe/TCP's discovery port), 4420
 * over RDMA (as nvme-cli). The DH-HMAC-CHAP secrets are ConnectOptions'.
 */
export interface DiscoverOptions extends DhchapKeys, TlsPsk {
  /** As ConnectOptions.tlsIdentityVersion. */
  tlsIdentityVersion?: TlsIdentityVersion;
  transport?: HostTransport;
  traddr: string;
  trsvcid?: number;
  /** Default: the well-known discovery NQN. */
  subnqn?: string;
  hostnqn?: string;
  hostid?: string;
  headerDigest?: boolean;
  dataDigest?: boolean;
  timeoutMs?: number;
}

const DISCOVERY_SUBNQN = 'nqn.2014-08.org.nvmexpress.discovery';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_NQN_BYTES = 223;

let defaultHost: { hostnqn: string; hostid: string } | undefined;

function readConfig(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;  // no nvme-cli configuration on this machine
  }
}

/** The host NQN a connect uses when it names none: /etc/nvme/hostnqn, else this process's own. */
export function defaultHostNqn(): string {
  return hostIdentity().hostnqn;
}

/** nvme-cli's files when present, else one generated identity for the process. */
function hostIdentity(): { hostnqn: string; hostid: string } {
  if (!defaultHost) {
    const nqn = readConfig('/etc/nvme/hostnqn');
    const id = readConfig('/etc/nvme/hostid');
    const uuid = randomUUID();
    const hostnqn = nqn?.startsWith('nqn.') ? nqn : `nqn.2014-08.org.nvmexpress:uuid:${uuid}`;
    const fromNqn = /:uuid:([0-9a-f-]{36})$/i.exec(hostnqn)?.[1];
    defaultHost = { hostnqn, hostid: id && UUID_RE.test(id) ? id : fromNqn ?? uuid };
  }
  return defaultHost;
}

function nqn(value: unknown, name: string): string {
  const s = v.string(value, name);
  if (!s.startsWith('nqn.') || Buffer.byteLength(s) > MAX_NQN_BYTES) {
    throw new InvalidArgumentError(`${name} must be an NQN ("nqn.yyyy-mm.<domain>:<name>", at most ${MAX_NQN_BYTES} bytes)`);
  }
  return s;
}

function uuidBytes(value: unknown, name: string): Uint8Array {
  if (typeof value !== 'string' || !UUID_RE.test(value)) {
    throw new InvalidArgumentError(`${name} must be a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`);
  }
  return Uint8Array.from(Buffer.from(value.replace(/-/g, ''), 'hex'));
}

function flag(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new InvalidArgumentError(`${name} must be a boolean`);
  return value;
}

/** Seconds (fractions allowed) to whole milliseconds. */
function seconds(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return Math.round(fallback * 1000);
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidArgumentError(`${name} must be a number of seconds in [${min}, ${max}]`);
  }
  return Math.round(value * 1000);
}

const RDMA_PORT = 4420;

function common(o: Partial<DiscoverOptions>, defaultTcpPort: number) {
  const transport = v.oneOf(o.transport, 'transport', ['tcp', 'rdma'] as const, 'tcp');
  const traddr = v.string(o.traddr, 'traddr');
  if (isIP(traddr) === 0) throw new InvalidArgumentError(`traddr must be a numeric IPv4 or IPv6 address, got ${JSON.stringify(traddr.slice(0, 64))}`);
  const trsvcid = v.optionalInteger(o.trsvcid, 'trsvcid', 1, 65535, transport === 'rdma' ? RDMA_PORT : defaultTcpPort);
  const host = hostIdentity();
  const hostnqn = o.hostnqn === undefined ? host.hostnqn : nqn(o.hostnqn, 'hostnqn');
  const hostid = uuidBytes(o.hostid ?? host.hostid, 'hostid');
  const headerDigest = flag(o.headerDigest, 'headerDigest');
  const dataDigest = flag(o.dataDigest, 'dataDigest');
  if (transport === 'rdma' && (headerDigest || dataDigest)) {
    throw new InvalidArgumentError('headerDigest and dataDigest are NVMe/TCP options; NVMe/RDMA has no digests');
  }
  const tls = tlsPsk(o);
  if (transport === 'rdma' && tls.psk !== undefined) throw new InvalidArgumentError('psk is an NVMe/TCP option (TLS); NVMe/RDMA has none');
  const tlsIdentityVersion = v.optionalInteger(o.tlsIdentityVersion, 'tlsIdentityVersion', 0, 1, 0);
  const timeoutMs = v.optionalInteger(o.timeoutMs, 'timeoutMs', 1, 2 ** 31 - 1, 30000);
  return { transport, traddr, trsvcid, hostnqn, hostid, headerDigest, dataDigest, timeoutMs, ...dhchapKeys(o), ...tls, tlsIdentityVersion };
}

export function connectOptions(options: ConnectOptions): NativeHostOptions {
  const o = v.object<ConnectOptions>(options, 'options');
  const subnqn = nqn(o.subnqn, 'subnqn');
  const base = common(o, 4420);
  return {
    ...base,
    subnqn,
    nrIoQueues: v.optionalInteger(o.nrIoQueues, 'nrIoQueues', 1, 1024, 1),
    queueSize: v.optionalInteger(o.queueSize, 'queueSize', 2, 1024, 128),
    keepAliveTmoMs: seconds(o.keepAliveTmo, 'keepAliveTmo', 0, 65535, 5),
    ...reconnectDelays(o),
    ctrlLossTmoMs: o.ctrlLossTmo === -1 ? -1 : seconds(o.ctrlLossTmo, 'ctrlLossTmo', 0, 2 ** 31, 600),
    disableSqFlow: flag(o.disableSqFlow, 'disableSqFlow'),
    recvPipe: o.recvPipe === undefined ? true : flag(o.recvPipe, 'recvPipe'),
    reactors: v.optionalInteger(o.reactors, 'reactors', 1, 64, 1),
    polling: v.oneOf(o.polling, 'polling', ['reactor', 'event-loop'] as const, 'reactor'),
    ioFailureMode: v.oneOf(o.ioFailureMode, 'ioFailureMode', ['fail', 'retry'] as const, 'fail'),
  };
}

export function discoverOptions(options: DiscoverOptions): NativeHostOptions {
  const o = v.object<DiscoverOptions>(options, 'options');
  const subnqn = o.subnqn === undefined ? DISCOVERY_SUBNQN : nqn(o.subnqn, 'subnqn');
  return {
    ...common(o, 8009),
    subnqn,
    nrIoQueues: 0,
    queueSize: 2,
    keepAliveTmoMs: 0,
    reconnectDelayMs: 0,
    firstReconnectDelayMs: 0,
    ctrlLossTmoMs: 0,
    disableSqFlow: false,
    recvPipe: true,
    reactors: 1,
    polling: 'reactor',
    ioFailureMode: 'fail',
  };
}
