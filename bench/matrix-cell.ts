/** One cell's figures, worked out from the perf tool's report; and a cell as the results record it. */
import type { PerfReport } from '../lib/perf';
// The histogram module itself, not lib/perf's index: that would load the addon, and this stays pure.
import { LatencyHistogram } from '../lib/perf/histogram';
import type { PathKind, Transport } from './matrix-cases';
import { SERVER_ROLES, type ServerRole } from './matrix-role-spec';

export interface CellMetrics {
  /** Reads and writes together. */
  ios: number;
  runtimeS: number;
  iops: number;
  mibPerS: number;
  /** Completion latency over reads and writes together, in µs. */
  meanUs: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  /** Percent of one core, the host's (the bench process), over the counted window. */
  usrCpu: number;
  sysCpu: number;
  /** CPU-seconds per million I/Os completed in the counted window, every role together (the sum of roleCpu). */
  cpuSecondsPerMillionIos: number;
}

/**
 * CPU-seconds per million I/O, per role, each a process of its own: the host (the bench
 * process, over the counted window) and the path's other roles (the target; or the gateway
 * and the backend; or those and the DPU), each from /proc/<pid>/stat around the whole perf
 * run, at its rate scaled to the counted window.
 */
export type RoleCpu = { host: number } & Partial<Record<ServerRole, number>>;

/** A child's CPU-seconds over a perf run, and how long the run took: its rate is cpuS / wallS. */
export interface RoleSample {
  cpuS: number;
  wallS: number;
}

/** Where a cell sits in the matrix, as the JSON records it. */
export interface CellKey {
  transport: Transport;
  reactors: number;
  path: PathKind;
  workload: string;
}

export type CellResult =
  | (CellKey & { status: 'measured' } & CellMetrics & { roleCpu: RoleCpu })
  | (CellKey & { status: 'skipped' | 'failed'; reason: string });

export type MeasuredCell = Extract<CellResult, { status: 'measured' }>;

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** CPU-seconds per million I/Os: 0 when nothing completed, rather than Infinity in the JSON. */
export function cpuSecondsPerMillion(cpuSeconds: number, ios: number): number {
  return ios > 0 ? (cpuSeconds / ios) * 1e6 : 0;
}

export function cellMetrics(r: Pick<PerfReport, 'read' | 'write' | 'cpu'>): CellMetrics {
  const ios = r.read.ios + r.write.ios;
  const bytes = r.read.bytes + r.write.bytes;
  // Both directions share one window; a direction that did nothing may report none.
  const runtimeS = Math.max(r.read.runtimeNs, r.write.runtimeNs) / 1e9;
  const latency = new LatencyHistogram();
  latency.add(r.read.latency);
  latency.add(r.write.latency);
  const us = (ns: number) => round(ns / 1000, 1);
  const wall = r.cpu.wallS;
  return {
    ios,
    runtimeS: round(runtimeS, 3),
    iops: runtimeS > 0 ? Math.round(ios / runtimeS) : 0,
    mibPerS: runtimeS > 0 ? round(bytes / runtimeS / 2 ** 20, 1) : 0,
    meanUs: us(latency.mean()),
    p50Us: us(latency.percentile(50)),
    p99Us: us(latency.percentile(99)),
    p999Us: us(latency.percentile(99.9)),
    usrCpu: wall > 0 ? round((r.cpu.userS / wall) * 100, 1) : 0,
    sysCpu: wall > 0 ? round((r.cpu.systemS / wall) * 100, 1) : 0,
    cpuSecondsPerMillionIos: round(cpuSecondsPerMillion(r.cpu.userS + r.cpu.systemS, r.cpu.ios), 3),
  };
}

/**
 * A child's CPU-seconds per million I/O: its rate over the whole run (ramp, connect and
 * teardown included), times the counted window's length, over the I/Os counted in it.
 */
export function roleCpuPerMillion(s: RoleSample, window: Pick<PerfReport['cpu'], 'wallS' | 'ios'>): number {
  return s.wallS > 0 ? cpuSecondsPerMillion((s.cpuS / s.wallS) * window.wallS, window.ios) : 0;
}

/**
 * The bench process holds only the host, so the perf report's figure is the host's; the
 * other roles' come from their processes; the cell's total is all of them together.
 */
export function withRoleCpu(m: CellMetrics, window: Pick<PerfReport['cpu'], 'wallS' | 'ios'>,
  roles: Partial<Record<ServerRole, RoleSample>>): CellMetrics & { roleCpu: RoleCpu } {
  const roleCpu: RoleCpu = { host: m.cpuSecondsPerMillionIos };
  for (const role of SERVER_ROLES) {
    const sample = roles[role];
    if (sample) roleCpu[role] = round(roleCpuPerMillion(sample, window), 3);
  }
  const total = Object.values(roleCpu).reduce((a, b) => a + b, 0);
  return { ...m, cpuSecondsPerMillionIos: round(total, 3), roleCpu };
}
