/**
 * nvme-cli's DH-HMAC-CHAP flags on the commands that connect as a host: -S/--dhchap-secret
 * and -C/--dhchap-ctrl-secret on discover, id-ctrl, id-ns and perf, parsed into the host's
 * options, listed in help, refused where they cannot apply; and, end to end, id-ctrl and
 * perf authenticating to a target with them, no secret in what they print.
 */
import assert from 'node:assert/strict';
import { Target } from '../../lib';
import { parseArgs } from '../../lib/cli/args';
import { commandFlags, type Command } from '../../lib/cli/command';
import { dhchapFlags } from '../../lib/cli/dhchap-flags';
import { DISCOVER_COMMAND, ID_CTRL_COMMAND, ID_NS_COMMAND } from '../../lib/cli/nvme';
import { PERF_COMMAND } from '../../lib/cli/perf';
import { defaultHostNqn } from '../../lib/nvmf/host/options';
import { fioJson, formatNormal, perfOptions, runPerf } from '../../lib/perf';
import { dhchapSecret, secretBody } from '../support/dhchap-secret';
import { runCli } from '../support/cli-run';

const NQN = 'nqn.2026-11.io.rdmagate:cli-dhchap';
const HOST = 'nqn.2014-08.org.nvmexpress:uuid:1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';


describe('nvme-cli\'s DH-HMAC-CHAP flags (-S, -C)', function () {
  this.timeout(60000);
  const key = dhchapSecret(1);
  const ctrlrKey = dhchapSecret(3);

  describe('parsing', () => {
    const hostCommands: Command[] = [DISCOVER_COMMAND, ID_CTRL_COMMAND, ID_NS_COMMAND, PERF_COMMAND];

    it('each command that connects as a host has -S/--dhchap-secret and -C/--dhchap-ctrl-secret', () => {
      for (const c of hostCommands) {
        const flags = commandFlags(c);
        assert.equal(flags.find((f) => f.name === 'dhchap-secret')?.short, 'S', c.name);
        assert.equal(flags.find((f) => f.name === 'dhchap-ctrl-secret')?.short, 'C', c.name);
      }
    });

    it('reads short, long and --flag=value forms into the host\'s dhchapKey and dhchapCtrlrKey', () => {
      const where = ['-t', 'tcp', '-a', '127.0.0.1', '-n', NQN];
      for (const argv of [[...where, '-S', key, '-C', ctrlrKey], [...where, '--dhchap-secret', key, '--dhchap-ctrl-secret', ctrlrKey],
        [...where, `--dhchap-secret=${key}`, `--dhchap-ctrl-secret=${ctrlrKey}`]]) {
        assert.deepEqual(dhchapFlags(parseArgs(argv, commandFlags(ID_CTRL_COMMAND))), { dhchapKey: key, dhchapCtrlrKey: ctrlrKey });
      }
      assert.deepEqual(dhchapFlags(parseArgs([...where, '-S', key], commandFlags(ID_CTRL_COMMAND))), { dhchapKey: key });
      assert.deepEqual(dhchapFlags(parseArgs(where, commandFlags(DISCOVER_COMMAND))), {}, 'none given: none set');
      assert.throws(() => parseArgs([...where, '-S'], commandFlags(ID_CTRL_COMMAND)), /--dhchap-secret needs a value/);
    });

    it('perf takes them for a remote target only', () => {
      const remote = perfOptions({ traddr: '127.0.0.1', nqn: NQN, dhchapKey: key, dhchapCtrlrKey: ctrlrKey }).target;
      assert.deepEqual(remote, { kind: 'remote', transport: 'tcp', traddr: '127.0.0.1', trsvcid: 4420, subnqn: NQN,
        dhchapKey: key, dhchapCtrlrKey: ctrlrKey });
      assert.throws(() => perfOptions({ target: 'local', dhchapKey: key }), /-S and -C do not apply/);
    });

    it('help lists them', async () => {
      for (const name of ['discover', 'id-ctrl', 'id-ns', 'perf']) {
        const r = await runCli([name, '--help']);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^ {2}-S, --dhchap-secret SECRET\s/m, name);
        assert.match(r.stdout, /^ {2}-C, --dhchap-ctrl-secret SECRET\s/m, name);
      }
    });
  });

  // These need the addon's DH-HMAC-CHAP.
  describe('against a target that requires authentication', () => {
    let target: Target;
    let port: number;

    before(() => {
      target = new Target({ reactors: 1 });
      target.createBdev({ type: 'malloc', name: 'M0', sizeBytes: 4 << 20 });
      target.addSubsystem({ nqn: NQN, allowAnyHost: false, hosts: [{ nqn: HOST, dhchapKey: key, dhchapCtrlrKey: ctrlrKey }] })
        .addNamespace({ bdev: 'M0', nsid: 1 });
      port = target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
    });

    after(() => {
      target.closeSync();
    });

    const where = () => ['-t', 'tcp', '-a', '127.0.0.1', '-s', String(port), '-n', NQN];
    const noSecret = (text: string) => {
      for (const s of [key, ctrlrKey]) assert.ok(!text.includes(secretBody(s)), text);
    };

    it('id-ctrl connects with -S and -C, and fails without -S or with a wrong one', async () => {
      const ok = await runCli(['id-ctrl', ...where(), '-q', HOST, '-S', key, '-C', ctrlrKey, '-o', 'json']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal((JSON.parse(ok.stdout) as { subnqn: string }).subnqn, NQN);
      const none = await runCli(['id-ctrl', ...where(), '-q', HOST]);
      assert.equal(none.code, 1);
      assert.match(none.stderr, /\(ERR_NVME_CONNECT\)\n$/);
      const wrong = await runCli(['id-ctrl', ...where(), '-q', HOST, '--dhchap-secret', dhchapSecret(1)]);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /\(ERR_NVME_AUTH\)\n$/);
      noSecret(ok.stdout + ok.stderr + none.stderr + wrong.stderr);
    });

    it('perf authenticates with dhchapKey (-S), and its report holds no secret', async () => {
      // perf has no -q: it connects as this process's default host NQN, so it runs here.
      target.subsystem(NQN)!.addHost({ nqn: defaultHostNqn(), dhchapKey: key });
      const report = await runPerf(perfOptions({ traddr: '127.0.0.1', trsvcid: port, nqn: NQN, dhchapKey: key, runtime: 0.2 }));
      assert.ok(report.read.ios > 0);
      noSecret(JSON.stringify(report) + JSON.stringify(fioJson(report)) + formatNormal(report));
      assert.equal((report.options.target as { dhchapKey?: string }).dhchapKey, undefined);
    });
  });
});
