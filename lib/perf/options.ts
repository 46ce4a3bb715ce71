/**
 * What `rdmagate perf` is asked to do, with fio's option names for the workload and
 * nvme-cli's for the target. perfOptions() checks everything once, up front; the
 * engines trust what it returns.
 */
import { InvalidArgumentError } from '../errors';
import type { DhchapKeys } from '../nvmf/dhchap';
import type { HostPolling } from '../nvmf/host/options';
import type { TlsPsk } from '../nvmf/tls';
import { parseCount, parseSeconds, parseSize } from './units';

export const READ_WRITE = ['read', 'write', 'randread', 'randwrite', 'randrw'] as const;
export type ReadWrite = (typeof READ_WRITE)[number];
export type PerfEngineName = 'native' | 'js';
export type LocalBdev = 'null' | 'malloc';
/** SPDK's names for the multipath policies (bdev_nvme_set_multipath_policy), as the command line has them. */
export const MULTIPATH_POLICIES = ['active_passive', 'active_active'] as const;
export type MultipathPolicyName = (typeof MULTIPATH_POLICIES)[number];
/** SPDK's selectors for active_active. */
export const MULTIPATH_SELECTORS = ['round_robin', 'queue_depth'] as const;
export type MultipathSelectorName = (typeof MULTIPATH_SELECTORS)[number];

/** One path to a remote target. */
export interface PerfPath {
  traddr: string;
  trsvcid: number;
}

/** Options as the command line (strings) or a program (numbers) gives them. */
export interface PerfOptionsInput {
  rw?: string;
  /** Percentage of reads in randrw; default 50. */
  rwmixread?: number | string;
  /** Bytes per I/O; default 4k. */
  bs?: number | string;
  /** I/Os in flight per job; default 1. */
  iodepth?: number | string;
  /** Jobs, one I/O queue pair each; default 1. */
  numjobs?: number | string;
  /** Seconds counted; default 10. */
  runtime?: number | string;
  /** Seconds run first and not counted; default 0. */
  rampTime?: number | string;
  /** Bytes of the namespace the jobs use, from `offset`; default: the rest of the namespace. */
  size?: number | string;
  offset?: number | string;
  verify?: string;
  engine?: string;
  /** 'local': start an in-process target and run against it over loopback TCP. */
  target?: string;
  /** nvme-cli's -t, -a, -s, -n. */
  transport?: string;
  traddr?: string;
  trsvcid?: number | string;
  /** More than one path to the subsystem, in place of traddr and trsvcid: a multipath run (on the js engine). */
  paths?: { traddr: string; trsvcid?: number | string }[];
  /** With more than one path; default active_passive. */
  multipathPolicy?: string;
  /** With multipathPolicy active_active; default round_robin. */
  multipathSelector?: string;
  nqn?: string;
  /** nvme-cli's -S and -C: DH-HMAC-CHAP secrets for a remote target (ConnectOptions'). */
  dhchapKey?: string;
  dhchapCtrlrKey?: string;
  /** nvme-cli's --tls-key: an NVMe/TCP TLS PSK for a remote target (ConnectOptions.psk). */
  psk?: string;
  nsid?: number | string;
  /** --target local: the namespace's bdev; default null, or malloc with --verify. */
  bdev?: string;
  targetReactors?: number | string;
  hostReactors?: number | string;
  /** NVMe/TCP's receive pipe (ConnectOptions.recvPipe): 1 (default) or 0. */
  recvPipe?: boolean | string;
  /** The js engine: who polls the host's queues (ConnectOptions.polling); default event-loop. */
  polling?: string;
}

/**
 * A remote target's secrets are the host's to check (ConnectOptions); the report leaves them out.
 * traddr and trsvcid are its first path; `paths` (every one, that first included) and
 * `multipathPolicy` are there only when there are more.
 */
export type PerfTarget =
  | ({ kind: 'remote'; transport: 'tcp' | 'rdma'; traddr: string; trsvcid: number; subnqn: string;
    paths?: PerfPath[]; multipathPolicy?: MultipathPolicyName; multipathSelector?: MultipathSelectorName } & DhchapKeys & TlsPsk)
  | { kind: 'local'; bdev: LocalBdev; reactors: number };

export interface PerfOptions {
  rw: ReadWrite;
  /** Share of reads, in percent: 100 for read/randread, 0 for write/randwrite. */
  readPercent: number;
  random: boolean;
  bs: number;
  iodepth: number;
  numjobs: number;
  runtimeS: number;
  rampTimeS: number;
  /** Undefined: to the end of the namespace. */
  size: number | undefined;
  offset: number;
  verify: 'crc32c' | undefined;
  engine: PerfEngineName;
  target: PerfTarget;
  nsid: number;
  hostReactors: number;
  recvPipe: boolean;
  polling: HostPolling;
}

const MAX_QUEUES = 1024;
const MAX_DEPTH = 1024;
/** The largest transfer NVMe can describe in one command is 64 Ki blocks; 16 MiB is plenty here. */
const MAX_BS = 16 << 20;

function oneOf<T extends string>(value: string | undefined, name: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`--${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

/** The paths given as `paths`, checked; undefined when not given. */
function pathList(o: PerfOptionsInput): PerfPath[] | undefined {
  if (o.paths === undefined) return undefined;
  if (o.traddr !== undefined || o.trsvcid !== undefined) throw new InvalidArgumentError('give the target as traddr and trsvcid, or as paths, not both');
  if (!Array.isArray(o.paths) || o.paths.length === 0) throw new InvalidArgumentError('paths must be a list of one path or more');
  return o.paths.map((p) => {
    if (typeof p?.traddr !== 'string' || p.traddr === '') throw new InvalidArgumentError('each path needs its traddr (-a)');
    return { traddr: p.traddr, trsvcid: parseCount(p.trsvcid ?? 4420, 'trsvcid', 1, 65535) };
  });
}

function target(o: PerfOptionsInput): PerfTarget {
  const remoteFlags = [o.transport, o.traddr, o.trsvcid, o.nqn, o.dhchapKey, o.dhchapCtrlrKey, o.psk, o.paths].some((x) => x !== undefined);
  const paths = pathList(o);
  if (o.multipathPolicy !== undefined && (paths?.length ?? 0) < 2) {
    throw new InvalidArgumentError('--multipath-policy applies to more than one path (-a given more than once)');
  }
  if (o.multipathSelector !== undefined && o.multipathPolicy !== 'active_active') {
    throw new InvalidArgumentError('--multipath-selector chooses among active_active\'s paths: give --multipath-policy active_active');
  }
  if (o.target !== undefined) {
    if (o.target !== 'local') throw new InvalidArgumentError(`--target must be 'local', got ${JSON.stringify(o.target)}`);
    if (remoteFlags) throw new InvalidArgumentError('--target local starts its own target: -t, -a, -s, -n, --tls-key, -S and -C do not apply');
    return {
      kind: 'local',
      // A null bdev drops writes, so a verify run defaults to malloc (asked for, null fails it).
      bdev: oneOf(o.bdev, 'bdev', ['null', 'malloc'] as const, o.verify === undefined ? 'null' : 'malloc'),
      reactors: parseCount(o.targetReactors ?? 1, 'target-reactors', 1, 64),
    };
  }
  if (o.bdev !== undefined || o.targetReactors !== undefined) {
    throw new InvalidArgumentError('--bdev and --target-reactors apply to --target local only');
  }
  // -t rdma is refused by the host's own check when connecting, with its typed error.
  const transport = oneOf(o.transport, 'transport', ['tcp', 'rdma'] as const, 'tcp');
  if ((o.traddr === undefined && paths === undefined) || o.nqn === undefined) {
    throw new InvalidArgumentError('give the target with -t tcp -a TRADDR -s TRSVCID -n NQN, or use --target local');
  }
  const first = paths?.[0] ?? { traddr: o.traddr!, trsvcid: parseCount(o.trsvcid ?? 4420, 'trsvcid', 1, 65535) };
  return {
    kind: 'remote', transport, traddr: first.traddr, trsvcid: first.trsvcid, subnqn: o.nqn,
    ...(paths && paths.length > 1
      ? { paths, multipathPolicy: oneOf(o.multipathPolicy, 'multipath-policy', MULTIPATH_POLICIES, 'active_passive'),
        ...(o.multipathSelector !== undefined
          ? { multipathSelector: oneOf(o.multipathSelector, 'multipath-selector', MULTIPATH_SELECTORS, 'round_robin') } : {}) } : {}),
    ...(o.dhchapKey !== undefined ? { dhchapKey: o.dhchapKey } : {}),
    ...(o.dhchapCtrlrKey !== undefined ? { dhchapCtrlrKey: o.dhchapCtrlrKey } : {}),
    ...(o.psk !== undefined ? { psk: o.psk } : {}),
  };
}

export function perfOptions(input: PerfOptionsInput = {}): PerfOptions {
  if (input === null || typeof input !== 'object') throw new InvalidArgumentError('perf options must be an object');
  const o = input;
  const rw = oneOf(o.rw, 'rw', READ_WRITE, 'read');
  // Checked for any rw, used by randrw only: fio ignores it elsewhere too.
  const rwmixread = parseCount(o.rwmixread ?? 50, 'rwmixread', 0, 100);
  const bs = parseSize(o.bs ?? 4096, 'bs');
  if (bs < 512 || bs > MAX_BS || bs % 512 !== 0) {
    throw new InvalidArgumentError(`--bs must be a multiple of 512 in [512, ${MAX_BS}], got ${bs}`);
  }
  const offset = parseSize(o.offset ?? 0, 'offset');
  if (offset % 512 !== 0) throw new InvalidArgumentError(`--offset must be a multiple of 512, got ${offset}`);
  const size = o.size === undefined ? undefined : parseSize(o.size, 'size');
  if (size !== undefined && size < bs) throw new InvalidArgumentError(`--size (${size}) must hold at least one I/O of --bs (${bs})`);
  const runtimeS = parseSeconds(o.runtime ?? 10, 'runtime');
  if (runtimeS <= 0) throw new InvalidArgumentError('--runtime must be more than 0 seconds');
  const engine = oneOf(o.engine, 'engine', ['native', 'js'] as const, 'native');
  // --verify runs on the js engine, and so does multipath (the host's multipath is JS over its paths' queues).
  const runsJs = engine === 'js' || o.verify !== undefined || (o.paths?.length ?? 0) > 1;
  // The native engine polls its queues in its own reactors; the js engine's host is
  // polled by the JS thread itself unless asked otherwise.
  if (o.polling !== undefined && !runsJs) {
    throw new InvalidArgumentError('--polling applies to the js engine (--engine js or --verify)');
  }
  const polling = oneOf(o.polling, 'polling', ['event-loop', 'reactor'] as const, 'event-loop');
  const hostReactors = parseCount(o.hostReactors ?? 1, 'host-reactors', 1, 64);
  if (hostReactors > 1 && runsJs && polling === 'event-loop') {
    throw new InvalidArgumentError('--host-reactors applies to the js engine with --polling reactor; with event-loop, the JS thread polls');
  }
  return {
    rw,
    readPercent: rw === 'randrw' ? rwmixread : rw.endsWith('read') ? 100 : 0,
    random: rw.startsWith('rand'),
    bs,
    iodepth: parseCount(o.iodepth ?? 1, 'iodepth', 1, MAX_DEPTH),
    numjobs: parseCount(o.numjobs ?? 1, 'numjobs', 1, MAX_QUEUES),
    runtimeS,
    rampTimeS: parseSeconds(o.rampTime ?? 0, 'ramp_time'),
    size,
    offset,
    verify: o.verify === undefined ? undefined : oneOf(o.verify, 'verify', ['crc32c'] as const, 'crc32c'),
    engine,
    target: target(o),
    nsid: parseCount(o.nsid ?? 1, 'nsid', 1, 0xfffffffe),
    hostReactors,
    recvPipe: typeof o.recvPipe === 'boolean' ? o.recvPipe : oneOf(o.recvPipe, 'recv-pipe', ['0', '1'] as const, '1') === '1',
    polling,
  };
}
