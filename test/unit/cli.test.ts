import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';

const cli = path.resolve(__dirname, '..', '..', 'lib', 'cli', 'main.js');
const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30000 });

describe('the rdmagate command', function () {
  this.timeout(60000);

  it('runs a target until SIGTERM, and discover / id-ctrl / id-ns reach it', async () => {
    const port = 20000 + (process.pid % 5000);
    const target = spawn(process.execPath, [cli, 'target', '-s', String(port), '-n', 'nqn.2026-11.io.rdmagate:cli']);
    let out = '';
    await new Promise<void>((resolve, reject) => {
      target.stdout.on('data', (d: Buffer) => { out += d; if (out.includes('Ctrl-C')) resolve(); });
      target.once('exit', (code) => reject(new Error(`target exited early (${code}): ${out}`)));
    });
    try {
      const disc = run(['discover', '-t', 'tcp', '-a', '127.0.0.1', '-s', String(port), '-o', 'json']);
      assert.equal(disc.status, 0, disc.stderr);
      const records = (JSON.parse(disc.stdout) as { records: { subnqn: string; trsvcid: string; subtype: string }[] }).records;
      assert.ok(records.some((r) => r.subnqn === 'nqn.2026-11.io.rdmagate:cli' && r.trsvcid === String(port) && r.subtype === 'nvme subsystem'));
      const ctrl = run(['id-ctrl', '-a', '127.0.0.1', '-s', String(port), '-n', 'nqn.2026-11.io.rdmagate:cli', '--output-format', 'json']);
      assert.equal(ctrl.status, 0, ctrl.stderr);
      assert.equal((JSON.parse(ctrl.stdout) as { mn: string }).mn, 'rdmagate');
      const ns = run(['id-ns', '-a', '127.0.0.1', '-s', String(port), '-n', 'nqn.2026-11.io.rdmagate:cli', '-o', 'json']);
      assert.equal((JSON.parse(ns.stdout) as { size: number }).size, 64 << 20);
      assert.match(run(['id-ctrl', '-a', '127.0.0.1', '-s', String(port), '-n', 'nqn.2026-11.io.rdmagate:cli']).stdout, /^mn\s+: rdmagate$/m);
    } finally {
      target.kill('SIGTERM');
    }
    const code = await new Promise((r) => target.once('exit', r));
    assert.equal(code, 0);
  });

  it('reports bad flags and unreachable targets as typed errors with a non-zero exit', () => {
    const bad = run(['id-ctrl', '-a', '127.0.0.1']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /ERR_INVALID_ARG/);
    const unknown = run(['discover', '--bogus']);
    assert.match(unknown.stderr, /unknown option --bogus/);
    const refused = run(['discover', '-a', '127.0.0.1', '-s', '1']);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /ERR_NVME_CONNECT/);
  });
});
