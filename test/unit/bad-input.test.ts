import assert from 'node:assert/strict';
import { BufferPool, RdmaListener, rdma } from '../../lib';
import { native } from '../../lib/native';

const WRONG = [undefined, null, -1, 1.5, 2 ** 53, Number.NaN, Infinity, '4096', {}, [], 10n, () => 0];
const code = (c: string) => ({ code: c });

describe('bad input reaches no native code unchecked', () => {
  it('BufferPool options: wrong types, negative and huge sizes', () => {
    for (const w of WRONG.filter((x) => x !== undefined)) {
      assert.throws(() => new BufferPool({ chunkSize: w as number }), code('ERR_INVALID_ARG'), `chunkSize=${String(w)}`);
      assert.throws(() => new BufferPool({ regionSize: w as number }), code('ERR_INVALID_ARG'), `regionSize=${String(w)}`);
      assert.throws(() => new BufferPool({ capacity: w as number }), code('ERR_INVALID_ARG'), `capacity=${String(w)}`);
    }
    assert.throws(() => new BufferPool({ chunkSize: 1000 }), code('ERR_INVALID_ARG'));
    assert.throws(() => new BufferPool({ chunkSize: 4096, regionSize: 6144 }), code('ERR_INVALID_ARG'));
    assert.throws(() => new BufferPool({ chunkSize: 4096, regionSize: 8192, capacity: 4096 }), code('ERR_INVALID_ARG'));
    assert.throws(() => new BufferPool({ hugepages: 'yes' as 'auto' }), code('ERR_INVALID_ARG'));
    assert.throws(() => new BufferPool(null as unknown as object), code('ERR_INVALID_ARG'));
    assert.throws(() => new BufferPool(42 as unknown as object), code('ERR_INVALID_ARG'));
  });

  it('native pool bindings check their arguments too', () => {
    const p = new native.NativeBufferPool(4096, 8192, 8192, 'never');
    for (const w of WRONG) {
      assert.throws(() => p.release(w as number, new ArrayBuffer(1)), code('ERR_INVALID_ARG'));
      assert.throws(() => p.address(w as number), /ERR_|released|must be/);
    }
    assert.throws(() => p.address(0), code('ERR_BUFFER_RELEASED'), 'a chunk that is not out');
    assert.throws(() => p.address(2 ** 32 - 1), code('ERR_BUFFER_RELEASED'));
    const [index] = p.acquire()!;
    assert.throws(() => p.release(index, new ArrayBuffer(4096)), code('ERR_INVALID_ARG'), 'a foreign ArrayBuffer');
    assert.throws(() => p.release(index, 'x' as unknown as ArrayBuffer), code('ERR_INVALID_ARG'));
    assert.throws(() => new native.NativeBufferPool(-1, 8192, 8192, 'never'), code('ERR_INVALID_ARG'));
    assert.throws(() => new native.NativeBufferPool(0, 8192, 8192, 'never'), code('ERR_INVALID_ARG'));
  });

  it('released objects are refused', () => {
    const pool = new BufferPool({ chunkSize: 4096 });
    const b = pool.acquire();
    b.release();
    assert.throws(() => b.release(), code('ERR_BUFFER_RELEASED'));
    pool.close();
    assert.throws(() => pool.acquire(), code('ERR_POOL_DESTROYED'));
    assert.throws(() => pool.tryAcquire(), code('ERR_POOL_DESTROYED'));
  });

  it('RDMA entry points validate before touching the device', async () => {
    for (const w of [...WRONG.filter((x) => typeof x !== 'string'), '']) {
      await assert.rejects(rdma.connect({ address: w as string, port: 4420 }), code('ERR_INVALID_ARG'));
    }
    for (const w of WRONG) {
      await assert.rejects(rdma.connect({ address: '127.0.0.1', port: w as number }), code('ERR_INVALID_ARG'));
      assert.throws(() => new RdmaListener({ address: '127.0.0.1', port: w as number }), code('ERR_INVALID_ARG'));
    }
    await assert.rejects(rdma.connect({ address: '127.0.0.1', port: 70000 }), code('ERR_INVALID_ARG'));
    await assert.rejects(rdma.connect({ address: '127.0.0.1', port: 4420, sendDepth: -1 }), code('ERR_INVALID_ARG'));
    await assert.rejects(rdma.connect({ address: '127.0.0.1', port: 4420, receiveDepth: 2 ** 40 }), code('ERR_INVALID_ARG'));
    await assert.rejects(rdma.connect({ address: '127.0.0.1', port: 4420, privateData: new Uint8Array(57) }), code('ERR_INVALID_ARG'));
    await assert.rejects(rdma.connect(null as unknown as rdma.RdmaConnectOptions), code('ERR_INVALID_ARG'));
    assert.throws(() => new RdmaListener({ address: '127.0.0.1', port: 0, backlog: 0 }), code('ERR_INVALID_ARG'));
  });

  it('native RDMA bindings check their arguments too', () => {
    const opts = { sendDepth: 1, receiveDepth: 1, inlineSize: 0, timeoutMs: 10 };
    assert.throws(() => native.rdmaConnect('', 1, opts), code('ERR_INVALID_ARG'));
    assert.throws(() => native.rdmaConnect('127.0.0.1', -5, opts), /ERR_INVALID_ARG|must be/);
    assert.throws(() => native.rdmaConnect('127.0.0.1', 1e6, opts), /ERR_INVALID_ARG|must be|port/);
  });
});
