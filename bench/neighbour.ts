/**
 * `npm run bench:neighbour`: the loopback cases on a shared node. The same host-to-target
 * runs as bench:loopback (native engine, 1 target and 1 host reactor, null bdev, one
 * process) under three loads, alternating, ROUNDS times, reported by medians:
 *   quiet      nothing else runs;
 *   hog/core   one CPU-bound process (`for(;;){}`, nice 0) pinned to each core, as a
 *              polling neighbour (Mayastor's io-engine, another pod) would be;
 *   cpu 1.5    the perf process inside a cgroup limited to 1.5 CPUs (cgroup v2 cpu.max,
 *              or v1 cpu.cfs_quota_us), as a Kubernetes CPU limit makes it.
 * Then the idle case: a target with a listener and no host, its CPU over IDLE_SECONDS.
 * Each run is a child process (`rdmagate perf -o json`), so that the cgroup holds it alone.
 * Writes bench/results/neighbour.json and neighbour.md, with the load average during the run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { machine, procStatCpuSeconds, resultsOutput } from './machine';
import { median } from './median';

const CLI = path.resolve(__dirname, '..', 'lib', 'cli', 'main.js');
const ROUNDS = 3;
const RUNTIME_S = 3;
const IDLE_SECONDS = 5;
const CPU_LIMIT = 1.5;

const CASES = [
  { name: '4k randread QD1', args: ['--rw', 'randread', '--bs', '4k', '--iodepth', '1'] },
  { name: '4k randread QD64', args: ['--rw', 'randread', '--bs', '4k', '--iodepth', '64'] },
] as const;

type Load = 'quiet' | 'hog/core' | `cpu ${number}`;

interface Run { iops: number; meanUs: number; p99Us: number; cpuPct: number }
interface Row extends Run { name: string; load: Load; runs: number }

/** A cgroup that holds a command to a CPU limit, or why there is none. */
interface CpuLimit { wrap(argv: string[]): string[]; remove(): void }

function cpuLimit(cpus: number): CpuLimit | string {
  const name = `rdmagate-bench-${process.pid}`;
  const quota = Math.round(cpus * 100_000);
  const v2 = '/sys/fs/cgroup';
  const v1 = '/sys/fs/cgroup/cpu';
  try {
    let dir: string;
    if (existsSync(path.join(v2, 'cgroup.controllers'))) {
      dir = path.join(v2, name);
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'cpu.max'), `${quota} 100000`);
    } else if (existsSync(path.join(v1, 'cpu.cfs_quota_us'))) {
      dir = path.join(v1, name);
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'cpu.cfs_period_us'), '100000');
      writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), String(quota));
    } else {
      return 'no cgroup cpu controller';
    }
    const procs = path.join(dir, 'cgroup.procs');
    return {
      // The shell moves itself into the cgroup, then becomes the command.
      wrap: (argv) => ['sh', '-c', `echo $$ > ${procs} && exec "$@"`, 'sh', ...argv],
      remove: () => rmdirSync(dir),
    };
  } catch (e) {
    return `cannot make a cgroup: ${(e as Error).message}`;
  }
}

function startHogs(): ChildProcess[] {
  const pin = spawnSync('taskset', ['--version']).status === 0;
  return Array.from({ length: os.availableParallelism() }, (_, core) => {
    const hog = [process.execPath, '-e', 'for(;;){}'];
    const argv = pin ? ['taskset', '-c', String(core), ...hog] : hog;
    return spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
  });
}

function perf(args: readonly string[], wrap: (argv: string[]) => string[] = (a) => a): Run {
  const argv = wrap([process.execPath, CLI, 'perf', '--target', 'local', '--target-reactors', '1', '--host-reactors', '1',
    '--runtime', String(RUNTIME_S), '--ramp_time', '1', '-o', 'json', ...args]);
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: (RUNTIME_S + 60) * 1000 });
  if (r.status !== 0) throw new Error(`perf failed (${r.status ?? r.signal}): ${r.stderr}`);
  const job = JSON.parse(r.stdout).jobs[0];
  const d = job.read;
  return { iops: Math.round(d.iops), meanUs: +(d.clat_ns.mean / 1000).toFixed(1),
    p99Us: +(d.clat_ns.percentile['99.000000'] / 1000).toFixed(1), cpuPct: +(job.usr_cpu + job.sys_cpu).toFixed(1) };
}

/** CPU-seconds of a process (utime + stime). */
const cpuSeconds = (pid: number): number => procStatCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));

/** An idle target with a TCP listener: its CPU as a percentage of one core. */
async function idleTargetCpu(): Promise<number> {
  const script = `const { Target } = require(${JSON.stringify(path.resolve(__dirname, '..', 'lib', 'nvmf', 'target'))});
    const t = new Target({ reactors: 2 });
    t.createBdev({ type: 'malloc', name: 'M', sizeBytes: 1 << 20 });
    t.addSubsystem({ nqn: 'nqn.2026-12.io.rdmagate:idle' }).addNamespace({ bdev: 'M', nsid: 1 });
    t.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`idle target exited ${code}`)));
    });
    await new Promise((r) => setTimeout(r, 1000));
    const before = cpuSeconds(child.pid!);
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    return +(((cpuSeconds(child.pid!) - before) / IDLE_SECONDS) * 100).toFixed(2);
  } finally {
    child.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const { dir: out } = resultsOutput('neighbour', process.argv.slice(2));
  const limit = cpuLimit(CPU_LIMIT);
  const loads: Load[] = ['quiet', 'hog/core', ...(typeof limit === 'string' ? [] : [`cpu ${CPU_LIMIT}` as const])];
  const runs = new Map<string, Run[]>();
  const loadAvg: number[] = [];
  try {
    for (let round = 0; round < ROUNDS; ++round) {
      for (const load of loads) {
        const hogs = load === 'hog/core' ? startHogs() : [];
        try {
          for (const c of CASES) {
            const run = perf(c.args, load.startsWith('cpu') && typeof limit !== 'string' ? limit.wrap : undefined);
            const key = `${c.name}|${load}`;
            runs.set(key, [...(runs.get(key) ?? []), run]);
            process.stderr.write(`round ${round + 1} ${load.padEnd(8)} ${c.name}: ${run.iops} IOPS, ${run.meanUs} us\n`);
          }
        } finally {
          for (const h of hogs) h.kill('SIGKILL');
        }
        if (load === 'quiet') loadAvg.push(os.loadavg()[0]);
      }
    }
  } finally {
    if (typeof limit !== 'string') limit.remove();
  }
  const rows: Row[] = [];
  for (const c of CASES) {
    for (const load of loads) {
      const rs = runs.get(`${c.name}|${load}`)!;
      rows.push({ name: c.name, load, runs: rs.length, iops: median(rs.map((r) => r.iops)),
        meanUs: median(rs.map((r) => r.meanUs)), p99Us: median(rs.map((r) => r.p99Us)), cpuPct: median(rs.map((r) => r.cpuPct)) });
    }
  }
  const idleCpuPct = await idleTargetCpu();
  const m = machine();
  const result = { machine: m, loadAverageQuiet: loadAvg, rounds: ROUNDS, runtimeS: RUNTIME_S, cpuLimit: CPU_LIMIT,
    ...(typeof limit === 'string' ? { cpuLimitSkipped: limit } : {}), rows, idle: { seconds: IDLE_SECONDS, cpuPct: idleCpuPct } };
  writeFileSync(path.join(out, 'neighbour.json'), `${JSON.stringify(result, null, 2)}\n`);
  const md = [
    '# The loopback cases on a shared node',
    '',
    `${m.cpu}, ${m.nproc} CPUs, ${m.kernel}, Node ${m.node}, ${m.date}`,
    '',
    `Native engine, 1 target and 1 host reactor, null bdev, one process, ${RUNTIME_S} s per run; medians of ${ROUNDS} ` +
      'rounds that alternate the loads. hog/core: a CPU-bound process pinned to each core. ' +
      `cpu ${CPU_LIMIT}: the perf process in a cgroup limited to ${CPU_LIMIT} CPUs` +
      (typeof limit === 'string' ? ` (not run: ${limit})` : '') + '. CPU: the whole process, % of one core.',
    '',
    '| case | load | IOPS | mean µs | p99 µs | CPU % |',
    '|---|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${r.load} | ${r.iops.toLocaleString('en-US')} | ${r.meanUs} | ${r.p99Us} | ${r.cpuPct} |`),
    '',
    `An idle target (2 reactors, a TCP listener, no host) used ${idleCpuPct} % of one core over ${IDLE_SECONDS} s.`,
    '',
  ].join('\n');
  writeFileSync(path.join(out, 'neighbour.md'), md);
  process.stdout.write(md);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
