/**
 * A run's results, and how they are printed: fio's JSON (`--output-format json`, with
 * fio's field names so that tools that read fio output read ours) plus a "rdmagate"
 * section, or fio-like text. The jobs are reported as one group, as fio's
 * group_reporting does: CPU time is the whole process's, so it cannot be split by job.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { PathInfo } from '../nvmf/host';
import type { DirectionStats } from './engine';
import type { LocalBdev, MultipathPolicyName, MultipathSelectorName, PerfEngineName, PerfOptions } from './options';
import { formatMiB, formatShort } from './units';
import type { VerifyFailure } from './verify';

export interface PerfReport {
  options: PerfOptions;
  /** The engine that ran. */
  engine: PerfEngineName;
  /** Why it is not the one asked for. */
  fallback: string | undefined;
  target: {
    transport: 'tcp';
    traddr: string;
    trsvcid: number;
    subnqn: string;
    nsid: number;
    /** Set for --target local. */
    local: { bdev: LocalBdev; reactors: number } | undefined;
    /** Set with more than one path (traddr and trsvcid are then the first's): each path as the run left it. */
    multipath?: { policy: MultipathPolicyName; selector?: MultipathSelectorName; paths: PathInfo[] };
  };
  /** 0: the JS thread polled the host's queues (--polling event-loop). */
  hostReactors: number;
  read: DirectionStats;
  write: DirectionStats;
  /** Process CPU time over the counted window, and the I/Os completed in that window. */
  cpu: { userS: number; systemS: number; wallS: number; ctx: number; ios: number };
  verify: { blocks: number; bad: number; failures: VerifyFailure[] } | undefined;
}

export interface FioLatency {
  min: number;
  max: number;
  mean: number;
  stddev: number;
  N: number;
  percentile: Record<string, number>;
}

export interface FioDirection {
  io_bytes: number;
  io_kbytes: number;
  bw_bytes: number;
  /** KiB/s. */
  bw: number;
  iops: number;
  /** ms. */
  runtime: number;
  total_ios: number;
  clat_ns: FioLatency;
}

export interface FioJob {
  jobname: string;
  groupid: number;
  error: number;
  'job options': Record<string, string>;
  read: FioDirection;
  write: FioDirection;
  /** Percent of one core. */
  usr_cpu: number;
  sys_cpu: number;
  ctx: number;
}

/** One path of a multipath run, after it: its controller's state, commands it failed over, each ANA group's state through it. */
export interface FioPath {
  transport: string;
  traddr: string;
  trsvcid: number;
  state: string;
  failovers: number;
  ana: Record<string, string>;
}

export interface PerfJson {
  'fio version': string;
  timestamp: number;
  jobs: FioJob[];
  rdmagate: {
    engine: PerfEngineName;
    engine_requested: PerfEngineName;
    fallback?: string;
    transport: 'tcp';
    /** With more than one path, traddr and trsvcid are the first's, and multipath_policy and paths (every one) are there. */
    target: { traddr: string; trsvcid: number; subnqn: string; nsid: number; bdev?: LocalBdev;
      multipath_policy?: MultipathPolicyName; multipath_selector?: MultipathSelectorName; paths?: FioPath[] };
    /** target: null when the target is not in this process; host: 0 when the JS thread polls the host (--polling event-loop). */
    reactors: { target: number | null; host: number };
    cpu_seconds_per_million_ios: number;
    verify?: { blocks: number; bad: number; failures: VerifyFailure[] };
  };
}

/** fio's default clat percentile list. */
export const PERCENTILES = [1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99];
const JOBNAME = 'rdmagate-perf';

function version(): string {
  try {
    // dist/lib/perf -> the package root
    const pkg = JSON.parse(readFileSync(path.resolve(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version?: string };
    return `rdmagate-perf-${pkg.version ?? 'unknown'}`;
  } catch {
    return 'rdmagate-perf-unknown';
  }
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function fioDirection(d: DirectionStats): FioDirection {
  const seconds = d.runtimeNs / 1e9;
  const bwBytes = seconds > 0 ? d.bytes / seconds : 0;
  const h = d.latency;
  const percentile: Record<string, number> = {};
  for (const p of PERCENTILES) percentile[p.toFixed(6)] = h.percentile(p);
  return {
    io_bytes: d.bytes,
    io_kbytes: Math.floor(d.bytes / 1024),
    bw_bytes: Math.round(bwBytes),
    bw: Math.round(bwBytes / 1024),
    iops: seconds > 0 ? round(d.ios / seconds, 6) : 0,
    runtime: Math.round(d.runtimeNs / 1e6),
    total_ios: d.ios,
    clat_ns: {
      min: h.count > 0 ? h.min : 0,
      max: h.max,
      mean: round(h.mean(), 6),
      stddev: round(h.stddev(), 6),
      N: h.count,
      percentile,
    },
  };
}

function fioPath(p: PathInfo): FioPath {
  return { transport: p.transport, traddr: p.traddr, trsvcid: p.trsvcid, state: p.state, failovers: p.failovers, ana: { ...p.ana } };
}

/** CPU-seconds the process spent per million I/Os completed. */
export function cpuPerMillion(r: PerfReport): number {
  return r.cpu.ios > 0 ? round(((r.cpu.userS + r.cpu.systemS) / r.cpu.ios) * 1e6, 3) : 0;
}

function jobOptions(o: PerfOptions): Record<string, string> {
  const out: Record<string, string> = {
    rw: o.rw, bs: String(o.bs), iodepth: String(o.iodepth), numjobs: String(o.numjobs),
    runtime: String(o.runtimeS), ramp_time: String(o.rampTimeS), offset: String(o.offset),
  };
  if (o.rw === 'randrw') out.rwmixread = String(o.readPercent);
  if (o.size !== undefined) out.size = String(o.size);
  if (o.verify) out.verify = o.verify;
  return out;
}

export function fioJson(r: PerfReport): PerfJson {
  const wall = r.cpu.wallS > 0 ? r.cpu.wallS : 1;
  const t = r.target;
  return {
    'fio version': version(),
    timestamp: Math.floor(Date.now() / 1000),
    jobs: [{
      jobname: JOBNAME,
      groupid: 0,
      error: r.verify && r.verify.bad > 0 ? 1 : 0,
      'job options': jobOptions(r.options),
      read: fioDirection(r.read),
      write: fioDirection(r.write),
      usr_cpu: round((r.cpu.userS / wall) * 100, 6),
      sys_cpu: round((r.cpu.systemS / wall) * 100, 6),
      ctx: r.cpu.ctx,
    }],
    rdmagate: {
      engine: r.engine,
      engine_requested: r.options.engine,
      ...(r.fallback ? { fallback: r.fallback } : {}),
      transport: t.transport,
      target: { traddr: t.traddr, trsvcid: t.trsvcid, subnqn: t.subnqn, nsid: t.nsid, ...(t.local ? { bdev: t.local.bdev } : {}),
        ...(t.multipath ? { multipath_policy: t.multipath.policy, ...(t.multipath.selector ? { multipath_selector: t.multipath.selector } : {}),
          paths: t.multipath.paths.map(fioPath) } : {}) },
      reactors: { target: t.local?.reactors ?? null, host: r.hostReactors },
      cpu_seconds_per_million_ios: cpuPerMillion(r),
      ...(r.verify ? { verify: r.verify } : {}),
    },
  };
}

function formatDirection(name: string, d: DirectionStats): string[] {
  const f = fioDirection(d);
  const us = (ns: number) => (ns / 1000).toFixed(2);
  const lines = [
    `  ${name}: IOPS=${formatShort(f.iops)}, BW=${formatMiB(f.bw_bytes)}/s (${Number((f.bw_bytes / 1e6).toPrecision(4))}MB/s)(${formatMiB(f.io_bytes)}/${f.runtime}msec)`,
    `    clat (usec): min=${us(f.clat_ns.min)}, max=${us(f.clat_ns.max)}, avg=${us(f.clat_ns.mean)}, stdev=${us(f.clat_ns.stddev)}`,
    '    clat percentiles (usec):',
  ];
  const cells = PERCENTILES.map((p) => `${p.toFixed(2).padStart(5)}th=[${us(f.clat_ns.percentile[p.toFixed(6)]).padStart(9)}]`);
  for (let i = 0; i < cells.length; i += 4) lines.push(`     | ${cells.slice(i, i + 4).join(', ')}`);
  return lines;
}

export function formatNormal(r: PerfReport): string {
  const o = r.options;
  const t = r.target;
  const lines = [
    `${JOBNAME}: (g=0): rw=${o.rw}, bs=${o.bs}B, iodepth=${o.iodepth}, numjobs=${o.numjobs}, engine=${r.engine}` +
      (r.fallback ? ` (${r.fallback})` : ''),
  ];
  if (r.read.ios > 0 || o.readPercent > 0) lines.push(...formatDirection('read', r.read));
  if (r.write.ios > 0 || o.readPercent < 100) lines.push(...formatDirection('write', r.write));
  const wall = r.cpu.wallS > 0 ? r.cpu.wallS : 1;
  lines.push(`  cpu          : usr=${((r.cpu.userS / wall) * 100).toFixed(2)}%, sys=${((r.cpu.systemS / wall) * 100).toFixed(2)}%, ctx=${r.cpu.ctx}` +
    ` (whole process), ${cpuPerMillion(r)} CPU-s per million I/O`);
  const where = t.local ? `local ${t.local.bdev} bdev, ${t.local.reactors} target reactor(s)` : 'remote';
  lines.push(`  target       : ${t.transport} ${t.traddr}:${t.trsvcid} ${t.subnqn} nsid ${t.nsid} (${where}), ` +
    (r.hostReactors > 0 ? `${r.hostReactors} host reactor(s)` : 'host polled by the JS thread'));
  if (t.multipath) {
    lines.push(`  paths        : ${t.multipath.paths.length}, ${t.multipath.policy}`);
    for (const p of t.multipath.paths) {
      const ana = Object.entries(p.ana).map(([group, state]) => `group ${group} ${state}`).join(', ');
      lines.push(`    ${p.transport} ${p.traddr}:${p.trsvcid}: ${p.state}${ana ? `, ${ana}` : ''}, ${p.failovers} failover(s)`);
    }
  }
  if (r.verify) {
    lines.push(`  verify       : crc32c, ${r.verify.blocks} blocks checked, ${r.verify.bad} bad`);
    for (const f of r.verify.failures) lines.push(`    LBA ${f.lba}: ${f.reason}`);
  }
  return lines.join('\n');
}
