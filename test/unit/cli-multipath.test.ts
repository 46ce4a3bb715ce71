/**
 * More than one path on the command line (issue 17 item 3): repeated -a/-s on id-ctrl, id-ns
 * and perf, paired in order (one -s for every -a, or one each), --multipath-policy with
 * SPDK's names; and, end to end, id-ctrl and perf through two targets that export one
 * subsystem over one file, as two gateways over one backend do.
 */
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Target } from '../../lib';
import { parseArgs } from '../../lib/cli/args';
import { commandFlags } from '../../lib/cli/command';
import { multipathPolicy, pathFlags } from '../../lib/cli/multipath';
import { ID_CTRL_COMMAND, ID_NS_COMMAND } from '../../lib/cli/nvme';
import { PERF_COMMAND, PERF_FLAGS } from '../../lib/cli/perf';
import { fioJson, formatNormal, perfOptions, runPerf, type PerfJson } from '../../lib/perf';
import { runCli } from '../support/cli-run';

const NQN = 'nqn.2026-12.io.rdmagate:cli-multipath';
const UUID = '4d6f1c2e-8a3b-4c5d-9e0f-a1b2c3d4e5f6';
const ONE_TYPED_LINE = /^rdmagate: [^\n]+ \(ERR_[A-Z_]+\)\n$/;


describe('rdmagate id-ctrl / id-ns / perf over more than one path', function () {
  this.timeout(60000);

  describe('parsing', () => {
    const idCtrl = (argv: string[]) => parseArgs(['-n', NQN, ...argv], commandFlags(ID_CTRL_COMMAND));
    const invalid = (message: RegExp) => (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG' && message.test(e.message);

    it('pairs the i-th -s with the i-th -a, a single -s with every -a, and none with the default port', () => {
      assert.deepEqual(pathFlags(idCtrl(['-a', '10.0.0.1', '-s', '4420', '-a', '10.0.0.2', '-s', '4421'])),
        [{ traddr: '10.0.0.1', trsvcid: '4420' }, { traddr: '10.0.0.2', trsvcid: '4421' }]);
      assert.deepEqual(pathFlags(idCtrl(['-a', '10.0.0.1', '--traddr=10.0.0.2', '-s', '4421'])),
        [{ traddr: '10.0.0.1', trsvcid: '4421' }, { traddr: '10.0.0.2', trsvcid: '4421' }]);
      assert.deepEqual(pathFlags(idCtrl(['-a', '10.0.0.1', '-a', 'fe80::1'])),
        [{ traddr: '10.0.0.1', trsvcid: undefined }, { traddr: 'fe80::1', trsvcid: undefined }]);
      assert.deepEqual(pathFlags(idCtrl(['-a', '10.0.0.1', '-s', '4420'])), [{ traddr: '10.0.0.1', trsvcid: '4420' }], 'one path as ever');
      for (const flags of [commandFlags(ID_NS_COMMAND), PERF_FLAGS]) {
        assert.equal(pathFlags(parseArgs(['-a', 'A', '-a', 'B', '-s', '1', '-s', '2', '-n', NQN], flags)).length, 2);
      }
    });

    it('refuses any other count of -s, and an empty address', () => {
      assert.throws(() => pathFlags(idCtrl(['-a', 'A', '-a', 'B', '-a', 'C', '-s', '1', '-s', '2'])),
        invalid(/-s\/--trsvcid given 2 times for 3 -a\/--traddr/));
      assert.throws(() => pathFlags(idCtrl(['-a', 'A', '-s', '1', '-s', '2'])), invalid(/given 2 times for 1 -a/));
      assert.throws(() => pathFlags(idCtrl(['-a', 'A', '-a', ''])), invalid(/--traddr got an empty value/));
      assert.deepEqual(pathFlags(idCtrl(['-a', ''])), [{ traddr: '', trsvcid: undefined }], 'one empty -a: the command refuses it, as ever');
    });

    it('--multipath-policy takes SPDK\'s names, as the host\'s policies, with more than one path only', () => {
      const two = ['-a', 'A', '-a', 'B'];
      assert.equal(multipathPolicy(idCtrl(two), 2), undefined, 'the host\'s default: failover');
      assert.equal(multipathPolicy(idCtrl([...two, '--multipath-policy', 'active_passive']), 2), 'failover');
      assert.equal(multipathPolicy(idCtrl([...two, '--multipath-policy', 'active_active']), 2), 'round-robin');
      assert.throws(() => idCtrl([...two, '--multipath-policy', 'round_robin']), invalid(/--multipath-policy must be active_passive or active_active/));
      assert.throws(() => multipathPolicy(idCtrl(['-a', 'A', '--multipath-policy', 'active_active']), 1),
        invalid(/--multipath-policy applies to more than one path/));
      assert.ok(commandFlags(PERF_COMMAND).some((f) => f.name === 'multipath-policy'));
      // SPDK's selectors for active_active.
      assert.equal(multipathPolicy(idCtrl([...two, '--multipath-policy', 'active_active', '--multipath-selector', 'queue_depth']), 2), 'queue-depth');
      assert.equal(multipathPolicy(idCtrl([...two, '--multipath-policy', 'active_active', '--multipath-selector', 'round_robin']), 2), 'round-robin');
      assert.throws(() => multipathPolicy(idCtrl([...two, '--multipath-selector', 'queue_depth']), 2),
        invalid(/--multipath-selector chooses among active_active's paths/));
      assert.ok(commandFlags(PERF_COMMAND).some((f) => f.name === 'multipath-selector'));
    });

    it('perf options: paths in place of traddr and trsvcid, the first path also as traddr and trsvcid', () => {
      const t = perfOptions({ paths: [{ traddr: 'A', trsvcid: '4420' }, { traddr: 'B' }], nqn: NQN, multipathPolicy: 'active_active' }).target;
      assert.deepEqual(t, { kind: 'remote', transport: 'tcp', traddr: 'A', trsvcid: 4420, subnqn: NQN,
        paths: [{ traddr: 'A', trsvcid: 4420 }, { traddr: 'B', trsvcid: 4420 }], multipathPolicy: 'active_active' });
      assert.equal((perfOptions({ paths: [{ traddr: 'A' }, { traddr: 'B' }], nqn: NQN }).target as { multipathPolicy?: string }).multipathPolicy,
        'active_passive');
      assert.deepEqual(perfOptions({ traddr: 'A', trsvcid: 4421, nqn: NQN }).target,
        { kind: 'remote', transport: 'tcp', traddr: 'A', trsvcid: 4421, subnqn: NQN }, 'one path as ever');
      const bad: [Parameters<typeof perfOptions>[0], RegExp][] = [
        [{ traddr: 'A', nqn: NQN, multipathPolicy: 'active_active' }, /--multipath-policy applies to more than one path/],
        [{ paths: [{ traddr: 'A' }, { traddr: 'B' }], nqn: NQN, multipathPolicy: 'queue_depth' }, /--multipath-policy must be one of/],
        [{ paths: [{ traddr: 'A' }, { traddr: 'B', trsvcid: '0' }], nqn: NQN }, /--trsvcid/],
        [{ paths: [{ traddr: 'A' }], traddr: 'B', nqn: NQN }, /not both/],
        [{ paths: [{ traddr: 'A' }, { traddr: 'B' }], target: 'local' }, /do not apply/],
      ];
      for (const [input, message] of bad) assert.throws(() => perfOptions(input), invalid(message), JSON.stringify(input));
      // Multipath runs on the js engine, so the js engine's --polling applies.
      assert.equal(perfOptions({ paths: [{ traddr: 'A' }, { traddr: 'B' }], nqn: NQN, polling: 'reactor', hostReactors: 2 }).polling, 'reactor');
    });

    it('the command line says which pairing it refuses, as one typed line, exit 1', async () => {
      const mismatch = ['-a', '127.0.0.1', '-a', '127.0.0.1', '-a', '127.0.0.1', '-s', '1', '-s', '2', '-n', NQN];
      for (const args of [['id-ctrl', ...mismatch], ['id-ns', ...mismatch], ['perf', ...mismatch],
        ['id-ctrl', '-a', '127.0.0.1', '-s', '1', '-n', NQN, '--multipath-policy', 'active_active']]) {
        const r = await runCli(args);
        assert.equal(r.code, 1, args.join(' '));
        assert.match(r.stderr, ONE_TYPED_LINE, args.join(' '));
        assert.match(r.stderr, /--trsvcid given 2 times for 3|--multipath-policy applies to more than one path/, args.join(' '));
      }
    });
  });

  // Two targets over one file: one subsystem, one namespace, two paths; I/O counted by each target.
  describe('against a subsystem with two paths', () => {
    let dir: string;
    const targets: Target[] = [];
    const ports: number[] = [];

    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'rdmagate-cli-multipath-'));
      const file = join(dir, 'volume.img');
      const fd = openSync(file, 'w');
      ftruncateSync(fd, 4 << 20);
      closeSync(fd);
      for (const cntlids of [[1, 99], [100, 199]] as const) {
        const t = new Target();
        t.createBdev({ type: 'file', name: 'File0', path: file, blockSize: 512 });
        const s = t.addSubsystem({ nqn: NQN, serialNumber: 'CLIMULTIPATH1', anaReporting: true, minCntlid: cntlids[0], maxCntlid: cntlids[1] });
        s.addNamespace({ bdev: 'File0', nsid: 1, uuid: UUID, nguid: UUID.replace(/-/g, '') });
        const port = t.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
        s.addListener({ address: '127.0.0.1', port });
        targets.push(t);
        ports.push(port);
      }
    });

    after(() => {
      for (const t of targets) t.closeSync();
      rmSync(dir, { recursive: true, force: true });
    });

    const bothPaths = () => ['-t', 'tcp', '-a', '127.0.0.1', '-s', String(ports[0]), '-a', '127.0.0.1', '-s', String(ports[1]), '-n', NQN];
    const setAna = (i: number, state: 'optimized' | 'non_optimized') =>
      targets[i]!.subsystem(NQN)!.setListenerAnaState({ address: '127.0.0.1', port: ports[i]! }, state);
    /** Reads and writes each target served so far. */
    const served = () => targets.map((t) => t.namespaceStats().reduce((n, s) => n + s.reads + s.writes, 0));

    it('id-ctrl identifies through the multipath controller and lists both paths, connected, with their ANA states', async () => {
      setAna(1, 'non_optimized');
      try {
        const json = await runCli(['id-ctrl', ...bothPaths(), '-o', 'json']);
        assert.equal(json.code, 0, json.stderr);
        const id = JSON.parse(json.stdout) as { subnqn: string; sn: string; paths: { traddr: string; trsvcid: number; state: string; ana: object }[] };
        assert.equal(id.subnqn, NQN);
        assert.equal(id.sn, 'CLIMULTIPATH1');
        assert.deepEqual(id.paths.map((p) => [p.traddr, p.trsvcid, p.state, p.ana]),
          [['127.0.0.1', ports[0], 'live', { 1: 'optimized' }], ['127.0.0.1', ports[1], 'live', { 1: 'non_optimized' }]]);

        const text = await runCli(['id-ctrl', ...bothPaths()]);
        assert.equal(text.code, 0, text.stderr);
        const lines = text.stdout.trimEnd().split('\n');
        assert.equal(lines[0], 'NVME Identify Controller:');
        assert.ok(lines.includes('paths     : 2'), text.stdout);
        assert.deepEqual(lines.slice(-2), [` +- tcp traddr=127.0.0.1,trsvcid=${ports[0]} live ana=1:optimized`,
          ` +- tcp traddr=127.0.0.1,trsvcid=${ports[1]} live ana=1:non_optimized`]);
      } finally {
        setAna(1, 'optimized');
      }
    });

    it('id-ctrl with one path prints no paths; a path that cannot connect is listed as failed', async () => {
      const one = await runCli(['id-ctrl', '-a', '127.0.0.1', '-s', String(ports[0]), '-n', NQN, '-o', 'json']);
      assert.equal(one.code, 0, one.stderr);
      assert.equal('paths' in (JSON.parse(one.stdout) as object), false);
      // Port 1: nothing listens there.
      const dead = await runCli(['id-ctrl', '-a', '127.0.0.1', '-s', String(ports[0]), '-a', '127.0.0.1', '-s', '1', '-n', NQN, '-o', 'json']);
      assert.equal(dead.code, 0, dead.stderr);
      const paths = (JSON.parse(dead.stdout) as { paths: { state: string }[] }).paths;
      assert.deepEqual(paths.map((p) => p.state), ['live', 'failed']);
    });

    it('id-ns reads the namespace through the multipath controller', async () => {
      const r = await runCli(['id-ns', ...bothPaths(), '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      const ns = JSON.parse(r.stdout) as { nsid: number; uuid: string; blocks: number };
      assert.deepEqual([ns.nsid, ns.uuid, ns.blocks], [1, UUID, 8192]);
    });

    it('perf active_active runs I/O down both paths, and its JSON lists them after the run', async () => {
      const before = served();
      const r = await runCli(['perf', ...bothPaths(), '--multipath-policy', 'active_active', '--rw', 'randrw', '--bs', '4k',
        '--size', '64k', '--iodepth', '4', '--runtime', '1', '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout) as PerfJson;
      assert.ok(j.jobs[0]!.read.total_ios + j.jobs[0]!.write.total_ios > 0, 'I/O completed');
      assert.equal(j.rdmagate.engine, 'js');
      assert.equal(j.rdmagate.fallback, 'multipath runs on the js engine');
      assert.deepEqual([j.rdmagate.target.traddr, j.rdmagate.target.trsvcid], ['127.0.0.1', ports[0]], 'the first path, as with one');
      assert.equal(j.rdmagate.target.multipath_policy, 'active_active');
      assert.deepEqual(j.rdmagate.target.paths!.map((p) => [p.trsvcid, p.state, p.ana]),
        [[ports[0], 'live', { 1: 'optimized' }], [ports[1], 'live', { 1: 'optimized' }]]);
      const after = served();
      assert.ok(after[0]! > before[0]! && after[1]! > before[1]!, `both targets served I/O: ${before} -> ${after}`);
    });

    it('perf active_active with the queue_depth selector runs I/O down both paths, and says so', async () => {
      const before = served();
      const r = await runCli(['perf', ...bothPaths(), '--multipath-policy', 'active_active', '--multipath-selector', 'queue_depth',
        '--rw', 'randread', '--bs', '4k', '--size', '64k', '--iodepth', '8', '--runtime', '1', '-o', 'json']);
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout) as PerfJson & { rdmagate: { target: { multipath_selector?: string } } };
      assert.equal(j.rdmagate.target.multipath_selector, 'queue_depth');
      const after = served();
      assert.ok(after[0]! > before[0]! && after[1]! > before[1]!, `both targets served I/O: ${before} -> ${after}`);
    });

    it('perf\'s text lists the paths; active_passive keeps the I/O on the first', async () => {
      const before = served();
      const report = await runPerf(perfOptions({ paths: ports.map((p) => ({ traddr: '127.0.0.1', trsvcid: p })), nqn: NQN,
        rw: 'randread', size: '64k', runtime: 0.2 }));
      const after = served();
      assert.ok(report.read.ios > 0);
      assert.deepEqual([after[0]! > before[0]!, after[1]! - before[1]!], [true, 0], 'the second path stood by');
      const text = formatNormal(report).split('\n');
      const at = text.findIndex((l) => l.startsWith('  paths        : '));
      assert.deepEqual(text.slice(at), ['  paths        : 2, active_passive',
        ...ports.map((p) => `    tcp 127.0.0.1:${p}: live, group 1 optimized, 0 failover(s)`)]);
      assert.equal(fioJson(report).rdmagate.target.paths!.length, 2);
    });
  });
});
