import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BufferPool, IoBuffer } from '../../lib';

const PAGE = 4096;

function freeHugepages(): number {
  const m = /HugePages_Free:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) : 0;
}

async function collect(): Promise<void> {
  assert.ok(global.gc, 'run with --expose-gc');
  for (let i = 0; i < 3; i++) {
    global.gc();
    await new Promise((r) => setImmediate(r));
  }
}

describe('BufferPool and IoBuffer', () => {
  it('hands out page-aligned, fixed-size chunks as Uint8Arrays over native memory', () => {
    const pool = new BufferPool({ chunkSize: 8192, regionSize: 64 * 1024, capacity: 256 * 1024 });
    const a = pool.acquire();
    const b = pool.acquire();
    assert.ok(a instanceof Uint8Array);
    assert.equal(a.length, 8192);
    assert.equal(a.address % BigInt(PAGE), 0n);
    // Chunks of one region are contiguous: the views are windows onto one mapping.
    assert.equal(b.address - a.address, 8192n);
    a.release();
    b.release();
    pool.close();
  });

  it('is zero-copy: a write through one view is seen through another over the same memory', () => {
    const pool = new BufferPool({ chunkSize: 4096 });
    const buf = pool.acquire();
    const alias = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    buf[100] = 0xab;
    assert.equal(alias[100], 0xab);
    alias[200] = 0xcd;
    assert.equal(Buffer.from(buf.buffer, buf.byteOffset, buf.length)[200], 0xcd);
    buf.release();
    pool.close();
  });

  it('derived arrays are plain Uint8Arrays, not pool chunks', () => {
    const pool = new BufferPool({ chunkSize: 4096 });
    const buf = pool.acquire();
    assert.equal(buf.subarray(0, 10).constructor, Uint8Array);
    assert.equal(buf.slice(0, 10).constructor, Uint8Array);
    buf.release();
    pool.close();
  });

  it('refuses use after release, and detaches the view', () => {
    const pool = new BufferPool({ chunkSize: 4096 });
    const buf = pool.acquire();
    buf.release();
    assert.equal(buf.released, true);
    assert.equal(buf.length, 0, 'the view is detached, so stale reads see nothing');
    assert.throws(() => buf.address, { code: 'ERR_BUFFER_RELEASED' });
    assert.throws(() => buf.release(), { code: 'ERR_BUFFER_RELEASED' });
    assert.throws(() => buf.nativeRef(), { code: 'ERR_BUFFER_RELEASED' });
    pool.close();
  });

  it('reuses released chunks', () => {
    const pool = new BufferPool({ chunkSize: 4096, regionSize: 8192, capacity: 8192 });
    const a = pool.acquire();
    const addr = a.address;
    a.release();
    const b = pool.acquire();
    assert.equal(b.address, addr);
    b.release();
    pool.close();
  });

  it('grows by regions up to its capacity, then reports exhaustion', () => {
    const pool = new BufferPool({ chunkSize: 4096, regionSize: 8192, capacity: 16384 });
    const bufs = [pool.acquire(), pool.acquire()];
    assert.equal(pool.stats().regions, 1);
    bufs.push(pool.acquire());
    assert.equal(pool.stats().regions, 2);
    bufs.push(pool.acquire());
    assert.equal(pool.tryAcquire(), null);
    assert.throws(() => pool.acquire(), { code: 'ERR_POOL_EXHAUSTED' });
    for (const b of bufs) b.release();
    pool.close();
  });

  it('reports allocated, free and registered bytes', () => {
    const pool = new BufferPool({ chunkSize: 4096, regionSize: 16384, capacity: 16384 });
    const a = pool.acquire();
    const s = pool.stats();
    assert.equal(s.mappedBytes, 16384);
    assert.equal(s.allocatedBytes, 4096);
    assert.equal(s.freeBytes, 12288);
    assert.equal(s.registeredBytes, 0, 'no RDMA device used yet');
    a.release();
    assert.equal(pool.stats().allocatedBytes, 0);
    pool.close();
  });

  it('returns a garbage-collected buffer to its pool', async () => {
    const pool = new BufferPool({ chunkSize: 4096 });
    (() => { pool.acquire()[0] = 1; })();
    assert.equal(pool.stats().allocatedBytes, 4096);
    await collect();
    assert.equal(pool.stats().allocatedBytes, 0);
    pool.close();
  });

  it('cannot be closed while buffers are out', () => {
    const pool = new BufferPool({ chunkSize: 4096 });
    const buf = pool.acquire();
    assert.throws(() => pool.close(), { code: 'ERR_POOL_BUSY' });
    buf.release();
    pool.close();
    assert.throws(() => pool.acquire(), { code: 'ERR_POOL_DESTROYED' });
  });

  it('uses hugepages when asked and available, and says so when not', () => {
    if (freeHugepages() >= 1) {
      const pool = new BufferPool({ chunkSize: 4096, hugepages: 'require' });
      const b = pool.acquire();
      assert.equal(pool.stats().hugepageRegions, 1);
      b.release();
      pool.close();
    } else {
      assert.throws(() => new BufferPool({ chunkSize: 4096, hugepages: 'require' }).acquire(),
        { code: 'ERR_NO_HUGEPAGES' });
    }
    const plain = new BufferPool({ chunkSize: 4096, hugepages: 'never' });
    const b = plain.acquire();
    assert.equal(plain.stats().hugepageRegions, 0);
    b.release();
    plain.close();
  });

  it('cannot be constructed directly', () => {
    const Ctor = IoBuffer as unknown as new (...args: unknown[]) => IoBuffer;
    assert.throws(() => new Ctor(Symbol('x'), null, 0, new ArrayBuffer(8)), TypeError);
  });
});
