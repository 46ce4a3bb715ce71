/**
 * bench:matrix's pure parts: the SVG bar chart, the markdown tables, a cell's arithmetic
 * (per-role CPU included), the roles' spec and ready line, the cells the axes span and the
 * command line. Made-up figures only: nothing here
 * measures anything or loads the addon.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { escapeXml, formatCompact, groupedBarSvg, niceStep, type GroupedBarChart } from '../../bench/chart-svg';
import { parseOwnCpu, parseProcStat, procStatCpuSeconds, type Machine } from '../../bench/machine';
import { matrixOptions } from '../../bench/matrix-args';
import { cellLabel, defaultReactorCounts, matrixCells, PATHS, TRANSPORTS, WORKLOADS } from '../../bench/matrix-cases';
import {
  cellMetrics, cpuSecondsPerMillion, roleCpuPerMillion, withRoleCpu, type CellResult, type MeasuredCell,
} from '../../bench/matrix-cell';
import {
  cpuChart, cpuTable, iopsChart, iopsTable, latencyChart, latencyTable, loadLine, matrixMarkdown, roleCpuTable, type MatrixRun,
} from '../../bench/matrix-report';
import { parseReadyLine, parseRoleSpec } from '../../bench/matrix-role-spec';
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
    usrCpu: 20, sysCpu: 40, cpuSecondsPerMillionIos: 5, roleCpu: { host: 5 }, ...over,
  };
}

/**
 * tcp at 1 and 2 reactors, all three paths, two workloads; rdma skipped; one tcp cell failed.
 * Direct and gateway cells cost reactors + 0.25 CPU-s per million I/O: host 0.25, and the
 * target, or the gateway and the backend half each; dpu cells host 0.5, DPU 1.25, gateway
 * reactors, backend 1, so reactors + 2.75 together.
 */
function sampleCells(): CellResult[] {
  const cells: CellResult[] = [];
  let iops = 100_000;
  for (const reactors of [1, 2]) {
    for (const path of PATHS) {
      for (const workload of ['4k randread QD64', '4k randread QD1']) {
        if (reactors === 2 && path === 'gateway' && workload === '4k randread QD1') {
          cells.push({ transport: 'tcp', reactors, path, workload, status: 'failed', reason: 'connect timed out' });
        } else if (path === 'dpu') {
          cells.push(measuredCell({ transport: 'tcp', reactors, path, workload, iops: iops++, cpuSecondsPerMillionIos: reactors + 2.75,
            roleCpu: { host: 0.5, dpu: 1.25, gateway: reactors, backend: 1 } }));
        } else {
          const roleCpu = path === 'direct' ? { host: 0.25, target: reactors } : { host: 0.25, gateway: reactors / 2, backend: reactors / 2 };
          cells.push(measuredCell({ transport: 'tcp', reactors, path, workload, iops: iops++, cpuSecondsPerMillionIos: reactors + 0.25, roleCpu }));
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
        { label: 'tcp r1 dpu', values: [34567, 5000, null], dotted: true },
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
      assert.ok(svg.includes('fill="url(#dots-3)"'), 'the dotted series is filled with its own pattern');
      assert.equal(count(svg, '<pattern '), 2);
      assert.equal(count(svg, '<pattern id="dots-3"'), 1);
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
        '4k randread QD64 / direct', '4k randread QD64 / gateway', '4k randread QD64 / dpu',
        '4k randread QD1 / direct', '4k randread QD1 / gateway', '4k randread QD1 / dpu',
      ], 'the matrix order of workloads, then paths');
      assert.deepEqual(body[0], ['4k randread QD64', 'direct', '100,000', '100,006']);
      assert.deepEqual(body[2], ['4k randread QD64', 'dpu', '100,004', '100,009']);
      assert.deepEqual(body[4], ['4k randread QD1', 'gateway', '100,003', 'failed']);
    });

    it('the CPU table and the latency table', () => {
      const cpuLines = cpuTable(sampleCells()).split('\n');
      assert.equal(cpuLines.length, 2 + 6);
      assert.equal(cpuLines[2], '| 4k randread QD64 | direct | 1.25 | 2.25 |');
      assert.equal(cpuLines[4], '| 4k randread QD64 | dpu | 3.75 | 4.75 |', 'the dpu path: its three processes together');
      const latency = latencyTable(sampleCells()).split('\n');
      assert.equal(latency[0], '| setup | path | mean µs | p50 µs | p99 µs | p99.9 µs |');
      assert.equal(latency.length, 2 + 5, 'the five measured QD1 cells');
      assert.equal(latency[2], '| tcp r1 | direct | 10.0 | 9.0 | 30.0 | 50.0 |');
      assert.equal(latency[4], '| tcp r1 | dpu | 10.0 | 9.0 | 30.0 | 50.0 |');
    });

    it('CPU per role: a row per measured cell, each role of its path, and all of them together', () => {
      const lines = roleCpuTable(sampleCells()).split('\n');
      assert.equal(lines[0], '| setup | path | workload | host | target | DPU | gateway | backend | all |');
      assert.equal(lines[1], '|---|---|---|---:|---:|---:|---:|---:|---:|');
      assert.equal(lines.length, 2 + 11, 'the eleven measured cells');
      assert.equal(lines[2], '| tcp r1 | direct | 4k randread QD64 | 0.25 | 1 |  |  |  | 1.25 |');
      assert.equal(lines[4], '| tcp r1 | gateway | 4k randread QD64 | 0.25 |  |  | 0.5 | 0.5 | 1.25 |');
      assert.equal(lines[6], '| tcp r1 | dpu | 4k randread QD64 | 0.5 |  | 1.25 | 1 | 1 | 3.75 |');
      assert.equal(lines[12], '| tcp r2 | dpu | 4k randread QD1 | 0.5 |  | 1.25 | 2 | 1 | 4.75 |');
    });

    it('the report: machine, the skip reason, the shared-process note, the failed cell, the charts', () => {
      const md = matrixMarkdown(sampleRun());
      assert.ok(md.includes('Test CPU, 2 CPUs, Linux 6.1, Node v20.0.0'));
      assert.ok(md.includes('RDMA: not measured: no RDMA device.'));
      assert.ok(md.includes('CPU-seconds per million I/O is every role\'s together'));
      assert.ok(md.includes('## CPU per role'));
      assert.ok(md.includes('- tcp r2 gateway 4k randread QD1: connect timed out'));
      assert.ok(md.includes('`npm run bench:matrix -- --quick`'));
      for (const png of ['matrix-iops.png', 'matrix-latency.png', 'matrix-cpu.png']) assert.ok(md.includes(`](${png})`));
    });

    it('the report: a "CPU per role" section, saying what each figure covers', () => {
      const md = matrixMarkdown(sampleRun());
      assert.ok(md.includes('through the gateway and through a DPU'));
      assert.ok(md.includes('## CPU per role'));
      assert.ok(md.includes('| tcp r1 | dpu | 4k randread QD64 | 0.5 |  | 1.25 | 1 | 1 | 3.75 |'));
      assert.ok(md.includes('/proc/<pid>/stat'));
      assert.ok(md.indexOf('## CPU per role') < md.indexOf('## Every cell'));
      const none = matrixMarkdown(sampleRun(sampleCells().filter((c) => c.status !== 'measured')));
      assert.ok(!none.includes('## CPU per role'), 'no cell measured: no section');
    });
  });

  describe('chart data from cells', () => {
    it('IOPS: a category per measured workload, a series per setup and path, gateway striped, dpu dotted', () => {
      const chart = iopsChart(sampleRun());
      assert.deepEqual(chart.categories, ['4k randread QD64', '4k randread QD1']);
      assert.deepEqual(chart.series.map((s) => s.label),
        ['tcp r1 direct', 'tcp r1 gateway', 'tcp r1 dpu', 'tcp r2 direct', 'tcp r2 gateway', 'tcp r2 dpu']);
      assert.deepEqual(chart.series.map((s) => s.hatched), [false, true, false, false, true, false]);
      assert.deepEqual(chart.series.map((s) => s.dotted), [false, false, true, false, false, true]);
      assert.equal(chart.series[0].color, chart.series[1].color, 'one colour per setup');
      assert.equal(chart.series[0].color, chart.series[2].color, 'one colour per setup');
      assert.notEqual(chart.series[0].color, chart.series[3].color);
      assert.deepEqual(chart.series[4].values, [100008, null], 'the failed cell has no bar');
      assert.deepEqual(chart.series[5].values, [100009, 100010]);
      const svg = groupedBarSvg(chart);
      assertWellFormedXml(svg);
      assert.equal(count(svg, '<pattern id="hatch-'), 2);
      assert.equal(count(svg, '<pattern id="dots-'), 2);
      assert.ok(chart.subtitle?.includes('dotted: host via a DPU'));
    });

    it('latency: mean and p99 of the QD1 cells', () => {
      const chart = latencyChart(sampleRun());
      assert.deepEqual(chart.categories, ['mean', 'p99']);
      assert.deepEqual(chart.series.map((s) => s.values), [[10, 30], [10, 30], [10, 30], [10, 30], [10, 30]]);
    });

    it('CPU: every role of a path together', () => {
      const chart = cpuChart(sampleRun());
      assert.deepEqual(chart.series.map((s) => s.values[0]), [1.25, 1.25, 3.75, 2.25, 2.25, 4.75]);
    });
  });

  describe('per-role CPU', () => {
    it('reads utime + stime from /proc/<pid>/stat, at USER_HZ, past a command name with spaces and parentheses', () => {
      const line = '1234 (node (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 3 4 20 0 11 0 123 456 789\n';
      assert.equal(procStatCpuSeconds(line), 3);
      assert.throws(() => procStatCpuSeconds('garbage'), /not a \/proc\/<pid>\/stat line/);
      if (existsSync('/proc/self/stat')) {
        const own = procStatCpuSeconds(readFileSync('/proc/self/stat', 'utf8'));
        const used = process.cpuUsage();
        assert.ok(own >= 0 && Math.abs(own - (used.user + used.system) / 1e6) < 0.5, 'close to what Node says of itself');
      }
    });

    it('scales a role\'s rate over the whole run to the counted window', () => {
      // 1.5 CPU-s over a 3 s run: half a core; over a 2 s window, 1 CPU-s for 500,000 I/O.
      assert.equal(roleCpuPerMillion({ cpuS: 1.5, wallS: 3 }, { wallS: 2, ios: 500_000 }), 2);
      assert.equal(roleCpuPerMillion({ cpuS: 1, wallS: 0 }, { wallS: 2, ios: 500_000 }), 0, 'no run: 0');
      assert.equal(roleCpuPerMillion({ cpuS: 1, wallS: 1 }, { wallS: 2, ios: 0 }), 0, 'no I/O: 0, not Infinity');
    });

    it('the bench process is the host, the total is every role', () => {
      const m = cellMetrics({
        read: { ios: 1_000_000, bytes: 4096e6, runtimeNs: 2e9, latency: new LatencyHistogram() },
        write: { ios: 0, bytes: 0, runtimeNs: 0, latency: new LatencyHistogram() },
        cpu: { userS: 1, systemS: 1, wallS: 2, ctx: 0, ios: 1_000_000 },
      });
      const r = withRoleCpu(m, { wallS: 2, ios: 1_000_000 },
        { dpu: { cpuS: 3, wallS: 3 }, gateway: { cpuS: 1.5, wallS: 3 }, backend: { cpuS: 0.75, wallS: 3 } });
      assert.deepEqual(r.roleCpu, { host: 2, dpu: 2, gateway: 1, backend: 0.5 });
      assert.equal(r.cpuSecondsPerMillionIos, 5.5);
      assert.deepEqual(withRoleCpu(m, { wallS: 2, ios: 1_000_000 }, { target: { cpuS: 1, wallS: 2 } }).roleCpu, { host: 2, target: 1 });
      assert.equal(r.usrCpu, 50, 'usr/sys stay the host\'s');
      assert.equal(r.iops, m.iops);
    });
  });

  describe('the load during a run', () => {
    it('reads the machine\'s CPU from /proc/stat and the benchmark\'s own, children included, from /proc/self/stat', () => {
      const stat = 'cpu  1000 50 450 9000 10 5 20 30 0 0\ncpu0 500 25 225 4500 5 2 10 15 0 0\nintr 1\n';
      assert.deepEqual(parseProcStat(stat), { busyS: 15, stealS: 0.3 });
      assert.throws(() => parseProcStat('intr 1\n'), /no cpu line/);
      assert.equal(parseOwnCpu('77 (node) S 1 77 77 0 -1 0 0 0 0 0 300 100 50 50 20 0 3 0'), 5, '(300 + 100 + 50 + 50) / 100');
      if (existsSync('/proc/stat')) assert.ok(parseProcStat(readFileSync('/proc/stat', 'utf8')).busyS > 0);
    });

    it('the report\'s load line, quiet or not', () => {
      const quiet = { wallS: 100, otherCores: 0.05, stealCores: 0, loadavgStart: 0.3, loadavgEnd: 2.1 };
      assert.equal(loadLine(quiet, 2), 'Load during the run: other processes used 0.05 of the 2 CPUs on average ' +
        '(/proc/stat less this benchmark\'s own processes), steal 0; 1-minute load average 0.3 at the start, 2.1 at the end.');
      assert.match(loadLine({ ...quiet, otherCores: 0.7 }, 2), /not a quiet machine/);
      assert.match(loadLine(undefined, 2), /not measured/);
      assert.ok(matrixMarkdown({ ...sampleRun(), load: quiet }).includes('other processes used 0.05 of the 2 CPUs'));
    });
  });

  describe('the roles\' processes', () => {
    it('a role spec: each role, checked field by field', () => {
      assert.deepEqual(parseRoleSpec('{"role":"target","reactors":2,"transport":"rdma","address":"192.168.77.1"}'),
        { role: 'target', reactors: 2, transport: 'rdma', address: '192.168.77.1' });
      const remote = { transport: 'rdma', traddr: '192.168.77.1', trsvcid: 4420, subnqn: 'nqn.x' };
      const dpu = { role: 'dpu', reactors: 1, transport: 'tcp', address: '127.0.0.1', remote };
      assert.deepEqual(parseRoleSpec(JSON.stringify({ ...dpu, extra: 1 })), dpu);
      for (const [bad, why] of [
        ['', /not JSON/], ['[]', /not an object/], ['{"role":"host","reactors":1,"transport":"tcp"}', /role must be one of/],
        ['{"role":"backend","reactors":0,"transport":"tcp","address":"a"}', /reactors/],
        ['{"role":"backend","reactors":1,"transport":"udp","address":"a"}', /transport/],
        [JSON.stringify({ ...dpu, remote: undefined }), /remote must be an object/],
        [JSON.stringify({ ...dpu, role: 'backend' }), /a backend attaches nothing/],
        [JSON.stringify({ ...dpu, remote: { ...remote, trsvcid: 70000 } }), /remote: trsvcid/],
        [JSON.stringify({ ...dpu, remote: { ...remote, subnqn: '' } }), /remote: subnqn/],
      ] as const) {
        assert.throws(() => parseRoleSpec(bad), why, bad);
      }
    });

    it('the ready line, and any other line ignored', () => {
      const ready = { role: 'dpu', pid: 42, traddr: '127.0.0.1', port: 4420, nqn: 'nqn.x' };
      assert.deepEqual(parseReadyLine(JSON.stringify(ready)), ready);
      assert.equal(parseReadyLine('starting'), undefined);
      assert.equal(parseReadyLine('{"role":"dpu"}'), undefined);
      assert.equal(parseReadyLine(JSON.stringify({ ...ready, port: 0 })), undefined);
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
      assert.deepEqual(PATHS, ['direct', 'gateway', 'dpu']);
      const dpu = matrixCells([1, 2], 'tcp r1 dpu');
      assert.equal(dpu.length, WORKLOADS.length);
      assert.equal(cellLabel(dpu[0]), 'tcp r1 dpu 4k randread QD64');
      assert.deepEqual(matrixCells([1], 'tcp r1').map((c) => c.path).filter((p, i, a) => a.indexOf(p) === i), PATHS,
        'a setup runs its paths in order: direct, gateway, dpu');
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
