/**
 * `npm run bench:ab -- --base DIR [--label NAME] [--rounds N] [--only loopback|gateway]`: this checkout against
 * another built one (DIR: e.g. a `git worktree` of the commit before a change, after
 * `npm run build:all` there), on the same machine, in alternating runs: the loopback cases
 * through each one's `rdmagate perf --target local`, and the gateway hop through each one's
 * `bench:gateway`. Reports medians, and the median of the per-pair ratios (after / before),
 * which holds when the machine's speed drifts. Writes ab-NAME.json and .md.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { machine, resultsOutput } from './machine';
import { median } from './median';
import { markdownTable } from './table';

const ROOT = path.resolve(__dirname, '..', '..');

interface LoopbackCase { name: string; args: string[] }

const LOOPBACK: LoopbackCase[] = [
  { name: '4k randread QD1', args: ['--rw', 'randread', '--bs', '4k', '--iodepth', '1'] },
  { name: '4k randread QD64', args: ['--rw', 'randread', '--bs', '4k', '--iodepth', '64'] },
  { name: '4k randwrite QD64', args: ['--rw', 'randwrite', '--bs', '4k', '--iodepth', '64'] },
  { name: '128k read QD16', args: ['--rw', 'read', '--bs', '128k', '--iodepth', '16'] },
  { name: '128k write QD16', args: ['--rw', 'write', '--bs', '128k', '--iodepth', '16'] },
];

interface Sample { iops: number; meanUs: number }

interface CaseResult {
  name: string;
  before: Sample[];
  after: Sample[];
  medianBeforeIops: number;
  medianAfterIops: number;
  medianRatio: number;  // of per-pair after/before IOPS
  medianBeforeMeanUs: number;
  medianAfterMeanUs: number;
}

/** One loopback run of `checkout`'s CLI. */
function loopback(checkout: string, c: LoopbackCase): Sample {
  const out = execFileSync(process.execPath, [path.join(checkout, 'dist/lib/cli/main.js'), 'perf', '--target', 'local',
    '--target-reactors', '1', '--host-reactors', '1', '--runtime', '5', '--ramp_time', '1', ...c.args, '-o', 'json'],
  { encoding: 'utf8' });
  const job = (JSON.parse(out) as { jobs: { read: FioDir; write: FioDir }[] }).jobs[0]!;
  const d = job.read.iops > 0 ? job.read : job.write;
  return { iops: Math.round(d.iops), meanUs: +(d.clat_ns.mean / 1000).toFixed(1) };
}

interface FioDir { iops: number; clat_ns: { mean: number } }

/** One `bench:gateway` run of `checkout`: its rows through the gateway, by case name. */
function gateway(checkout: string): Map<string, Sample> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rdmagate-ab-gateway-'));
  try {
    execFileSync(process.execPath, [path.join(checkout, 'dist/bench/gateway.js'), '--out', dir], { stdio: 'ignore' });
    const rows = (JSON.parse(readFileSync(path.join(dir, 'gateway.json'), 'utf8')) as {
      rows: { name: string; path: string; iops: number; meanUs: number }[];
    }).rows;
    return new Map(rows.filter((r) => r.path === 'gateway').map((r) => [`gateway ${r.name}`, { iops: r.iops, meanUs: r.meanUs }]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function summarize(name: string, before: Sample[], after: Sample[]): CaseResult {
  return {
    name, before, after,
    medianBeforeIops: median(before.map((s) => s.iops)),
    medianAfterIops: median(after.map((s) => s.iops)),
    medianRatio: +median(after.map((s, i) => s.iops / before[i]!.iops)).toFixed(3),
    medianBeforeMeanUs: median(before.map((s) => s.meanUs)),
    medianAfterMeanUs: median(after.map((s) => s.meanUs)),
  };
}

function main(): void {
  const { dir: out, rest } = resultsOutput('ab', process.argv.slice(2));
  const flag = (name: string) => { const i = rest.indexOf(name); return i >= 0 ? rest[i + 1] : undefined; };
  const base = flag('--base');
  if (!base) throw new Error('--base DIR is required: a built checkout to compare this one with');
  const label = flag('--label') ?? 'change';
  const rounds = Number(flag('--rounds') ?? 3);
  const only = flag('--only');
  if (only !== undefined && only !== 'loopback' && only !== 'gateway') throw new Error('--only takes loopback or gateway');
  const results: CaseResult[] = [];
  for (const c of only === 'gateway' ? [] : LOOPBACK) {
    const before: Sample[] = [], after: Sample[] = [];
    for (let i = 0; i < rounds; i++) {
      before.push(loopback(base, c));
      after.push(loopback(ROOT, c));
    }
    results.push(summarize(c.name, before, after));
    process.stderr.write(`${c.name}: ${results.at(-1)!.medianRatio}x\n`);
  }
  const gw = { before: [] as Map<string, Sample>[], after: [] as Map<string, Sample>[] };
  for (let i = 0; i < (only === 'loopback' ? 0 : rounds); i++) {
    gw.before.push(gateway(base));
    gw.after.push(gateway(ROOT));
  }
  for (const name of gw.after[0]?.keys() ?? []) {
    results.push(summarize(name, gw.before.map((m) => m.get(name)!), gw.after.map((m) => m.get(name)!)));
  }
  const m = machine();
  writeFileSync(path.join(out, `ab-${label}.json`), JSON.stringify({ machine: m, label, base, rounds, results }, null, 2) + '\n');
  const table = markdownTable(
    [{ title: 'case' }, { title: 'before IOPS', align: 'right' }, { title: 'after IOPS', align: 'right' },
      { title: 'after / before (median of pairs)', align: 'right' }, { title: 'before mean µs', align: 'right' },
      { title: 'after mean µs', align: 'right' }],
    results.map((r) => [r.name, r.medianBeforeIops.toLocaleString('en'), r.medianAfterIops.toLocaleString('en'),
      `${r.medianRatio}x`, String(r.medianBeforeMeanUs), String(r.medianAfterMeanUs)]));
  writeFileSync(path.join(out, `ab-${label}.md`), `# Before and after: ${label}\n\n${m.cpu}, ${m.nproc} CPUs, ${m.kernel}, Node ${m.node}, `
    + `${m.date}\n\n${rounds} alternating rounds (before, after) per case; loopback cases: 1 target and 1 host reactor, `
    + '5 s after 1 s ramp; gateway cases: `bench:gateway` of each checkout. Medians.\n\n' + table + '\n');
}

main();
