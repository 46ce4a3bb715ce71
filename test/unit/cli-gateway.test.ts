/**
 * `rdmagate gateway`'s start-up failures as one typed line (a busy metrics port, a socket
 * in a missing directory, a bad --metrics-address), and metrics served on --metrics-address.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { get } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const MAIN = resolve(__dirname, '../../lib/cli/main.js');

/** stderr without the gateway's JSON log lines: what the command itself printed. */
function printed(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l !== '' && !l.startsWith('{'));
}

function fetchStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).once('error', reject);
  });
}

describe('rdmagate gateway (CLI): start-up errors and metrics', function () {
  this.timeout(30000);
  let dir: string;
  const gateway = (...args: string[]) => spawnSync(process.execPath,
    [MAIN, 'gateway', '-s', join(dir, 'gw.sock'), '--config', join(dir, 'config.json'), ...args], { encoding: 'utf8', timeout: 20000 });

  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'rdmagate-cli-gw-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a busy metrics port is one typed line, not a stack trace', async () => {
    const busy = createServer().listen(0, '127.0.0.1');
    await once(busy, 'listening');
    const { port } = busy.address() as AddressInfo;
    try {
      const r = gateway('--metrics-port', String(port));
      assert.equal(r.status, 1, r.stderr);
      assert.deepEqual(printed(r.stderr),
        [`rdmagate: cannot serve metrics on 127.0.0.1:${port}: the port is in use (--metrics-port) (ERR_ADDRESS_IN_USE)`]);
    } finally {
      busy.close();
    }
  });

  it('a socket in a missing directory says so, in one line', () => {
    const r = spawnSync(process.execPath, [MAIN, 'gateway', '-s', join(dir, 'missing', 'gw.sock'), '--config', join(dir, 'config.json')],
      { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 1, r.stderr);
    assert.deepEqual(printed(r.stderr), [`rdmagate: the socket directory ${join(dir, 'missing')} does not exist (ERR_SOCKET_DIR_MISSING)`]);
  });

  it('refuses a --metrics-address that is not an IP, or one with no metrics port', () => {
    for (const [args, message] of [
      [['--metrics-port', '0', '--metrics-address', 'localhost'], /--metrics-address must be a numeric IP address, got 'localhost'/],
      [['--metrics-address', '127.0.0.1'], /--metrics-address needs --metrics-port/],
    ] as const) {
      const r = gateway(...args);
      assert.equal(r.status, 1);
      assert.equal(printed(r.stderr).length, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /\(ERR_INVALID_ARG\)\n$/);
    }
  });

  it('serves metrics on --metrics-address, and on loopback without it', async () => {
    // 127.0.0.2 is loopback too on Linux, and tells the address given from the default.
    for (const [args, address] of [[['--metrics-address', '127.0.0.2'], '127.0.0.2'], [[], '127.0.0.1']] as const) {
      const child = spawn(process.execPath, [MAIN, 'gateway', '-s', join(dir, 'gw.sock'), '--config', join(dir, 'config.json'),
        '--metrics-port', '0', ...args]);
      let out = '';
      let err = '';
      child.stderr.on('data', (d: Buffer) => { err += d; });
      try {
        const url = await new Promise<string>((resolve, reject) => {
          child.stdout.on('data', (d: Buffer) => {
            out += d;
            const m = /^metrics: (http:\/\/\S+)$/m.exec(out);
            if (m) resolve(m[1]);
          });
          child.once('exit', (code) => reject(new Error(`gateway exited (${code}): ${err}`)));
        });
        assert.match(url, new RegExp(`^http://${address.replace(/\./g, '\\.')}:\\d+/metrics$`));
        assert.equal(await fetchStatus(url), 200);
      } finally {
        child.kill('SIGTERM');
        const [code] = await once(child, 'exit');
        assert.equal(code, 0, err);
      }
    }
  });
});
