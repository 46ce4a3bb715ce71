/**
 * NVMe/TCP TLS on the command line: nvme-cli's --tls and --tls-key KEY on discover, id-ctrl,
 * id-ns and perf (--tls alone is a usage error: no kernel keyring here; --tls-key implies
 * TLS), and `rdmagate gen-tls-key` as nvme-cli's (its output nvme-cli's own for a given
 * secret). End to end: a gateway driven by `rdmagate rpc` in rpc.py's forms (-k, --psk)
 * exports a subsystem on a secure listener, which discover and id-ctrl reach with --tls-key,
 * and without it fail saying what is missing; no key in anything they print.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Gateway, Target, nvmf, type JsonObject } from '../../lib';
import { parseArgs } from '../../lib/cli/args';
import { commandFlags, type Command } from '../../lib/cli/command';
import { DISCOVER_COMMAND, ID_CTRL_COMMAND, ID_NS_COMMAND } from '../../lib/cli/nvme';
import { PERF_COMMAND } from '../../lib/cli/perf';
import { tlsFlags } from '../../lib/cli/tls-flags';
import { defaultHostNqn } from '../../lib/nvmf/host/options';
import { decodeTlsPsk } from '../../lib/nvmf/tls';
import { fioJson, formatNormal, perfOptions, runPerf } from '../../lib/perf';
import { CLI_MAIN, runCli } from '../support/cli-run';
import { freePort } from '../support/free-port';
import { tlsPsk } from '../support/tls-psk';

const NQN = 'nqn.2026-12.io.rdmagate:cli-tls';
const HOST = 'nqn.2014-08.org.nvmexpress:uuid:5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b';

/**
 * nvme-cli's own `nvme gen-tls-key --secret=HEX --hmac=N` outputs, recorded in the lab
 * (scripts/lab-tls-smoke.sh, nvme-cli 2.13): each secret and hmac once.
 */
const NVME_CLI_KEYS = [...new Map((JSON.parse(readFileSync(resolve(__dirname, '../../../test/fixtures/tls-psk-vectors.json'), 'utf8')) as
  { hmac: number; secretHex: string; interchange: string }[])
  .map((v) => [`${v.hmac} ${v.secretHex}`, { hmac: String(v.hmac), secret: v.secretHex, interchange: v.interchange }])).values()];

const body = (key: string) => key.split(':')[2]!;

describe('NVMe/TCP TLS on the command line (--tls, --tls-key, gen-tls-key)', function () {
  this.timeout(60000);
  const key = tlsPsk();

  describe('parsing', () => {
    const hostCommands: Command[] = [DISCOVER_COMMAND, ID_CTRL_COMMAND, ID_NS_COMMAND, PERF_COMMAND];
    const where = ['-t', 'tcp', '-a', '127.0.0.1', '-n', NQN];

    it('each command that connects as a host has --tls and --tls-key, as nvme-cli spells them', () => {
      for (const c of hostCommands) {
        const flags = commandFlags(c);
        assert.deepEqual(flags.find((f) => f.name === 'tls'), { name: 'tls', boolean: true, help: flags.find((f) => f.name === 'tls')!.help }, c.name);
        assert.equal(flags.find((f) => f.name === 'tls-key')?.value, 'KEY', c.name);
      }
    });

    it('reads --tls-key (with or without --tls) into the host\'s psk; --tls alone and -t rdma are usage errors that hold no key', () => {
      for (const argv of [[...where, '--tls-key', key], [...where, '--tls', '--tls-key', key], [...where, `--tls-key=${key}`]]) {
        assert.deepEqual(tlsFlags(parseArgs(argv, commandFlags(ID_CTRL_COMMAND))), { psk: key });
      }
      assert.deepEqual(tlsFlags(parseArgs(where, commandFlags(DISCOVER_COMMAND))), {}, 'none given: none set');
      assert.throws(() => tlsFlags(parseArgs([...where, '--tls'], commandFlags(ID_CTRL_COMMAND))),
        { code: 'ERR_INVALID_ARG', message: /--tls needs --tls-key KEY: .*no kernel keyring/ });
      assert.throws(() => tlsFlags(parseArgs(['-t', 'rdma', '-a', '127.0.0.1', '--tls-key', key], commandFlags(DISCOVER_COMMAND))),
        (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG' && /NVMe\/TCP's/.test(e.message) && !e.message.includes(body(key)));
      assert.throws(() => parseArgs([...where, '--tls-key'], commandFlags(ID_CTRL_COMMAND)), /--tls-key needs a value/);
    });

    it('perf takes --tls-key for a remote target only, and its report leaves the PSK out', () => {
      const remote = perfOptions({ traddr: '127.0.0.1', nqn: NQN, psk: key }).target;
      assert.deepEqual(remote, { kind: 'remote', transport: 'tcp', traddr: '127.0.0.1', trsvcid: 4420, subnqn: NQN, psk: key });
      assert.throws(() => perfOptions({ target: 'local', psk: key }), /--tls-key, -S and -C do not apply/);
    });

    it('help lists them', async () => {
      for (const name of ['discover', 'id-ctrl', 'id-ns', 'perf']) {
        const r = await runCli([name, '--help']);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^ {6}--tls\s+NVMe\/TCP TLS/m, name);
        assert.match(r.stdout, /^ {6}--tls-key KEY\s/m, name);
      }
      const tlsOnly = await runCli(['id-ctrl', '-a', '127.0.0.1', '-n', NQN, '--tls']);
      assert.equal(tlsOnly.code, 1);
      assert.match(tlsOnly.stderr, /^rdmagate: --tls needs --tls-key KEY: .* \(ERR_INVALID_ARG\)\n$/);
    });
  });

  describe('rdmagate gen-tls-key', () => {
    it('prints nvme-cli\'s interchange string for a given secret, -m 1 and -m 2', async () => {
      assert.deepEqual(NVME_CLI_KEYS.map((k) => k.hmac).sort(), ['1', '2']);
      for (const k of NVME_CLI_KEYS) {
        for (const args of [['-m', k.hmac, '-s', k.secret], [`--hmac=${k.hmac}`, `--secret=${k.secret}`]]) {
          const r = await runCli(['gen-tls-key', ...args]);
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout, `${k.interchange}\n`);
        }
      }
    });

    it('makes a random key of the size its hash takes (default -m 1), which a subsystem and our host take', async () => {
      const one = await runCli(['gen-tls-key']);
      const two = await runCli(['gen-tls-key', '-m', '2']);
      const again = await runCli(['gen-tls-key']);
      for (const [r, hash, bytes] of [[one, 1, 32], [two, 2, 48]] as const) {
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^NVMeTLSkey-1:0${hash}:[A-Za-z0-9+/]+=*:\\n$`));
        const d = decodeTlsPsk(r.stdout.trim());
        assert.ok(typeof d === 'object' && d.hash === hash && d.key.length === bytes, r.stdout);
      }
      assert.notEqual(one.stdout, again.stdout, 'random');
      // Subsystem.addHost takes it, and our host connects over TLS with it.
      const generated = one.stdout.trim();
      const target = new Target({ reactors: 1 });
      try {
        target.createBdev({ type: 'malloc', name: 'M0', sizeBytes: 1 << 20 });
        target.addSubsystem({ nqn: NQN, allowAnyHost: false }).addNamespace({ bdev: 'M0' });
        target.subsystem(NQN)!.addHost({ nqn: HOST, psk: generated });
        target.subsystem(NQN)!.addHost({ nqn: defaultHostNqn(), psk: two.stdout.trim() });
        const port = target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0, secureChannel: true }).port;
        const c = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, hostnqn: HOST, psk: generated, ctrlLossTmo: 0 });
        await c.close();
        const d = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, psk: two.stdout.trim(), ctrlLossTmo: 0 });
        await d.close();
      } finally {
        target.closeSync();
      }
    });

    it('refuses a bad --hmac or --secret without repeating the secret', async () => {
      const secret = NVME_CLI_KEYS.find((k) => k.hmac === '1')!.secret;
      for (const [args, message] of [
        [['-m', '3'], /-m\/--hmac must be 1 or 2, got '3'/],
        [['-m', '2', '-s', secret], /must be 48 bytes \(96 hex digits\) for -m 2, got 32 bytes/],
        [['-s', `${secret}zz`], /must be the key in hex digits/],
        [['-s', secret.slice(1)], /must be the key in hex digits/],
      ] as const) {
        const r = await runCli(['gen-tls-key', ...args]);
        assert.equal(r.code, 1, args.join(' '));
        assert.match(r.stderr, message);
        assert.match(r.stderr, /\(ERR_INVALID_ARG\)\n$/);
        assert.ok(!r.stderr.includes(secret.slice(1, 40)), r.stderr);
        assert.equal(r.stdout, '');
      }
    });
  });

  describe('rdmagate target --config with a secure listener and a host\'s psk', () => {
    it('serves TLS as its config says, says so, and id-ctrl reaches it with --tls-key', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'rdmagate-cli-tls-target-'));
      const config = join(dir, 'target.json');
      writeFileSync(config, JSON.stringify({
        bdevs: [{ type: 'malloc', name: 'M0', sizeBytes: 1 << 20 }],
        subsystems: [{ nqn: NQN, allowAnyHost: false, hosts: [{ nqn: HOST, psk: key }], namespaces: [{ bdev: 'M0' }] }],
        listeners: [{ transport: 'tcp', address: '127.0.0.1', port: 0, secureChannel: true }],
      }), { mode: 0o600 });
      const child = spawn(process.execPath, [CLI_MAIN, 'target', '--config', config]);
      let stdout = '';
      try {
        await new Promise<void>((resolve, reject) => {
          child.stdout.on('data', (d: Buffer) => {
            stdout += d.toString();
            if (stdout.includes('Ctrl-C stops the target')) resolve();
          });
          child.once('exit', (code) => reject(new Error(`target exited ${code}: ${stdout}`)));
        });
        const m = /^listening: tcp 127\.0\.0\.1:(\d+) \(portid \d+, secure channel: TLS required\)$/m.exec(stdout);
        assert.ok(m, stdout);
        assert.match(stdout, new RegExp(`rdmagate id-ctrl -t tcp -a 127\\.0\\.0\\.1 -s ${m[1]} -n ${NQN} --tls-key KEY`));
        const ok = await runCli(['id-ctrl', '-a', '127.0.0.1', '-s', m[1]!, '-n', NQN, '-q', HOST, '--tls-key', key, '-o', 'json']);
        assert.equal(ok.code, 0, ok.stderr);
        const none = await runCli(['id-ctrl', '-a', '127.0.0.1', '-s', m[1]!, '-n', NQN, '-q', HOST]);
        assert.equal(none.code, 1);
        assert.ok(!stdout.includes(body(key)) && !ok.stdout.includes(body(key)), 'no key printed');
      } finally {
        child.kill('SIGTERM');
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('against a gateway\'s secure listener, set up with rpc.py\'s forms', () => {
    let dir: string;
    let sock: string;
    let gateway: Gateway;
    let port: number;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'rdmagate-cli-tls-'));
      sock = join(dir, 'gw.sock');
      gateway = new Gateway({ socketPath: sock, configPath: null, log: () => undefined });
      await gateway.start();
      port = await freePort();
      const path = join(dir, 'psk0');
      writeFileSync(path, `${key}\n`);
      chmodSync(path, 0o600);
      for (const args of [['keyring_file_add_key', 'psk0', path], ['bdev_malloc_create', '-b', 'M0', '4', '512'],
        ['nvmf_create_transport', '-t', 'tcp'], ['nvmf_create_subsystem', NQN], ['nvmf_subsystem_add_ns', NQN, 'M0'],
        ['nvmf_subsystem_add_listener', NQN, '-t', 'tcp', '-a', '127.0.0.1', '-s', String(port), '-k'],
        ['nvmf_subsystem_add_host', NQN, HOST, '--psk', 'psk0']]) {
        const r = await runCli(['rpc', '-s', sock, ...args]);
        assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      }
      const [s] = await gateway.rpc('nvmf_get_subsystems', { nqn: NQN }) as JsonObject[];
      assert.deepEqual(s!.hosts, [{ nqn: HOST, psk: 'psk0' }]);
      assert.equal((s!.listen_addresses as JsonObject[])[0]!.secure_channel, true);
    });

    after(async () => {
      await gateway.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const where = () => ['-t', 'tcp', '-a', '127.0.0.1', '-s', String(port), '-q', HOST];
    const noKey = (...texts: string[]) => {
      for (const t of texts) assert.ok(!t.includes(body(key)), t);
    };

    it('discover reads the log over TLS with --tls-key, and without it fails saying so', async () => {
      const ok = await runCli(['discover', ...where(), '--tls', '--tls-key', key, '-o', 'json']);
      assert.equal(ok.code, 0, ok.stderr);
      const records = (JSON.parse(ok.stdout) as { records: { subnqn: string; treq: string; sectype: number | string }[] }).records;
      const entry = records.find((r) => r.subnqn === NQN)!;
      assert.ok(entry, ok.stdout);
      assert.match(entry.treq, /^required/);
      assert.equal(entry.sectype, 'tls13', 'as nvme-cli (libnvme) names it');
      const text = await runCli(['discover', ...where(), '--tls-key', key]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^treq: {4}required/m);
      assert.match(text.stdout, /^sectype: tls13$/m);
      const none = await runCli(['discover', ...where()]);
      assert.equal(none.code, 1);
      assert.match(none.stderr, /requires TLS .* --tls-key KEY.*\(ERR_NVME_CONNECT\)\n$/);
      noKey(ok.stdout, ok.stderr, text.stdout, text.stderr, none.stderr);
    });

    it('id-ctrl and id-ns connect with --tls-key; without it, or with another key, they fail with ERR_NVME_CONNECT', async () => {
      const ok = await runCli(['id-ctrl', ...where(), '-n', NQN, '--tls-key', key, '-o', 'json']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal((JSON.parse(ok.stdout) as { subnqn: string }).subnqn, NQN);
      const ns = await runCli(['id-ns', ...where(), '-n', NQN, '--tls', '--tls-key', key]);
      assert.equal(ns.code, 0, ns.stderr);
      const none = await runCli(['id-ctrl', ...where(), '-n', NQN]);
      assert.equal(none.code, 1);
      assert.match(none.stderr, /a listener that requires TLS \(a secure channel\) drops a host that connects without it; .*--tls-key KEY/);
      assert.match(none.stderr, /\(ERR_NVME_CONNECT\)\n$/);
      const other = tlsPsk();
      const wrong = await runCli(['id-ctrl', ...where(), '-n', NQN, '--tls-key', other]);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /TLS handshake .* failed.*\(ERR_NVME_CONNECT\)\n$/);
      const malformed = await runCli(['id-ctrl', ...where(), '-n', NQN, '--tls-key', `NVMeTLSkey-1:01:${body(key).slice(4)}:`]);
      assert.equal(malformed.code, 1);
      assert.match(malformed.stderr, /invalid TLS PSK.*\(ERR_INVALID_KEY\)\n$/);
      noKey(ok.stdout, ok.stderr, ns.stdout, none.stderr, wrong.stderr, malformed.stderr);
      assert.ok(!wrong.stderr.includes(body(other)) && !malformed.stderr.includes(body(key).slice(4)), 'no key in the errors');
    });

    it('perf runs over TLS with psk (--tls-key), and its report holds no key', async () => {
      // perf has no -q: it connects as this process's default host NQN.
      await gateway.rpc('nvmf_subsystem_add_host', { nqn: NQN, host: defaultHostNqn(), psk: 'psk0' });
      const report = await runPerf(perfOptions({ traddr: '127.0.0.1', trsvcid: port, nqn: NQN, psk: key, runtime: 0.2 }));
      assert.ok(report.read.ios > 0);
      noKey(JSON.stringify(report), JSON.stringify(fioJson(report)), formatNormal(report));
      assert.equal((report.options.target as { psk?: string }).psk, undefined);
      // The command in a process of its own has a host NQN of its own (no /etc/nvme/hostnqn here),
      // which has no PSK on the subsystem: with --tls-key it gets as far as the TLS handshake.
      const cli = await runCli(['perf', '-a', '127.0.0.1', '-s', String(port), '-n', NQN, '--tls-key', key, '--runtime', '0.2']);
      assert.equal(cli.code, 1);
      assert.match(cli.stderr, /TLS handshake .*\(ERR_NVME_CONNECT\)\n$/);
      const plain = await runCli(['perf', '-a', '127.0.0.1', '-s', String(port), '-n', NQN, '--runtime', '0.2']);
      assert.equal(plain.code, 1);
      assert.match(plain.stderr, /--tls-key KEY.*\(ERR_NVME_CONNECT\)\n$/);
      const tlsOnly = await runCli(['perf', '-a', '127.0.0.1', '-s', String(port), '-n', NQN, '--tls']);
      assert.equal(tlsOnly.code, 1);
      assert.match(tlsOnly.stderr, /--tls needs --tls-key KEY/);
      noKey(cli.stdout, cli.stderr, plain.stderr);
    });
  });
});
