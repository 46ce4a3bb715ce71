/**
 * `rdmagate discover | id-ctrl | id-ns | perf` as nvme-cli users call them: -t rdma taken,
 * id-ns in nvme-cli's words, a bad -o refused, and a refused Connect explained.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { formatIdNs } from '../../lib/cli/id-ns-format';

const MAIN = resolve(__dirname, '../../lib/cli/main.js');
const run = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 30000 });

const OPEN = 'nqn.2026-11.io.rdmagate:cli-open';
const CLOSED = 'nqn.2026-11.io.rdmagate:cli-closed';
const ALLOWED = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000000a1';
const STRANGER = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000000b2';

/** One line, `rdmagate: ... (ERR_...)`: what the command prints for a typed error. */
const ONE_TYPED_LINE = /^rdmagate: [^\n]+ \(ERR_[A-Z_]+\)\n$/;

describe('rdmagate discover / id-ctrl / id-ns / perf, as nvme-cli', function () {
  this.timeout(60000);
  let dir: string;
  let target: ChildProcess;
  let port: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-cli-nvme-'));
    // Below Linux's ephemeral range, away from cli.test.ts's ports.
    port = 26000 + (process.pid % 4000);
    const config = join(dir, 'target.json');
    writeFileSync(config, JSON.stringify({
      bdevs: [{ type: 'malloc', name: 'Open0', sizeBytes: 8 << 20, blockSize: 512 },
        { type: 'malloc', name: 'Closed0', sizeBytes: 8 << 20, blockSize: 512 }],
      subsystems: [{ nqn: OPEN, allowAnyHost: true, namespaces: [{ bdev: 'Open0', nsid: 1 }] },
        { nqn: CLOSED, allowAnyHost: false, hosts: [ALLOWED], namespaces: [{ bdev: 'Closed0', nsid: 1 }] }],
      listeners: [{ transport: 'tcp', address: '127.0.0.1', port }],
    }));
    target = spawn(process.execPath, [MAIN, 'target', '-c', config]);
    let out = '';
    await new Promise<void>((resolve, reject) => {
      target.stdout!.on('data', (d: Buffer) => { out += d; if (out.includes('Ctrl-C')) resolve(); });
      target.once('exit', (code) => reject(new Error(`target exited early (${code}): ${out}`)));
    });
  });

  after(async () => {
    if (target.exitCode === null) {
      target.kill('SIGTERM');
      await once(target, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('take -t rdma (and -t tcp), as nvme-cli does; any other transport is refused by name', () => {
    const where = ['-a', '127.0.0.1', '-s', '1'];
    for (const args of [['discover', ...where], ['id-ctrl', ...where, '-n', OPEN], ['id-ns', ...where, '-n', OPEN],
      ['perf', ...where, '-n', OPEN, '--runtime', '1']]) {
      // Port 1: nothing listens there. What matters is that -t rdma reached the host, which said why it could not connect.
      const r = run([...args, '-t', 'rdma']);
      assert.equal(r.status, 1, args[0]);
      assert.match(r.stderr, ONE_TYPED_LINE, args[0]);
      assert.doesNotMatch(r.stderr, /unknown option|must be/, args[0]);
      const bad = run([...args, '-t', 'fc']);
      assert.equal(bad.status, 1, args[0]);
      assert.match(bad.stderr, /transport must be .*tcp.*rdma.*, got .fc. \(ERR_INVALID_ARG\)\n$/, args[0]);
    }
    assert.equal(run(['discover', '-t', 'tcp', '-a', '127.0.0.1', '-s', String(port)]).status, 0);
  });

  it('id-ns prints nvme-cli\'s fields, and never undefined', () => {
    const r = run(['id-ns', '-t', 'tcp', '-a', '127.0.0.1', '-s', String(port), '-n', OPEN]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'NVME Identify Namespace 1:');
    const fields = new Map(lines.slice(1).map((l) => l.split(/\s*: /, 2) as [string, string]));
    assert.equal(fields.get('nsze'), `0x${(16384).toString(16)}`);  // 8 MiB of 512-byte blocks
    assert.equal(fields.get('ncap'), '0x4000');
    assert.equal(fields.get('nuse'), '0x4000');
    for (const name of ['nsfeat', 'dlfeat', 'nguid', 'eui64']) assert.ok(fields.has(name), name);
    assert.match(fields.get('nguid')!, /^[0-9a-f]{32}$/);
    assert.match(fields.get('eui64')!, /^[0-9a-f]{16}$/);
    assert.doesNotMatch(r.stdout, /undefined|NaN/);
    // The old camel-case names are gone from the text output.
    assert.doesNotMatch(r.stdout, /blockSize|metadataSize|utilization/);
  });

  it('refuses an unknown -o format up front, as one typed line', () => {
    for (const command of [['id-ns', '-n', OPEN], ['id-ctrl', '-n', OPEN], ['discover']]) {
      const r = run([...command, '-a', '127.0.0.1', '-s', String(port), '-o', 'xml']);
      assert.equal(r.status, 1, command[0]);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, 'rdmagate: -o/--output-format must be normal or json, got \'xml\' (ERR_INVALID_ARG)\n');
    }
  });

  it('says in words that a Connect was refused for its subsystem or host, the NVMe status after', () => {
    const unknown = 'nqn.2026-11.io.rdmagate:no-such-subsystem';
    // perf has no -q: it connects as this host's default NQN, which the message names.
    for (const [args, host] of [[['id-ctrl', '-n', unknown, '-q', STRANGER], STRANGER], [['id-ns', '-n', unknown, '-q', STRANGER], STRANGER],
      [['perf', '-n', unknown, '--runtime', '1'], 'nqn.']] as const) {
      const r = run([...args, '-a', '127.0.0.1', '-s', String(port)]);
      assert.equal(r.status, 1, args[0]);
      assert.match(r.stderr, ONE_TYPED_LINE, args[0]);
      assert.ok(r.stderr.startsWith(`rdmagate: no subsystem ${unknown} on 127.0.0.1:${port}, or host ${host}`), `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, / not allowed: connect: invalid parameters \(sct 1, sc 0x82[^)]*\) \(ERR_NVME_CONNECT\)\n$/, args[0]);
    }
    const refused = run(['id-ctrl', '-a', '127.0.0.1', '-s', String(port), '-n', CLOSED, '-q', STRANGER]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, new RegExp(`^rdmagate: no subsystem ${CLOSED} on 127\\.0\\.0\\.1:${port}, or host ${STRANGER} not allowed: `
      + 'connect: invalid host \\(sct 1, sc 0x84[^)]*\\) \\(ERR_NVME_CONNECT\\)\\n$'));
    // The host it lets in is let in.
    const allowed = run(['id-ctrl', '-a', '127.0.0.1', '-s', String(port), '-n', CLOSED, '-q', ALLOWED, '-o', 'json']);
    assert.equal(allowed.status, 0, allowed.stderr);
    // With no -q, the message names the host NQN that was sent.
    const anonymous = run(['id-ctrl', '-a', '127.0.0.1', '-s', String(port), '-n', CLOSED]);
    assert.match(anonymous.stderr, /or host nqn\.\S+ not allowed: connect: invalid host/);
  });
});

describe('id-ns\'s nvme-cli text (formatIdNs)', () => {
  const base = { nsid: 3, blocks: 0x20000, size: 0x20000 * 4096, blockSize: 4096, metadataSize: 8, capacity: 0x20000, utilization: 0,
    nguid: undefined, eui64: '0011223344556677', uuid: undefined, nsfeat: 0x4, dlfeat: 1, nlbaf: 1, flbas: 0x11, mc: 0x3, dpc: 0,
    dps: 0, nmic: 1, anagrpid: 0, lbaf: [{ ms: 0, lbads: 9, rp: 0 }, { ms: 8, lbads: 12, rp: 2 }] };

  it('prints nvme-cli\'s fields in its order and hex, zeros for identifiers that are not there, and the LBA formats', () => {
    assert.deepEqual(formatIdNs(base), [
      'NVME Identify Namespace 3:',
      'nsze    : 0x20000',
      'ncap    : 0x20000',
      'nuse    : 0',
      'nsfeat  : 0x4',
      'nlbaf   : 1',
      'flbas   : 0x11',
      'mc      : 0x3',
      'dpc     : 0',
      'dps     : 0',
      'nmic    : 0x1',
      'dlfeat  : 1',
      'nguid   : 00000000000000000000000000000000',
      'eui64   : 0011223344556677',
      'lbaf  0 : ms:0   lbads:9  rp:0',
      'lbaf  1 : ms:8   lbads:12 rp:0x2 (in use)',
    ]);
  });

  it('prints the ANA group where the namespace is in one', () => {
    assert.ok(formatIdNs({ ...base, anagrpid: 7 }).includes('anagrpid: 7'));
  });
});
