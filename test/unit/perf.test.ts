/**
 * `rdmagate perf`: option parsing with fio's names, the fio-shaped JSON, short local runs
 * of both engines, and --verify (passing on malloc, catching a null bdev's stale reads).
 * Nothing here asserts on speed: only that numbers exist and are consistent.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BufferPool, hostResources, Target } from '../../lib';
import { parseArgs } from '../../lib/cli/args';
import { PERF_FLAGS } from '../../lib/cli/perf';
import {
  fioJson, LatencyHistogram, perfOptions, PerfVerifyError, runPerf, type DirectionStats, type PerfOptionsInput,
  type PerfReport,
} from '../../lib/perf';
import { bucketOf, bucketRange, BUCKETS } from '../../lib/perf/histogram';
import { connectForNativeEngine, startNativeEngine, tcpRoundTrip } from '../../lib/perf/native-engine';
import { UnitOrder } from '../../lib/perf/workload';

const code = (c: string) => ({ code: c });
const local = (o: PerfOptionsInput = {}) => perfOptions({ target: 'local', runtime: 1, ...o });

function checkDirection(d: DirectionStats, what: string): void {
  assert.ok(d.ios > 0, `${what}: I/Os were counted`);
  assert.ok(d.runtimeNs > 0, `${what}: a runtime`);
  const h = d.latency;
  assert.equal(h.count, d.ios, `${what}: one latency per I/O`);
  const ps = [1, 50, 99, 99.9].map((p) => h.percentile(p));
  assert.ok(h.min > 0 && h.min <= ps[0], `${what}: min ${h.min} <= p1 ${ps[0]}`);
  for (let i = 1; i < ps.length; i++) assert.ok(ps[i - 1] <= ps[i], `${what}: percentiles ascend: ${ps.join(' ')}`);
  assert.ok(ps[3] <= h.max, `${what}: p99.9 <= max`);
  assert.ok(h.mean() >= h.min && h.mean() <= h.max, `${what}: mean within [min, max]`);
}

describe('rdmagate perf', function () {
  this.timeout(30000);

  afterEach(async () => {
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(hostResources().sockets, 0, 'every host socket is closed');
  });

  it('times the loopback TCP floor that bench:loopback prints under QD1', async () => {
    const r = await tcpRoundTrip(2000, 72, 24 + 4096);
    assert.ok(r.minUs > 0 && r.minUs <= r.meanUs, JSON.stringify(r));
    assert.throws(() => tcpRoundTrip(0, 72, 4120), code('ERR_INVALID_ARG'));
    assert.throws(() => tcpRoundTrip(10, 72, 2 ** 21), code('ERR_INVALID_ARG'));
  });

  describe('options', () => {
    it('takes fio names and suffixes, with fio defaults', () => {
      const o = perfOptions({ target: 'local', rw: 'randrw', rwmixread: '70', bs: '128k', iodepth: '32', numjobs: '2',
        runtime: '500ms', rampTime: '1', size: '1g', offset: '4KiB', engine: 'js', bdev: 'malloc', targetReactors: '2' });
      assert.equal(o.rw, 'randrw');
      assert.equal(o.readPercent, 70);
      assert.equal(o.random, true);
      assert.equal(o.bs, 128 * 1024);
      assert.equal(o.iodepth, 32);
      assert.equal(o.numjobs, 2);
      assert.equal(o.runtimeS, 0.5);
      assert.equal(o.rampTimeS, 1);
      assert.equal(o.size, 2 ** 30);
      assert.equal(o.offset, 4096);
      assert.deepEqual(o.target, { kind: 'local', bdev: 'malloc', reactors: 2 });
      assert.equal(perfOptions({ target: 'local', bs: '1m' }).bs, 1 << 20);
      assert.equal(perfOptions({ target: 'local', bs: '4K' }).bs, 4096);
      const d = perfOptions({ target: 'local' });
      assert.deepEqual([d.rw, d.readPercent, d.random, d.bs, d.iodepth, d.numjobs, d.engine, d.nsid, d.verify],
        ['read', 100, false, 4096, 1, 1, 'native', 1, undefined]);
      assert.equal(perfOptions({ target: 'local', rw: 'randwrite' }).readPercent, 0);
      const r = perfOptions({ transport: 'tcp', traddr: '10.0.0.1', nqn: 'nqn.2014-08.org.example:a' });
      assert.deepEqual(r.target, { kind: 'remote', transport: 'tcp', traddr: '10.0.0.1', trsvcid: 4420, subnqn: 'nqn.2014-08.org.example:a' });
    });

    it('the command line has fio\'s and nvme-cli\'s flags', () => {
      const a = parseArgs(['-t', 'tcp', '-a', '127.0.0.1', '-s', '4421', '-n', 'nqn.x', '--rw=randread', '--ramp_time', '2',
        '--bs', '4k', '--iodepth', '64', '--numjobs', '2', '--runtime', '5', '--target-reactors', '1', '--host-reactors', '2'], PERF_FLAGS);
      assert.equal(a.flags.get('trsvcid'), '4421');
      assert.equal(a.flags.get('ramp_time'), '2');
      assert.equal(a.flags.get('host-reactors'), '2');
      assert.throws(() => parseArgs(['--iodepht', '4'], PERF_FLAGS), code('ERR_INVALID_ARG'));
    });

    it('refuses bad values with typed errors naming the option', () => {
      const bad: [PerfOptionsInput, RegExp][] = [
        [{ rw: 'randomread' }, /--rw/],
        [{ bs: '4q' }, /--bs/],
        [{ bs: '1000' }, /--bs.*multiple of 512/],
        [{ bs: 0 }, /--bs/],
        [{ iodepth: '0' }, /--iodepth/],
        [{ iodepth: '1.5' }, /--iodepth/],
        [{ numjobs: '-1' }, /--numjobs/],
        [{ runtime: '0' }, /--runtime/],
        [{ runtime: 'soon' }, /--runtime/],
        [{ rampTime: '-1' }, /--ramp_time/],
        [{ rwmixread: '101' }, /--rwmixread/],
        [{ size: '2k', bs: '4k' }, /--size/],
        [{ offset: '100' }, /--offset/],
        [{ verify: 'md5' }, /--verify/],
        [{ engine: 'spdk' }, /--engine/],
        [{ bdev: 'file' }, /--bdev/],
        [{ targetReactors: '0' }, /--target-reactors/],
        [{ hostReactors: '65' }, /--host-reactors/],
        [{ nsid: '0' }, /--nsid/],
        [{ recvPipe: 'off' }, /--recv-pipe/],
        [{ engine: 'js', polling: 'spin' }, /--polling/],
        [{ polling: 'reactor' }, /--polling applies to the js engine/],
        [{ engine: 'js', hostReactors: '2' }, /--host-reactors applies/],
      ];
      for (const [input, message] of bad) {
        assert.throws(() => perfOptions({ target: 'local', ...input }), (e: Error & { code?: string }) =>
          e.code === 'ERR_INVALID_ARG' && message.test(e.message), JSON.stringify(input));
      }
      assert.throws(() => perfOptions({}), /--target local/);
      assert.throws(() => perfOptions({ target: 'remote' }), code('ERR_INVALID_ARG'));
      assert.throws(() => perfOptions({ target: 'local', traddr: '127.0.0.1' }), /do not apply/);
      assert.throws(() => perfOptions({ traddr: '127.0.0.1', nqn: 'nqn.x', bdev: 'null' }), /--target local only/);
      assert.throws(() => perfOptions({ transport: 'fc', traddr: '1.2.3.4', nqn: 'nqn.x' }), /--transport/);
    });

    it('defaults: a null bdev (malloc for a verify run, which needs the data kept), the receive pipe on, the js engine polled by the JS thread', () => {
      const bdevOf = (o: Parameters<typeof perfOptions>[0]) => {
        const t = perfOptions(o).target;
        return t.kind === 'local' ? t.bdev : undefined;
      };
      assert.equal(perfOptions({ target: 'local' }).recvPipe, true);
      assert.equal(perfOptions({ target: 'local', recvPipe: '0' }).recvPipe, false);
      assert.equal(perfOptions({ target: 'local', engine: 'js' }).polling, 'event-loop');
      assert.equal(perfOptions({ target: 'local', engine: 'js', polling: 'reactor', hostReactors: '2' }).hostReactors, 2);
      assert.equal(bdevOf({ target: 'local' }), 'null');
      assert.equal(bdevOf({ target: 'local', verify: 'crc32c' }), 'malloc');
      assert.equal(bdevOf({ target: 'local', verify: 'crc32c', bdev: 'null' }), 'null', 'as asked: the verify then fails');
    });

    it('refuses what does not fit the namespace', async () => {
      await assert.rejects(runPerf(local({ nsid: 2 })), (e: Error & { code?: string }) =>
        e.code === 'ERR_INVALID_ARG' && /namespace 2 is not active/.test(e.message));
    });
  });

  describe('latency histogram', () => {
    it('buckets hold their values and are at most 1/32 wide', () => {
      let last = -1;
      for (const v of [0, 1, 31, 32, 63, 64, 65, 100, 1000, 4095, 4096, 123456, 2 ** 31, 2 ** 32 + 5, 2 ** 40 + 1, 2 ** 52]) {
        const i = bucketOf(v);
        assert.ok(i >= last, `buckets ascend with values (${v})`);
        last = i;
        assert.ok(i < BUCKETS);
        const [low, high] = bucketRange(i);
        assert.ok(low <= v && v <= high, `${v} in [${low}, ${high}]`);
        assert.ok(high - low + 1 <= Math.max(1, low / 32), `bucket of ${v} is narrow`);
      }
    });

    it('percentiles of a known distribution', () => {
      const h = new LatencyHistogram();
      for (let v = 1; v <= 100000; v++) h.record(v * 100);
      for (const p of [1, 50, 99, 99.9]) {
        const exact = p * 100000;
        assert.ok(Math.abs(h.percentile(p) - exact) <= exact / 32, `p${p}: ${h.percentile(p)} ~ ${exact}`);
      }
      assert.equal(h.min, 100);
      assert.equal(h.max, 10000000);
      assert.ok(Math.abs(h.mean() - 5000050) < 1);
    });

    it('verify visits every unit once, in either order', () => {
      for (const scrambled of [false, true]) {
        const order = new UnitOrder(1000, scrambled, 12345);
        const seen = new Set<number>();
        for (let u = order.next(); u >= 0; u = order.next()) seen.add(u);
        assert.equal(seen.size, 1000);
        assert.equal(order.issued, 1000);
      }
    });
  });

  describe('local runs', () => {
    let native: PerfReport;

    it('native engine: a 1-second randread on a null bdev', async () => {
      native = await runPerf(local({ rw: 'randread', iodepth: 8, numjobs: 2, rampTime: '200ms' }));
      assert.equal(native.engine, 'native');
      checkDirection(native.read, 'read');
      assert.equal(native.write.ios, 0);
      assert.ok(native.cpu.ios > 0 && native.cpu.userS + native.cpu.systemS > 0);
    });

    it('JSON output has fio\'s field names', () => {
      const j = fioJson(native);
      assert.match(j['fio version'], /^rdmagate-perf-/);
      assert.equal(j.jobs.length, 1);
      const job = j.jobs[0];
      for (const k of ['jobname', 'read', 'write', 'usr_cpu', 'sys_cpu', 'ctx']) assert.ok(k in job, k);
      for (const d of [job.read, job.write]) {
        for (const k of ['io_bytes', 'bw_bytes', 'bw', 'iops', 'runtime', 'total_ios', 'clat_ns']) assert.ok(k in d, k);
        for (const k of ['min', 'max', 'mean', 'stddev', 'percentile']) assert.ok(k in d.clat_ns, k);
        for (const k of ['1.000000', '50.000000', '99.000000', '99.900000']) assert.ok(k in d.clat_ns.percentile, k);
      }
      assert.ok(job.read.iops > 0);
      assert.equal(job.read.bw, Math.round(job.read.bw_bytes / 1024), 'bw is KiB/s');
      assert.equal(job.read.total_ios, native.read.ios);
      assert.ok(job.read.runtime >= 900 && job.read.runtime <= 1100, 'runtime in ms');
      assert.ok(job.usr_cpu + job.sys_cpu > 0);
      assert.equal(j.rdmagate.engine, 'native');
      assert.equal(j.rdmagate.transport, 'tcp');
      assert.deepEqual(j.rdmagate.reactors, { target: 1, host: 1 });
      assert.ok(j.rdmagate.cpu_seconds_per_million_ios > 0);
      assert.doesNotThrow(() => JSON.parse(JSON.stringify(j)));
    });

    for (const polling of ['event-loop', 'reactor']) {
      it(`js engine, host polled by ${polling === 'reactor' ? 'a reactor' : 'the JS thread'}: a 1-second randrw`, async () => {
        const r = await runPerf(local({ engine: 'js', rw: 'randrw', iodepth: 4, bdev: 'malloc', size: '16m', polling }));
        assert.equal(r.engine, 'js');
        assert.equal(r.hostReactors, polling === 'reactor' ? 1 : 0);
        checkDirection(r.read, 'read');
        checkDirection(r.write, 'write');
      });
    }

    it('process.exit() during a native run stops the run, rather than waiting out its runtime', () => {
      // The run holds a libuv pool thread, which exit joins.
      const script = `
        const { perfOptions, runPerf } = require(${JSON.stringify(join(__dirname, '../../lib/perf'))});
        runPerf(perfOptions({ target: 'local', rw: 'randread', iodepth: 8, runtime: 600 })).then(() => console.log('finished'));
        setTimeout(() => { console.log('exiting'); process.exit(3); }, 500);`;
      const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000 });
      assert.equal(child.signal, null, `the child exited by itself: ${child.stderr}`);
      assert.equal(child.status, 3);
      assert.equal(child.stdout, 'exiting\n');
    });

    it('the perf controller serves JS I/O again after a native run', async () => {
      const target = new Target();
      const pool = new BufferPool({ chunkSize: 4096 });
      const buf = pool.acquire();
      try {
        target.createBdev({ type: 'malloc', name: 'M', sizeBytes: 1 << 20 });
        target.addSubsystem({ nqn: 'nqn.2026-11.io.rdmagate:perf-reuse' }).addNamespace({ bdev: 'M', nsid: 1 });
        const l = target.listen({ address: '127.0.0.1', port: 0 });
        await assert.rejects(connectForNativeEngine({ traddr: '127.0.0.1', trsvcid: l.port, subnqn: 'nqn.2026-11.io.rdmagate:perf-reuse',
          polling: 'event-loop' }), { code: 'ERR_INVALID_ARG' });
        const { controller, engine } = await connectForNativeEngine({ traddr: '127.0.0.1', trsvcid: l.port, subnqn: 'nqn.2026-11.io.rdmagate:perf-reuse' });
        try {
          const run = startNativeEngine(engine, {
            nsid: 1, blockSize: 512, bs: 4096, iodepth: 4, numjobs: 1, random: true, readPercent: 50,
            region: { firstLba: 0, ioBlocks: 8, units: 256 }, rampMs: 0, runMs: 200, seed: 7, verify: false,
          });
          const result = await run.done;
          assert.ok(result.read.ios + result.write.ios > 0);
          buf.fill(0xa5);
          await controller.queuePairs[0].write(1, 8, 8, buf);
          buf.fill(0);
          await controller.queuePairs[0].read(1, 8, 8, buf);
          assert.equal(buf[4095], 0xa5);
        } finally {
          await controller.close();
        }
      } finally {
        buf.release();
        pool.close();
        target.closeSync();
      }
    });
  });

  describe('--verify crc32c', () => {
    it('passes on malloc (the native engine falls back to js)', async () => {
      const r = await runPerf(local({ rw: 'randwrite', bdev: 'malloc', size: '2m', iodepth: 8, numjobs: 2, verify: 'crc32c' }));
      assert.equal(r.engine, 'js');
      assert.match(r.fallback ?? '', /js engine/);
      assert.ok(r.verify);
      assert.equal(r.verify.bad, 0);
      assert.equal(r.verify.blocks, (2 << 20) / 512, 'every block written was read back and checked');
      assert.equal(r.write.ios, r.read.ios);
    });

    it('fails on a null bdev, whose reads return stale data', async () => {
      await assert.rejects(runPerf(local({ rw: 'write', bdev: 'null', size: '1m', iodepth: 4, verify: 'crc32c' })),
        (e: unknown) => {
          assert.ok(e instanceof PerfVerifyError);
          assert.equal(e.code, 'ERR_PERF_VERIFY');
          assert.match(e.message, /verify failed: \d+ of 2048 blocks/);
          assert.match(e.message, /stale or misplaced|no verify header/);
          assert.ok(e.failures.length > 0);
          assert.ok(e.report.verify && e.report.verify.bad > 0);
          return true;
        });
    });
  });
});
