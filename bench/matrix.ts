/**
 * `npm run bench:matrix`: the TCP-against-RDMA study. For each transport (RDMA where a
 * device is present), reactor count and path (straight to a target, through the gateway, or
 * through a DPU), runs the workloads of matrix-cases.ts with the native perf engine against a
 * null bdev. Each role (the target, the gateway, its backend, the DPU) runs in a child
 * process and the host here, and each role's CPU is reported.
 * Writes matrix.json, matrix.md and the IOPS, latency and CPU charts (SVG and PNG) to
 * bench/results or --out; a progress line per cell to stderr.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError } from '../lib/errors';
import { perfOptions, runPerf } from '../lib/perf';
import { svgToPng } from './chart-png';
import { groupedBarSvg, type GroupedBarChart } from './chart-svg';
import { loadMeter, machine, USER_HZ } from './machine';
import { MATRIX_USAGE, matrixOptions, type MatrixOptions } from './matrix-args';
import { cellLabel, matrixCells, WORKLOADS, type CellSpec } from './matrix-cases';
import { cellMetrics, withRoleCpu, type CellKey, type CellResult } from './matrix-cell';
import { cpuChart, iopsChart, latencyChart, loadLine, matrixMarkdown, type MatrixRun, type RdmaStatus } from './matrix-report';
import { LOOPBACK, rdmaStatus, startRig, type Rig } from './matrix-rig';
import type { ServerRole } from './matrix-role-spec';

/** Connecting, and tearing down, per cell: for the time-left estimate only. */
const CELL_OVERHEAD_S = 0.5;
const NUMBER = new Intl.NumberFormat('en-US');

const keyOf = (c: CellSpec): CellKey => ({ transport: c.transport, reactors: c.reactors, path: c.path, workload: c.workload.name });
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

function formatDuration(s: number): string {
  const whole = Math.max(0, Math.round(s));
  return whole >= 60 ? `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s` : `${whole}s`;
}

/** The cells that share a setup and a path, and so one rig. */
function groups(cells: CellSpec[]): CellSpec[][] {
  const out: CellSpec[][] = [];
  for (const c of cells) {
    const last = out[out.length - 1];
    if (last && last[0].transport === c.transport && last[0].reactors === c.reactors && last[0].path === c.path) last.push(c);
    else out.push([c]);
  }
  return out;
}

async function measureCell(c: CellSpec, rig: Rig, o: MatrixOptions): Promise<CellResult> {
  const w = c.workload;
  // The roles' processes: their CPU around the whole run, scaled to the counted window.
  const before = rig.roleCpuSeconds();
  const startMs = performance.now();
  const report = await runPerf(perfOptions({
    transport: rig.transport, traddr: rig.traddr, trsvcid: rig.trsvcid, nqn: rig.nqn,
    rw: w.rw, bs: w.bs, iodepth: w.iodepth, rwmixread: w.rwmixread,
    // A job per reactor, each on its own I/O queue: one job would leave the other reactors idle.
    numjobs: c.reactors, hostReactors: c.reactors,
    runtime: o.runtimeS, rampTime: o.rampS,
  }));
  const wallS = (performance.now() - startMs) / 1000;
  const after = rig.roleCpuSeconds();
  const samples = Object.fromEntries(Object.entries(after).map(([role, cpuS]) => [role, { cpuS: cpuS - (before[role as ServerRole] ?? 0), wallS }]));
  return { ...keyOf(c), status: 'measured', ...withRoleCpu(cellMetrics(report), report.cpu, samples) };
}

function progressLine(index: number, total: number, c: CellSpec, r: CellResult, leftS: number): string {
  const head = `[${index}/${total}] ${cellLabel(c)}`;
  const left = leftS > 0 ? ` (about ${formatDuration(leftS)} left)` : '';
  if (r.status !== 'measured') return `${head}: ${r.status}: ${r.reason}${left}`;
  const roles = ` (${Object.entries(r.roleCpu).map(([role, v]) => `${role} ${v}`).join(', ')})`;
  return `${head}: ${NUMBER.format(r.iops)} IOPS, ${r.mibPerS} MiB/s, mean ${r.meanUs} µs, p99 ${r.p99Us} µs, ` +
    `${r.cpuSecondsPerMillionIos} CPU-s/M I/O${roles}${left}`;
}

async function runMatrix(o: MatrixOptions, specs: CellSpec[], rdmaState: RdmaStatus): Promise<CellResult[]> {
  const results: CellResult[] = [];
  let toRun = specs.filter((c) => c.transport === 'tcp' || rdmaState.available).length;
  const report = (c: CellSpec, r: CellResult) => {
    results.push(r);
    toRun--;
    console.error(progressLine(results.length, specs.length, c, r, toRun * (o.runtimeS + o.rampS + CELL_OVERHEAD_S)));
  };
  for (const group of groups(specs)) {
    const { transport, reactors, path: where } = group[0];
    if (transport === 'rdma' && !rdmaState.available) {
      // Recorded cell by cell, but one line for the lot.
      results.push(...group.map((c): CellResult => ({ ...keyOf(c), status: 'skipped', reason: rdmaState.reason })));
      console.error(`[${results.length - group.length + 1}-${results.length}/${specs.length}] ${transport} r${reactors} ${where}, ` +
        `${group.length} cell${group.length === 1 ? '' : 's'}: skipped: ${rdmaState.reason}`);
      continue;
    }
    const address = transport === 'rdma' && rdmaState.available ? rdmaState.address : LOOPBACK;
    let rig: Rig;
    try {
      rig = await startRig({ transport, reactors, path: where, address });
    } catch (e) {
      for (const c of group) report(c, { ...keyOf(c), status: 'failed', reason: `setting up: ${message(e)}` });
      continue;
    }
    try {
      for (const c of group) {
        let r: CellResult;
        try {
          r = await measureCell(c, rig, o);
        } catch (e) {
          const trouble = rig.trouble?.();
          r = { ...keyOf(c), status: 'failed', reason: trouble ? `${message(e)} (${trouble})` : message(e) };
        }
        report(c, r);
      }
    } finally {
      await rig.close();
    }
  }
  return results;
}

function commandLine(argv: string[]): string {
  const quoted = argv.map((a) => (/^[\w.,:/=-]+$/.test(a) ? a : JSON.stringify(a)));
  return `npm run bench:matrix${quoted.length > 0 ? ` -- ${quoted.join(' ')}` : ''}`;
}

function writeChart(outDir: string, name: string, chart: GroupedBarChart): string[] {
  const svg = groupedBarSvg(chart);
  const files = [path.join(outDir, `${name}.svg`), path.join(outDir, `${name}.png`)];
  writeFileSync(files[0], svg);
  writeFileSync(files[1], svgToPng(svg));
  return files;
}

async function main(argv: string[]): Promise<number> {
  let o: MatrixOptions | undefined;
  try {
    o = matrixOptions(argv);
  } catch (e) {
    if (!(e instanceof InvalidArgumentError)) throw e;
    console.error(`${e.message}\n${MATRIX_USAGE}`);
    return 2;
  }
  if (!o) {
    console.log(MATRIX_USAGE);
    return 0;
  }
  const specs = matrixCells(o.reactorCounts, o.only);
  if (specs.length === 0) {
    console.error(`no cell matches --only ${JSON.stringify(o.only)}; labels look like "tcp r2 gateway 4k randread QD64"`);
    return 2;
  }
  const rdmaState = rdmaStatus(o.rdmaAddress);
  console.error(`bench:matrix: ${specs.length} cells, ${o.runtimeS} s + ${o.rampS} s ramp each; RDMA: ` +
    `${rdmaState.available ? `${rdmaState.device} at ${rdmaState.address}` : rdmaState.reason}`);
  const meter = loadMeter();
  const cells = await runMatrix(o, specs, rdmaState);
  const load = meter?.end();

  const { outDir, ...recorded } = o;
  const run: MatrixRun = { machine: machine(), options: recorded, command: commandLine(argv), rdma: rdmaState, cells, load };
  mkdirSync(outDir, { recursive: true });
  const files = [path.join(outDir, 'matrix.json'), path.join(outDir, 'matrix.md')];
  const json = {
    ...run,
    // null rather than absent: the JSON says the flag was not given.
    options: { ...recorded, only: recorded.only ?? null, rdmaAddress: recorded.rdmaAddress ?? null },
    method: {
      bdev: 'null', engine: 'native', jobsPerReactor: 1, gatewayBackend: 'NVMe/TCP over loopback',
      process: 'one per role: the host (this one); the target (direct), the gateway and the backend (gateway), and the DPU (dpu)',
      gatewayPath: 'host -(the transport under test)-> gateway -(NVMe/TCP, loopback)-> backend',
      dpuPath: 'host -(NVMe/TCP, loopback)-> DPU -(the transport under test)-> gateway -(NVMe/TCP, loopback)-> backend',
      roleCpu: 'host from this process over the counted window; every other role from /proc/<pid>/stat ' +
        `(utime + stime at USER_HZ ${USER_HZ}) around the whole perf run, its rate scaled to the counted window`,
    },
    workloads: WORKLOADS,
  };
  writeFileSync(files[0], `${JSON.stringify(json, null, 2)}\n`);
  const md = matrixMarkdown(run);
  writeFileSync(files[1], md);
  files.push(...writeChart(outDir, 'matrix-iops', iopsChart(run)));
  files.push(...writeChart(outDir, 'matrix-latency', latencyChart(run)));
  files.push(...writeChart(outDir, 'matrix-cpu', cpuChart(run)));
  console.log(md);
  const shown = (f: string) => (path.relative(process.cwd(), f).startsWith('..') ? f : path.relative(process.cwd(), f));
  console.error(`wrote ${files.map(shown).join(', ')}`);
  console.error(loadLine(load, run.machine.nproc));
  const failed = cells.filter((c) => c.status === 'failed').length;
  if (failed > 0) console.error(`${failed} cell(s) failed: see matrix.md`);
  return failed > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => { console.error(e); process.exitCode = 1; },
);
