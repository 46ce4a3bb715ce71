import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { rdma } from '../../lib';

const root = path.resolve(__dirname, '..', '..', '..');

function skipBecause(ctx: Mocha.Context, reason: string): void {
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}

/** Runs `code` in a fresh node where rdma-core cannot be found. */
function withoutRdmaCore(code: string): unknown {
  const out = execFileSync(process.execPath, ['-e', code], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, RDMAGATE_LIBIBVERBS: 'libibverbs-not-installed.so.1' },
  });
  return JSON.parse(out);
}

describe('without rdma-core', () => {
  it('the addon has no link-time dependency on libibverbs or librdmacm', () => {
    const addon = path.join(root, 'build', 'Release', 'rdmagate.node');
    const nm = spawnSync('nm', ['-D', '--undefined-only', addon], { encoding: 'utf8' });
    // binutils is part of the toolchain that built the addon: without nm this check cannot pass vacuously.
    assert.ifError(nm.error);
    assert.doesNotMatch(nm.stdout, /\b(ibv|rdma)_\w+/);
    const ldd = spawnSync('ldd', [addon], { encoding: 'utf8' });
    assert.ifError(ldd.error);
    assert.doesNotMatch(ldd.stdout, /libibverbs|librdmacm/);
  });

  it('loads, keeps buffers working, and RDMA entry points throw RdmaUnavailableError naming what is missing', () => {
    const r = withoutRdmaCore(`
      const r = require('./dist/lib');
      const out = { available: r.rdma.available() };
      const pool = new r.BufferPool({ chunkSize: 4096 });
      const b = pool.acquire(); b.fill(3); out.buffers = b[4095] === 3; b.release(); pool.close();
      const err = (f) => { try { f(); return null } catch (e) { return { name: e.name, code: e.code, message: e.message } } };
      out.devices = err(() => r.rdma.devices());
      out.listen = err(() => new r.RdmaListener({ address: '127.0.0.1', port: 0 }));
      r.rdma.connect({ address: '127.0.0.1', port: 4420 }).then(
        () => { out.connect = null; console.log(JSON.stringify(out)) },
        (e) => { out.connect = { name: e.name, code: e.code }; console.log(JSON.stringify(out)) });
    `) as Record<string, { name: string; code: string; message: string } & { available: boolean; reason: string }>;
    assert.equal(r.available.available, false);
    assert.match(r.available.reason, /libibverbs-not-installed\.so\.1/);
    assert.equal(r.buffers, true);
    for (const k of ['devices', 'listen', 'connect']) {
      assert.equal(r[k].name, 'RdmaUnavailableError', k);
      assert.equal(r[k].code, 'ERR_RDMA_UNAVAILABLE', k);
    }
    assert.match(r.devices.message, /libibverbs-not-installed\.so\.1/);
  });

  it('on this host, with rdma-core but no device, the calls give typed errors, not crashes', function () {
    // Said, not silent: the cases this test is not for are covered elsewhere.
    if (!rdma.available().available) return skipBecause(this, 'no rdma-core here: the test above covers a host without it');
    if (rdma.devices().length > 0) return skipBecause(this, 'an RDMA device is here: test:rdma covers it');
    assert.deepEqual(rdma.devices(), []);
    assert.throws(() => new rdma.RdmaListener({ address: '127.0.0.1', port: 0 }), (e: Error & { code: string }) =>
      e.code === 'ERR_RDMA_VERBS' || e.code === 'ERR_ADDRESS_IN_USE');
  });
});
