/**
 * What a matrix run writes, from its cells: the markdown report and the three charts'
 * data. Pure, so that the tests can feed it made-up cells.
 */
import { formatCompact, PALETTE, type BarSeries, type GroupedBarChart } from './chart-svg';
import type { Machine, RunLoad } from './machine';
import type { MatrixOptions } from './matrix-args';
import { LATENCY_WORKLOAD, PATHS, setupLabel, WORKLOADS, type PathKind } from './matrix-cases';
import type { CellResult, MeasuredCell, RoleCpu } from './matrix-cell';
import { markdownTable, type Column } from './table';

export type RdmaStatus = { available: true; device: string; address: string } | { available: false; reason: string };

export interface MatrixRun {
  machine: Machine;
  options: Omit<MatrixOptions, 'outDir'>;
  /** How the run was started, to repeat it. */
  command: string;
  rdma: RdmaStatus;
  cells: CellResult[];
  /** What else the machine did meanwhile; absent where /proc could not be read. */
  load?: RunLoad;
}

/** Other processes' CPU above this, on average, and the run is not called quiet. */
export const QUIET_OTHER_CORES = 0.2;

export function loadLine(load: RunLoad | undefined, nproc: number): string {
  if (!load) return 'Load during the run: not measured (/proc/stat unreadable).';
  const quiet = load.otherCores <= QUIET_OTHER_CORES;
  return `Load during the run: other processes used ${load.otherCores} of the ${nproc} CPUs on average (/proc/stat less this ` +
    `benchmark's own processes), steal ${load.stealCores}; 1-minute load average ${load.loadavgStart} at the start, ` +
    `${load.loadavgEnd} at the end${quiet ? '.' : ': not a quiet machine, the figures were taken beside other work.'}`;
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

const ROLE_TITLES: Record<keyof RoleCpu, string> = { host: 'host', target: 'target', dpu: 'DPU', gateway: 'gateway', backend: 'backend' };

/**
 * Per role: CPU-seconds per million I/O of each role's process, and all of them together,
 * a row per cell; empty where the path has no such role.
 */
export function roleCpuTable(cells: readonly CellResult[]): string {
  const roles = Object.keys(ROLE_TITLES) as (keyof RoleCpu)[];
  const rows = measured(cells).map((c) => [setupLabel(c), c.path, c.workload,
    ...roles.map((role) => { const v = c.roleCpu[role]; return v === undefined ? '' : cpu(v); }),
    cpu(c.cpuSecondsPerMillionIos)]);
  const titles = [...roles.map((role) => ROLE_TITLES[role]), 'all'];
  return markdownTable([{ title: 'setup' }, { title: 'path' }, { title: 'workload' },
    ...titles.map((title) => ({ title, align: 'right' as const }))], rows);
}

/**
 * One series per setup and path, a colour per setup, striped for the gateway path and dotted
 * for the dpu path; `value` picks a bar from the series' own cells, or null for none.
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
      dotted: path === 'dpu',
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
    `${run.options.quick ? ' (quick run)' : ''}; striped bars: through the gateway; dotted: host via a DPU`;
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
    title: 'CPU-seconds per million I/O: every role together (host, target, gateway, backend, DPU)',
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

/** The "CPU per role" section, when a cell was measured; else nothing. */
function roleSection(cells: readonly CellResult[]): string[] {
  if (measured(cells).length === 0) return [];
  return [
    '## CPU per role',
    '',
    'CPU-seconds per million I/O, each role a process of its own. "host": the bench process, which holds only the perf',
    'engine and its NVMe-oF connection, over the counted window. "target": the direct path\'s target. "DPU": the DPU\'s',
    'process (the target the host connects to and its own NVMe host towards the gateway). "gateway": the gateway\'s',
    'process (its target and its NVMe host towards the backend). "backend": the backend null target. The roles other than',
    'the host are read from /proc/<pid>/stat (utime + stime) around the whole perf run, ramp included, and their rate is',
    'scaled to the counted window. Reactors poll a while before they sleep, so a role\'s figure includes CPU spent waiting',
    'for the others: a slower path costs more per I/O at every role, and where all processes share the same cores they',
    'also take cores from each other.',
    '',
    roleCpuTable(cells),
    '',
  ];
}

export function matrixMarkdown(run: MatrixRun): string {
  const { machine: m, options: o } = run;
  const failed = run.cells.filter((c): c is Exclude<CellResult, MeasuredCell> => c.status === 'failed');
  const lines = [
    '# NVMe-oF transport matrix: TCP and RDMA, straight to the target, through the gateway and through a DPU',
    '',
    `${m.cpu}, ${m.nproc} CPUs, ${m.kernel}, Node ${m.node}, ${m.date}`,
    '',
    loadLine(run.load, m.nproc),
    '',
    `Null bdev; the native perf engine; ${o.runtimeS} s counted per cell after ${o.rampS} s of ramp` +
      `${o.quick ? ' (a quick run: a smoke test, not figures to quote)' : ''}.`,
    'A setup such as "tcp r2" is the transport and the reactor count, the same for the target (or the backend and the gateway)',
    'and for the host; the host runs one job per reactor, each on its own I/O queue at the workload\'s queue depth.',
    'Path "direct": the host to the target. Path "gateway": the host to a gateway that attaches a backend target over',
    'loopback NVMe/TCP and re-exports it over the transport under test. Path "dpu", host via a DPU: the host to a DPU',
    'that attaches the gateway over the transport under test and re-exports it to the host over loopback NVMe/TCP',
    '(where a real DPU presents a PCIe function); the gateway attaches its backend target over loopback NVMe/TCP, as on',
    'the gateway path.',
    '',
    'Each role runs in a process of its own on this machine\'s cores: the host (the bench process, which holds only the',
    'perf engine), and the target, or the gateway and its backend, or those and the DPU. usr/sys CPU (percent of one',
    'core) is the host\'s; CPU-seconds per million I/O is every role\'s together, and "CPU per role" below splits it.',
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
    ...roleSection(run.cells),
    '## Every cell',
    '',
    everyCellTable(run.cells),
  ];
  if (failed.length > 0) {
    lines.push('', '## Failed cells', '', ...failed.map((c) => `- ${setupLabel(c)} ${c.path} ${c.workload}: ${c.reason}`));
  }
  return `${lines.join('\n')}\n`;
}
