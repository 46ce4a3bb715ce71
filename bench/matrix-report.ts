/**
 * What a matrix run writes, from its cells: the markdown report and the three charts'
 * data. Pure, so that the tests can feed it made-up cells.
 */
import { formatCompact, PALETTE, type BarSeries, type GroupedBarChart } from './chart-svg';
import type { Machine } from './machine';
import type { MatrixOptions } from './matrix-args';
import { LATENCY_WORKLOAD, PATHS, setupLabel, WORKLOADS, type PathKind } from './matrix-cases';
import type { CellResult, MeasuredCell } from './matrix-cell';
import { markdownTable, type Column } from './table';

export type RdmaStatus = { available: true; device: string; address: string } | { available: false; reason: string };

export interface MatrixRun {
  machine: Machine;
  options: Omit<MatrixOptions, 'outDir'>;
  /** How the run was started, to repeat it. */
  command: string;
  rdma: RdmaStatus;
  cells: CellResult[];
}

const NUMBER = new Intl.NumberFormat('en-US');
const IMAGE = { iops: 'matrix-iops.png', latency: 'matrix-latency.png', cpu: 'matrix-cpu.png' };

const measured = (cells: readonly CellResult[]) => cells.filter((c): c is MeasuredCell => c.status === 'measured');

/** The setups ("tcp r1", ...) with at least one measured cell, in run order. */
export function measuredSetups(cells: readonly CellResult[]): string[] {
  return [...new Set(measured(cells).map(setupLabel))];
}

/** Workloads and paths that the run covered, in the matrix's order. */
function rowKeys(cells: readonly CellResult[]): { workload: string; path: PathKind }[] {
  return WORKLOADS.flatMap((w) => PATHS.map((path) => ({ workload: w.name, path })))
    .filter((k) => cells.some((c) => c.workload === k.workload && c.path === k.path));
}

function find(cells: readonly CellResult[], setup: string, path: PathKind, workload: string): CellResult | undefined {
  return cells.find((c) => setupLabel(c) === setup && c.path === path && c.workload === workload);
}

function cellText(c: CellResult | undefined, value: (m: MeasuredCell) => string): string {
  if (!c) return '';
  return c.status === 'measured' ? value(c) : c.status;
}

const us = (v: number) => (v >= 100 ? NUMBER.format(Math.round(v)) : v.toFixed(1));
const cpu = (v: number) => String(Number(v.toPrecision(3)));

/** rows = workload x path, a column per setup. */
export function comparisonTable(cells: readonly CellResult[], value: (m: MeasuredCell) => string): string {
  const setups = measuredSetups(cells);
  const columns: Column[] = [{ title: 'workload' }, { title: 'path' }, ...setups.map((s) => ({ title: s, align: 'right' as const }))];
  const rows = rowKeys(cells).map((k) => [k.workload, k.path, ...setups.map((s) => cellText(find(cells, s, k.path, k.workload), value))]);
  return markdownTable(columns, rows);
}

export function iopsTable(cells: readonly CellResult[]): string {
  return comparisonTable(cells, (m) => NUMBER.format(m.iops));
}

export function cpuTable(cells: readonly CellResult[]): string {
  return comparisonTable(cells, (m) => cpu(m.cpuSecondsPerMillionIos));
}

export function latencyTable(cells: readonly CellResult[]): string {
  const qd1 = measured(cells).filter((c) => c.workload === LATENCY_WORKLOAD);
  const columns: Column[] = [{ title: 'setup' }, { title: 'path' },
    ...['mean', 'p50', 'p99', 'p99.9'].map((t) => ({ title: `${t} µs`, align: 'right' as const }))];
  return markdownTable(columns, qd1.map((c) => [setupLabel(c), c.path, us(c.meanUs), us(c.p50Us), us(c.p99Us), us(c.p999Us)]));
}

export function everyCellTable(cells: readonly CellResult[]): string {
  const titles = ['IOPS', 'MiB/s', 'mean µs', 'p50 µs', 'p99 µs', 'p99.9 µs', 'usr %', 'sys %', 'CPU-s / M I/O'];
  const columns: Column[] = [{ title: 'setup' }, { title: 'path' }, { title: 'workload' },
    ...titles.map((title) => ({ title, align: 'right' as const }))];
  return markdownTable(columns, measured(cells).map((c) => [setupLabel(c), c.path, c.workload, NUMBER.format(c.iops),
    String(c.mibPerS), us(c.meanUs), us(c.p50Us), us(c.p99Us), us(c.p999Us), String(c.usrCpu), String(c.sysCpu),
    cpu(c.cpuSecondsPerMillionIos)]));
}

/**
 * One series per setup and path, a colour per setup, striped for the gateway path;
 * `value` picks a bar from the series' own cells, or null for none.
 */
function seriesOf(cells: readonly CellResult[], categories: readonly string[],
  value: (own: MeasuredCell[], category: string) => number | null): BarSeries[] {
  const done = measured(cells);
  return measuredSetups(cells).flatMap((setup, i) => PATHS
    .map((path) => ({ path, own: done.filter((c) => setupLabel(c) === setup && c.path === path) }))
    .filter(({ own }) => own.length > 0)
    .map(({ path, own }) => ({
      label: `${setup} ${path}`,
      color: PALETTE[i % PALETTE.length],
      hatched: path === 'gateway',
      values: categories.map((category) => value(own, category)),
    })));
}

/** The bar of the series' cell for this workload. */
const byWorkload = (pick: (m: MeasuredCell) => number) => (own: MeasuredCell[], workload: string) => {
  const c = own.find((m) => m.workload === workload);
  return c ? pick(c) : null;
};

function measuredWorkloads(cells: readonly CellResult[]): string[] {
  return WORKLOADS.map((w) => w.name).filter((name) => measured(cells).some((c) => c.workload === name));
}

function subtitle(run: Pick<MatrixRun, 'machine' | 'options'>): string {
  const m = run.machine;
  return `${m.cpu}, ${m.nproc} CPUs; null bdev; ${run.options.runtimeS} s per cell after ${run.options.rampS} s ramp` +
    `${run.options.quick ? ' (quick run)' : ''}; striped bars: through the gateway`;
}

export function iopsChart(run: Pick<MatrixRun, 'machine' | 'options' | 'cells'>): GroupedBarChart {
  const categories = measuredWorkloads(run.cells);
  return {
    title: 'IOPS per workload',
    subtitle: subtitle(run),
    yLabel: 'IOPS',
    categories,
    series: seriesOf(run.cells, categories, byWorkload((m) => m.iops)),
  };
}

const LATENCY_STATS: Record<string, (m: MeasuredCell) => number> = { mean: (m) => m.meanUs, p99: (m) => m.p99Us };

export function latencyChart(run: Pick<MatrixRun, 'machine' | 'options' | 'cells'>): GroupedBarChart {
  const qd1 = run.cells.filter((c) => c.workload === LATENCY_WORKLOAD);
  return {
    title: `Completion latency, ${LATENCY_WORKLOAD}`,
    subtitle: subtitle(run),
    yLabel: 'completion latency, µs',
    categories: Object.keys(LATENCY_STATS),
    series: seriesOf(qd1, Object.keys(LATENCY_STATS), (own, stat) => (own[0] ? LATENCY_STATS[stat](own[0]) : null)),
    formatValue: (v) => (v >= 100 ? String(Math.round(v)) : String(Number(v.toFixed(1)))),
  };
}

export function cpuChart(run: Pick<MatrixRun, 'machine' | 'options' | 'cells'>): GroupedBarChart {
  const categories = measuredWorkloads(run.cells);
  return {
    title: 'CPU-seconds per million I/O: target, gateway and host together',
    subtitle: subtitle(run),
    yLabel: 'CPU-seconds per million I/O',
    categories,
    series: seriesOf(run.cells, categories, byWorkload((m) => m.cpuSecondsPerMillionIos)),
    formatValue: (v) => (v >= 1000 ? formatCompact(v) : String(Number(v.toPrecision(3)))),
  };
}

function rdmaLine(run: MatrixRun): string {
  if (!run.rdma.available) return `RDMA: not measured: ${run.rdma.reason}.`;
  const selected = run.cells.some((c) => c.transport === 'rdma');
  return selected ? `RDMA: on ${run.rdma.device}, ${run.rdma.address}.` : `RDMA: ${run.rdma.device} is present, but --only left it out.`;
}

export function matrixMarkdown(run: MatrixRun): string {
  const { machine: m, options: o } = run;
  const failed = run.cells.filter((c): c is Exclude<CellResult, MeasuredCell> => c.status === 'failed');
  const lines = [
    '# NVMe-oF transport matrix: TCP and RDMA, straight to the target and through the gateway',
    '',
    `${m.cpu}, ${m.nproc} CPUs, ${m.kernel}, Node ${m.node}, ${m.date}`,
    '',
    `Null bdev; the native perf engine; ${o.runtimeS} s counted per cell after ${o.rampS} s of ramp` +
      `${o.quick ? ' (a quick run: a smoke test, not figures to quote)' : ''}.`,
    'A setup such as "tcp r2" is the transport and the reactor count, the same for the target (or the backend and the gateway)',
    'and for the host; the host runs one job per reactor, each on its own I/O queue at the workload\'s queue depth.',
    'Path "direct": the host to the target. Path "gateway": the host to a gateway that attaches a backend target over',
    'loopback NVMe/TCP and re-exports it over the transport under test.',
    '',
    'Target, gateway and host run in one process on this machine\'s cores: usr/sys CPU (percent of one core) is the whole',
    'process\'s, so CPU-seconds per million I/O is the cost of all ends together, not of one of them.',
    '',
    rdmaLine(run),
    '',
    `Reproduce: \`${run.command}\`.`,
    '',
    `![IOPS by workload](${IMAGE.iops})`,
    '',
    '## IOPS',
    '',
    iopsTable(run.cells),
    '',
    `## Latency, ${LATENCY_WORKLOAD}`,
    '',
    `![latency](${IMAGE.latency})`,
    '',
    latencyTable(run.cells),
    '',
    '## CPU-seconds per million I/O',
    '',
    `![CPU per I/O](${IMAGE.cpu})`,
    '',
    cpuTable(run.cells),
    '',
    '## Every cell',
    '',
    everyCellTable(run.cells),
  ];
  if (failed.length > 0) {
    lines.push('', '## Failed cells', '', ...failed.map((c) => `- ${setupLabel(c)} ${c.path} ${c.workload}: ${c.reason}`));
  }
  return `${lines.join('\n')}\n`;
}
