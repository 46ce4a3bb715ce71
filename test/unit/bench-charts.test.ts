/**
 * bench:matrix's pure parts: the SVG bar chart, the markdown tables, a cell's arithmetic,
 * the cells the axes span and the command line. Made-up figures only: nothing here
 * measures anything or loads the addon.
 */
import assert from 'node:assert/strict';
import { escapeXml, formatCompact, groupedBarSvg, niceStep, type GroupedBarChart } from '../../bench/chart-svg';
import type { Machine } from '../../bench/machine';
import { matrixOptions } from '../../bench/matrix-args';
import { cellLabel, defaultReactorCounts, matrixCells, PATHS, TRANSPORTS, WORKLOADS } from '../../bench/matrix-cases';
import { cellMetrics, cpuSecondsPerMillion, type CellResult, type MeasuredCell } from '../../bench/matrix-cell';
import { cpuTable, iopsChart, iopsTable, latencyChart, latencyTable, matrixMarkdown, type MatrixRun } from '../../bench/matrix-report';
import { markdownTable } from '../../bench/table';
import { InvalidArgumentError } from '../../lib/errors';
import { LatencyHistogram } from '../../lib/perf/histogram';

/** Tags balance, attributes are quoted, and every & starts an entity: enough to know a viewer will parse it. */
function assertWellFormedXml(xml: string): void {
  const entity = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;
  const tag = /^<(\/)?([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/)?>$/;
  const stack: string[] = [];
  let roots = 0;
  let at = 0;
  for (const m of xml.matchAll(/<[^>]*>/g)) {
    const text = xml.slice(at, m.index);
    assert.ok(!text.includes('<') && !entity.test(text), `bad text before offset ${m.index}: ${JSON.stringify(text)}`);
    at = m.index + m[0].length;
    const t = tag.exec(m[0]);
    assert.ok(t, `malformed tag ${m[0]}`);
    assert.ok(!entity.test(t[3]), `bare & in the attributes of ${m[0]}`);
    const [, closing, name, , selfClosing] = t;
    if (closing) {
      assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    } else {
      if (stack.length === 0) roots++;
      if (!selfClosing) stack.push(name);
    }
  }
  assert.equal(xml.slice(at).trim(), '', 'nothing after the root element');
  assert.deepEqual(stack, [], 'every element is closed');
  assert.equal(roots, 1, 'one root element');
}

const count = (text: string, needle: string) => text.split(needle).length - 1;

const MACHINE: Machine = { cpu: 'Test CPU', nproc: 2, kernel: 'Linux 6.1', node: 'v20.0.0', date: '2026-01-01T00:00:00.000Z' };

function measuredCell(over: Partial<MeasuredCell> & Pick<MeasuredCell, 'transport' | 'reactors' | 'path' | 'workload'>): MeasuredCell {
  return {
    status: 'measured', ios: 1000, runtimeS: 1, iops: 1000, mibPerS: 3.9, meanUs: 10, p50Us: 9, p99Us: 30, p999Us: 50,
    usrCpu: 20, sysCpu: 40, cpuSecondsPerMillionIos: 5, ...over,
  };
}

/** tcp at 1 and 2 reactors, both paths, two workloads; rdma skipped; one tcp cell failed. */
function sampleCells(): CellResult[] {
  const cells: CellResult[] = [];
  let iops = 100_000;
  for (const reactors of [1, 2]) {
    for (const path of PATHS) {
      for (const workload of ['4k randread QD64', '4k randread QD1']) {
        if (reactors === 2 && path === 'gateway' && workload === '4k randread QD1') {
          cells.push({ transport: 'tcp', reactors, path, workload, status: 'failed', reason: 'connect timed out' });
        } else {
          cells.push(measuredCell({ transport: 'tcp', reactors, path, workload, iops: iops++, cpuSecondsPerMillionIos: reactors + 0.25 }));
        }
      }
    }
  }
  cells.push({ transport: 'rdma', reactors: 1, path: 'direct', workload: '4k randread QD64', status: 'skipped', reason: 'no RDMA device' });
  return cells;
}

function sampleRun(cells = sampleCells()): MatrixRun {
  return {
    machine: MACHINE,
    options: { runtimeS: 1, rampS: 0.5, reactorCounts: [1, 2], only: undefined, quick: true, rdmaAddress: undefined },
    command: 'npm run bench:matrix -- --quick',
    rdma: { available: false, reason: 'no RDMA device' },
    cells,
  };
}

describe('bench:matrix charts, tables and arithmetic', () => {
  describe('groupedBarSvg', () => {
    const chart: GroupedBarChart = {
      title: 'IOPS <per> workload & path',
      subtitle: 'made up',
      yLabel: 'IOPS',
      categories: ['4k randread QD64', '128k "seq" read', 'empty'],
      series: [
        { label: 'tcp r1 direct', values: [123456, 20000, null] },
        { label: 'tcp r1 gateway', values: [45678, 7000, null], hatched: true },
        { label: 'rdma r1 direct', values: [0, 31500, null], color: '#123456' },
      ],
    };

    it('is well-formed XML with the title, axes and legend, text escaped', () => {
      const svg = groupedBarSvg(chart);
      assertWellFormedXml(svg);
      assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="[\d.]+" height="[\d.]+"/);
      assert.ok(svg.includes('IOPS &lt;per&gt; workload &amp; path'));
      assert.ok(svg.includes('128k &quot;seq&quot; read'));
      for (const s of chart.series) assert.ok(svg.includes(`>${s.label}</text>`), `legend names ${s.label}`);
      assert.ok(svg.includes('fill="url(#hatch-1)"'), 'the hatched series is filled with its pattern');
      assert.equal(count(svg, '<pattern '), 1);
      assert.ok(svg.includes('fill="#123456"'), 'a series keeps the colour it was given');
    });

    it('draws one bar per value, none for null, with each value over its bar', () => {
      const svg = groupedBarSvg(chart);
      const values = chart.series.flatMap((s) => s.values).filter((v): v is number => v !== null);
      assert.equal(count(svg, '<rect class="bar"'), values.length);
      assert.equal(count(svg, '<text class="value"'), values.length);
      for (const v of values) {
        assert.equal(count(svg, `data-value="${v}"`), 1, `one bar for ${v}`);
        assert.ok(svg.includes(`>${formatCompact(v)}</text>`), `the label ${formatCompact(v)} for ${v}`);
      }
      const bars = [...svg.matchAll(/<rect class="bar" data-value="([\d.]+)" x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"/g)];
      const byValue = new Map(bars.map((b) => [Number(b[1]), Number(b[2])]));
      assert.equal(byValue.get(0), 0, 'a zero is a bar of no height');
      assert.ok(byValue.get(123456)! > byValue.get(45678)!, 'taller bars for larger values');
    });

    it('uses the given value format, and refuses series that do not fit the categories', () => {
      const svg = groupedBarSvg({ ...chart, formatValue: (v) => `${v} io` });
      assert.ok(svg.includes('>123456 io</text>'));
      assert.throws(() => groupedBarSvg({ ...chart, series: [{ label: 'short', values: [1] }] }), /1 values for 3 categories/);
    });

    it('formats and scales numbers', () => {
      assert.deepEqual([950, 12345, 123456, 1234567, 0.5, 42.25].map(formatCompact), ['950', '12.3k', '123k', '1.23M', '0.5', '42.3']);
      assert.equal(niceStep(1000, 5), 200);
      assert.equal(niceStep(620000, 5), 200000);
      assert.equal(niceStep(0, 5), 1);
      assert.equal(escapeXml(`a<b>&"c'`), 'a&lt;b&gt;&amp;&quot;c&apos;');
    });
  });

  describe('markdown tables', () => {
    it('markdownTable: a header, an alignment row, one line per row; pipes escaped', () => {
      const md = markdownTable([{ title: 'name' }, { title: 'IOPS', align: 'right' }], [['a|b', '1'], ['c', '2']]);
      assert.deepEqual(md.split('\n'), ['| name | IOPS |', '|---|---:|', '| a\\|b | 1 |', '| c | 2 |']);
      assert.throws(() => markdownTable([{ title: 'one' }], [['a', 'b']]), /row 0 has 2 cells for 1 columns/);
    });

    it('the IOPS table: a row per workload and path, a column per measured setup', () => {
      const lines = iopsTable(sampleCells()).split('\n');
      assert.equal(lines[0], '| workload | path | tcp r1 | tcp r2 |', 'rdma, never measured, gets no column');
      assert.equal(lines[1], '|---|---|---:|---:|');
      const body = lines.slice(2).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
      assert.deepEqual(body.map((r) => `${r[0]} / ${r[1]}`), [
        '4k randread QD64 / direct', '4k randread QD64 / gateway', '4k randread QD1 / direct', '4k randread QD1 / gateway',
      ], 'the matrix order of workloads, then paths');
      assert.deepEqual(body[0], ['4k randread QD64', 'direct', '100,000', '100,004']);
      assert.deepEqual(body[3], ['4k randread QD1', 'gateway', '100,003', 'failed']);
    });

    it('the CPU table and the latency table', () => {
      const cpuLines = cpuTable(sampleCells()).split('\n');
      assert.equal(cpuLines.length, 2 + 4);
      assert.equal(cpuLines[2], '| 4k randread QD64 | direct | 1.25 | 2.25 |');
      const latency = latencyTable(sampleCells()).split('\n');
      assert.equal(latency[0], '| setup | path | mean µs | p50 µs | p99 µs | p99.9 µs |');
      assert.equal(latency.length, 2 + 3, 'the three measured QD1 cells');
      assert.equal(latency[2], '| tcp r1 | direct | 10.0 | 9.0 | 30.0 | 50.0 |');
    });

    it('the report: machine, the skip reason, the shared-process note, the failed cell, the charts', () => {
      const md = matrixMarkdown(sampleRun());
      assert.ok(md.includes('Test CPU, 2 CPUs, Linux 6.1, Node v20.0.0'));
      assert.ok(md.includes('RDMA: not measured: no RDMA device.'));
      assert.ok(md.includes('cost of all ends together'));
      assert.ok(md.includes('- tcp r2 gateway 4k randread QD1: connect timed out'));
      assert.ok(md.includes('`npm run bench:matrix -- --quick`'));
      for (const png of ['matrix-iops.png', 'matrix-latency.png', 'matrix-cpu.png']) assert.ok(md.includes(`](${png})`));
    });
  });

  describe('chart data from cells', () => {
    it('IOPS: a category per measured workload, a series per setup and path, gateway striped', () => {
      const chart = iopsChart(sampleRun());
      assert.deepEqual(chart.categories, ['4k randread QD64', '4k randread QD1']);
      assert.deepEqual(chart.series.map((s) => s.label), ['tcp r1 direct', 'tcp r1 gateway', 'tcp r2 direct', 'tcp r2 gateway']);
      assert.deepEqual(chart.series.map((s) => s.hatched), [false, true, false, true]);
      assert.equal(chart.series[0].color, chart.series[1].color, 'one colour per setup');
      assert.deepEqual(chart.series[3].values, [100006, null], 'the failed cell has no bar');
      assertWellFormedXml(groupedBarSvg(chart));
    });

    it('latency: mean and p99 of the QD1 cells', () => {
      const chart = latencyChart(sampleRun());
      assert.deepEqual(chart.categories, ['mean', 'p99']);
      assert.deepEqual(chart.series.map((s) => s.values), [[10, 30], [10, 30], [10, 30]]);
    });
  });

  describe('a cell from a perf report', () => {
    it('CPU-seconds per million I/O', () => {
      assert.equal(cpuSecondsPerMillion(3, 2_000_000), 1.5);
      assert.equal(cpuSecondsPerMillion(0.25, 50_000), 5);
      assert.equal(cpuSecondsPerMillion(1, 0), 0, 'nothing completed: 0, not Infinity');
    });

    it('adds reads and writes, merges their latencies, and takes CPU over the counted window', () => {
      const latency = (values: number[]) => {
        const h = new LatencyHistogram();
        for (const v of values) h.record(v);
        return h;
      };
      const read = { ios: 7000, bytes: 7000 * 4096, runtimeNs: 2e9, latency: latency([10_000, 10_000, 10_000]) };
      const write = { ios: 3000, bytes: 3000 * 4096, runtimeNs: 2e9, latency: latency([40_000]) };
      const m = cellMetrics({ read, write, cpu: { userS: 0.5, systemS: 1.5, wallS: 2, ctx: 0, ios: 10_000 } });
      assert.equal(m.ios, 10_000);
      assert.equal(m.runtimeS, 2);
      assert.equal(m.iops, 5000);
      assert.equal(m.mibPerS, Math.round((10_000 * 4096) / 2 / 2 ** 20 * 10) / 10);
      assert.equal(m.meanUs, 17.5, '(3 x 10 + 40) / 4 µs');
      assert.equal(m.usrCpu, 25);
      assert.equal(m.sysCpu, 75);
      assert.equal(m.cpuSecondsPerMillionIos, 200, '2 CPU-s / 10,000 I/O x 1e6');
      assert.ok(m.p50Us <= m.p99Us && m.p99Us <= m.p999Us);
    });

    it('a write-only run: the read side counts nothing and has no window', () => {
      const empty = { ios: 0, bytes: 0, runtimeNs: 0, latency: new LatencyHistogram() };
      const h = new LatencyHistogram();
      h.record(100_000);
      const m = cellMetrics({ read: empty, write: { ios: 500, bytes: 500 * 131072, runtimeNs: 1e9, latency: h },
        cpu: { userS: 0.1, systemS: 0.1, wallS: 1, ctx: 0, ios: 500 } });
      assert.equal(m.iops, 500);
      assert.equal(m.mibPerS, 62.5);
      assert.equal(m.cpuSecondsPerMillionIos, 400);
    });
  });

  describe('the matrix and its command line', () => {
    it('spans transports x reactors x paths x workloads, and --only filters by label', () => {
      const all = matrixCells([1, 2]);
      assert.equal(all.length, TRANSPORTS.length * 2 * PATHS.length * WORKLOADS.length);
      assert.equal(cellLabel(all[0]), 'tcp r1 direct 4k randread QD64');
      const some = matrixCells([1, 2], 'r2 gateway');
      assert.equal(some.length, TRANSPORTS.length * WORKLOADS.length);
      assert.ok(some.every((c) => c.reactors === 2 && c.path === 'gateway'));
      assert.deepEqual(matrixCells([1], 'no such cell'), []);
    });

    it('reactor counts: powers of two up to the CPUs, and the CPU count itself', () => {
      assert.deepEqual(defaultReactorCounts(1), [1]);
      assert.deepEqual(defaultReactorCounts(2), [1, 2]);
      assert.deepEqual(defaultReactorCounts(6), [1, 2, 4, 6]);
      assert.deepEqual(defaultReactorCounts(16), [1, 2, 4, 8, 16]);
    });

    it('flags: defaults, --quick, explicit values winning, and bad input refused', () => {
      const d = matrixOptions([], '/work')!;
      assert.equal(d.runtimeS, 5);
      assert.equal(d.rampS, 1);
      assert.equal(d.quick, false);
      const q = matrixOptions(['--quick', '--reactors', '2,1,2', '--only', 'tcp r1', '--out', 'out'], '/work')!;
      assert.deepEqual([q.runtimeS, q.rampS, q.reactorCounts, q.only, q.outDir], [1, 0.5, [1, 2], 'tcp r1', '/work/out']);
      assert.equal(matrixOptions(['--quick', '--runtime', '3'], '/work')!.runtimeS, 3);
      assert.equal(matrixOptions(['--help']), undefined);
      for (const bad of [['--reactors', '0'], ['--reactors', '1,x'], ['--runtime', '0'], ['--ramp', '-1'], ['--bogus'], ['extra']]) {
        assert.throws(() => matrixOptions(bad), InvalidArgumentError, bad.join(' '));
      }
    });
  });
});
