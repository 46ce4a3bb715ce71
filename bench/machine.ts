/** What the benchmark ran on, recorded next to its numbers so that results can be compared. */
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Machine {
  cpu: string;
  nproc: number;
  kernel: string;
  node: string;
  date: string;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    // not Linux, or /proc is hidden: fall back to what Node knows
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

export function machine(): Machine {
  return {
    cpu: cpuModel(),
    nproc: os.availableParallelism(),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    date: new Date().toISOString(),
  };
}

/** bench/results in the source tree (these scripts run from dist/bench): the committed results. */
export const RESULTS_DIR = path.resolve(__dirname, '..', '..', 'bench', 'results');

/**
 * Where a bench writes its results, so that a run never overwrites the committed ones
 * unless asked: `--save` writes bench/results, `--out DIR` writes DIR, and by default a new
 * directory under the system's temporary one. It says where on stderr. `rest` is `argv`
 * without those flags, for the bench's own.
 */
export function resultsOutput(name: string, argv: string[]): { dir: string; rest: string[] } {
  const rest: string[] = [];
  let dir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--save') dir = RESULTS_DIR;
    else if (argv[i] === '--out' && i + 1 < argv.length) dir = path.resolve(argv[++i]!);
    else rest.push(argv[i]!);
  }
  dir ??= mkdtempSync(path.join(os.tmpdir(), `rdmagate-bench-${name}-`));
  mkdirSync(dir, { recursive: true });
  process.stderr.write(`results go to ${dir}${dir === RESULTS_DIR ? '' : ' (--save writes bench/results)'}\n`);
  return { dir, rest };
}

/** The whole machine's CPU from the first line of /proc/stat, in seconds. */
export interface SystemCpu {
  /** user + nice + system, every CPU: what processes ran (interrupt time left out, as it is not charged to them). */
  busyS: number;
  /** Time the hypervisor ran something else while a vCPU wanted to run. */
  stealS: number;
}

/** USER_HZ: the unit of the CPU times in /proc/stat and /proc/<pid>/stat. */
export const USER_HZ = 100;

export function parseProcStat(text: string): SystemCpu {
  const m = /^cpu\s+(.*)$/m.exec(text);
  const f = m ? m[1].trim().split(/\s+/).map(Number) : [];
  if (f.length < 8 || f.slice(0, 8).some((n) => !Number.isFinite(n))) throw new Error('not /proc/stat: no cpu line');
  const [user, nice, system, , , , , steal] = f;
  return { busyS: (user + nice + system) / USER_HZ, stealS: steal / USER_HZ };
}

/**
 * The sum of `count` CPU-time fields of a /proc/<pid>/stat line from utime (field 14) on, in
 * seconds. The command name in parentheses may hold spaces and parentheses, so the fields
 * are counted from the last ')': state is field 3, utime 14, stime 15, cutime 16, cstime 17.
 */
function procStatTimes(stat: string, count: number): number {
  const close = stat.lastIndexOf(')');
  const ticks = close >= 0 ? stat.slice(close + 1).trim().split(/\s+/).slice(11, 11 + count).map(Number) : [];
  if (ticks.length < count || !ticks.every(Number.isInteger)) {
    throw new Error(`not a /proc/<pid>/stat line: ${JSON.stringify(stat.slice(0, 80))}`);
  }
  return ticks.reduce((a, b) => a + b, 0) / USER_HZ;
}

/** utime + stime, in seconds, from the text of /proc/<pid>/stat (every thread of the process). */
export function procStatCpuSeconds(stat: string): number {
  return procStatTimes(stat, 2);
}

/**
 * This process's CPU-seconds with those of its children that have exited and been waited
 * for (utime, stime, cutime, cstime of /proc/self/stat): the benchmark's own, once the
 * children it started are gone.
 */
export function parseOwnCpu(stat: string): number {
  return procStatTimes(stat, 4);
}

/** What else the machine did while a benchmark ran. */
export interface RunLoad {
  wallS: number;
  /** Cores' worth of CPU that other processes used, on average over the run. */
  otherCores: number;
  /** Cores' worth of steal, on average. */
  stealCores: number;
  /** 1-minute load average at the start and at the end (the benchmark's own threads count in it). */
  loadavgStart: number;
  loadavgEnd: number;
}

/**
 * Starts measuring the machine's load; `end()` (called once the benchmark's children are
 * gone) says how much CPU others used meanwhile. Undefined where /proc is not readable.
 */
export function loadMeter(): { end(): RunLoad } | undefined {
  const read = () => ({
    ms: performance.now(),
    system: parseProcStat(readFileSync('/proc/stat', 'utf8')),
    own: parseOwnCpu(readFileSync('/proc/self/stat', 'utf8')),
    loadavg: os.loadavg()[0],
  });
  let start: ReturnType<typeof read>;
  try {
    start = read();
  } catch {
    return undefined;
  }
  return {
    end: () => {
      const end = read();
      const wallS = (end.ms - start.ms) / 1000;
      const others = end.system.busyS - start.system.busyS - (end.own - start.own);
      const round2 = (v: number) => Math.round(v * 100) / 100;
      return {
        wallS: round2(wallS),
        otherCores: wallS > 0 ? round2(Math.max(0, others) / wallS) : 0,
        stealCores: wallS > 0 ? round2((end.system.stealS - start.system.stealS) / wallS) : 0,
        loadavgStart: round2(start.loadavg),
        loadavgEnd: round2(end.loadavg),
      };
    },
  };
}
