/**
 * `npm run bench:loopback`: host to target over loopback TCP in one process, 1 target
 * reactor and 1 host reactor, the native engine. 4 KiB random reads at QD1 and QD64,
 * 4 KiB random writes at QD64, 128 KiB sequential reads and writes at QD16, each 5 s
 * after 1 s of ramp, on a null bdev; then 4 KiB randread QD64 on a malloc bdev, and the
 * js engine at QD1 and QD64 (its host polled by the JS thread, and at QD64 also by a
 * reactor). The js/native ratio comes from RATIO_PAIRS alternating runs of both engines,
 * since this machine's speed drifts within minutes. CPU is the whole process's (target,
 * host and engine), so CPU-seconds per million I/O is the cost of both ends together. Last,
 * QD1_PAIRS alternating runs of the native QD1 case and of the kernel's floor under it: the
 * same bytes as a 4 KiB read (a 72-byte command capsule out, a 24-byte C2HData header and
 * 4 KiB back) between two busy-polling threads, so that each QD1 mean has a floor measured
 * beside it.
 * Writes bench/results/loopback.json and loopback.md.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { cpuPerMillion, perfOptions, runPerf, tcpRoundTrip, type PerfEngineName, type PerfOptionsInput, type PerfReport,
  type TcpRoundTrip } from '../lib/perf';
import { machine, resultsOutput } from './machine';
import { median } from './median';

interface Case {
  name: string;
  options: PerfOptionsInput;
}

interface Row {
  name: string;
  engine: PerfEngineName;
  bdev: string;
  rw: string;
  bs: number;
  iodepth: number;
  iops: number;
  mibPerS: number;
  meanUs: number;
  p99Us: number;
  /** Percent of one core, over the counted window. */
  usrCpu: number;
  sysCpu: number;
  cpuSecondsPerMillionIos: number;
}

/** A command capsule out; a C2HData header with 4 KiB of data back. */
const FLOOR = { requestBytes: 72, responseBytes: 24 + 4096, roundTrips: 100000 };

const COMMON: PerfOptionsInput = { target: 'local', targetReactors: 1, hostReactors: 1, runtime: 5, rampTime: 1 };
const RATIO_CASE = '4k randread QD64';
const QD1_CASE = '4k randread QD1';

const CASES: Case[] = [
  { name: QD1_CASE, options: { rw: 'randread', bs: '4k', iodepth: 1 } },
  { name: RATIO_CASE, options: { rw: 'randread', bs: '4k', iodepth: 64 } },
  { name: '4k randwrite QD64', options: { rw: 'randwrite', bs: '4k', iodepth: 64 } },
  { name: '128k read QD16', options: { rw: 'read', bs: '128k', iodepth: 16 } },
  { name: '128k write QD16', options: { rw: 'write', bs: '128k', iodepth: 16 } },
  { name: `${RATIO_CASE} (malloc)`, options: { rw: 'randread', bs: '4k', iodepth: 64, bdev: 'malloc' } },
  { name: '4k randread QD1 (js engine)', options: { rw: 'randread', bs: '4k', iodepth: 1, engine: 'js' } },
  { name: `${RATIO_CASE} (js engine)`, options: { rw: 'randread', bs: '4k', iodepth: 64, engine: 'js' } },
  { name: `${RATIO_CASE} (js engine, host reactor)`, options: { rw: 'randread', bs: '4k', iodepth: 64, engine: 'js', polling: 'reactor' } },
];

/** Alternating native and js runs of RATIO_CASE for the ratio. */
const RATIO_PAIRS = 3;
/** Alternating native QD1 runs and floor timings. */
const QD1_PAIRS = 5;

interface RatioPair {
  nativeIops: number;
  jsIops: number;
  ratio: number;
}

interface LatencyPair {
  engineUs: number;
  floorUs: number;
}

function row(name: string, r: PerfReport): Row {
  const o = r.options;
  const d = o.readPercent > 0 ? r.read : r.write;
  const s = d.runtimeNs / 1e9;
  const wall = r.cpu.wallS;
  return {
    name,
    engine: r.engine,
    bdev: r.target.local?.bdev ?? 'remote',
    rw: o.rw,
    bs: o.bs,
    iodepth: o.iodepth,
    iops: Math.round(d.ios / s),
    mibPerS: Math.round((d.bytes / s / 2 ** 20) * 10) / 10,
    meanUs: Math.round(d.latency.mean() / 100) / 10,
    p99Us: Math.round(d.latency.percentile(99) / 100) / 10,
    usrCpu: Math.round((r.cpu.userS / wall) * 1000) / 10,
    sysCpu: Math.round((r.cpu.systemS / wall) * 1000) / 10,
    cpuSecondsPerMillionIos: cpuPerMillion(r),
  };
}

function markdown(rows: Row[], m: ReturnType<typeof machine>, pairs: RatioPair[], qd1: LatencyPair[]): string {
  const lines = [
    '# Loopback NVMe/TCP: host to target in one process',
    '',
    `${m.cpu}, ${m.nproc} CPUs, ${m.kernel}, Node ${m.node}, ${m.date}`,
    '',
    '1 target reactor, 1 host reactor (the js engine: its host polled by the JS thread, unless the case says',
    'otherwise), one job; 5 s counted after 1 s ramp. CPU is the whole process (target + host + engine), in',
    'percent of one core.',
    '',
    '| case | engine | bdev | IOPS | MiB/s | mean µs | p99 µs | usr % | sys % | CPU-s / M I/O |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${r.engine} | ${r.bdev} | ${r.iops.toLocaleString('en-US')} | ${r.mibPerS} | ${r.meanUs} | ${r.p99Us} | ` +
      `${r.usrCpu} | ${r.sysCpu} | ${r.cpuSecondsPerMillionIos} |`),
  ];
  lines.push('', `js/native IOPS, ${RATIO_CASE} on null, ${pairs.length} alternating pairs of runs: ` +
    `${pairs.map((p) => `${p.ratio.toFixed(2)}x (${kilo(p.jsIops)} / ${kilo(p.nativeIops)})`).join(', ')}; ` +
    `median ${median(pairs.map((p) => p.ratio)).toFixed(2)}x.`);
  lines.push('', `${QD1_CASE} beside the kernel's floor under it (${FLOOR.requestBytes} B out and ${FLOOR.responseBytes} B back ` +
    'over loopback TCP between two busy-polling threads, no NVMe), mean µs in ' +
    `${qd1.length} alternating pairs of runs (engine / floor): ${qd1.map((p) => `${us(p.engineUs)} / ${us(p.floorUs)}`).join(', ')}; ` +
    `medians ${us(median(qd1.map((p) => p.engineUs)))} / ${us(median(qd1.map((p) => p.floorUs)))}, ` +
    `median difference ${us(median(qd1.map((p) => p.engineUs - p.floorUs)))}.`);
  return `${lines.join('\n')}\n`;
}

const us = (v: number): string => v.toFixed(1);

const kilo = (iops: number): string => `${Math.round(iops / 1000)}k`;

async function run(c: Case): Promise<Row> {
  console.error(`running ${c.name} ...`);
  return row(c.name, await runPerf(perfOptions({ ...COMMON, ...c.options })));
}

async function main(): Promise<void> {
  const { dir: out } = resultsOutput('loopback', process.argv.slice(2));
  const rows: Row[] = [];
  for (const c of CASES) rows.push(await run(c));
  const pairs: RatioPair[] = [];
  const byName = (name: string) => CASES.find((c) => c.name === name)!;
  for (let i = 0; i < RATIO_PAIRS; i++) {
    const native = await run(byName(RATIO_CASE));
    const js = await run(byName(`${RATIO_CASE} (js engine)`));
    pairs.push({ nativeIops: native.iops, jsIops: js.iops, ratio: js.iops / native.iops });
  }
  const qd1: LatencyPair[] = [];
  const floors: TcpRoundTrip[] = [];
  for (let i = 0; i < QD1_PAIRS; i++) {
    const engine = await run(byName(QD1_CASE));
    console.error('timing the loopback TCP floor ...');
    const floor = await tcpRoundTrip(FLOOR.roundTrips, FLOOR.requestBytes, FLOOR.responseBytes);
    floors.push(floor);
    qd1.push({ engineUs: engine.meanUs, floorUs: floor.meanUs });
  }
  const m = machine();
  const results = {
    machine: m,
    rows,
    jsNativeRatio: { pairs, median: median(pairs.map((p) => p.ratio)) },
    qd1AgainstFloor: { ...FLOOR, pairs: qd1, floors, medianDifferenceUs: median(qd1.map((p) => p.engineUs - p.floorUs)) },
  };
  writeFileSync(path.join(out, 'loopback.json'), `${JSON.stringify(results, null, 2)}\n`);
  const md = markdown(rows, m, pairs, qd1);
  writeFileSync(path.join(out, 'loopback.md'), md);
  console.log(md);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
