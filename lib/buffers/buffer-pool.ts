import { BufferPoolError } from '../errors';
import { native, type BufferPoolStats, type NativeBufferPool } from '../native';
import * as v from '../validate';
import { IoBuffer } from './io-buffer';

export interface BufferPoolOptions {
  /** Bytes per buffer: a multiple of 512. Default 128 KiB. */
  chunkSize?: number;
  /** The pool grows by regions of this many bytes, each registered once per RDMA device. Default 2 MiB. */
  regionSize?: number;
  /** The most bytes the pool maps. Default 64 MiB. */
  capacity?: number;
  /** 'auto' uses hugepages when free ones exist; 'require' fails without; 'never'. Default 'auto'. */
  hugepages?: 'auto' | 'require' | 'never';
}

const MAX_CHUNK = 1 << 30;

/** Page-aligned, RDMA-registrable memory handed out as IoBuffers. */
export class BufferPool {
  /** @internal */
  readonly native: NativeBufferPool;
  readonly chunkSize: number;
  #closed = false;

  constructor(options: BufferPoolOptions = {}) {
    const o = v.object<BufferPoolOptions>(options, 'options');
    const chunkSize = v.optionalInteger(o.chunkSize, 'chunkSize', 512, MAX_CHUNK, 128 * 1024);
    if (chunkSize % 512 !== 0) throw new BufferPoolError('ERR_INVALID_ARG', 'chunkSize must be a multiple of 512');
    const regionSize = v.optionalInteger(o.regionSize, 'regionSize', 4096, 2 ** 31,
      Math.max(2 * 1024 * 1024, chunkSize));
    const capacity = v.optionalInteger(o.capacity, 'capacity', regionSize, Number.MAX_SAFE_INTEGER,
      Math.max(64 * 1024 * 1024, regionSize));
    const hugepages = v.oneOf(o.hugepages, 'hugepages', ['auto', 'require', 'never'] as const, 'auto');
    this.native = new native.NativeBufferPool(chunkSize, regionSize, capacity, hugepages);
    this.chunkSize = chunkSize;
  }

  /** A buffer, or throws ERR_POOL_EXHAUSTED when the pool is at capacity. */
  acquire(): IoBuffer {
    const b = this.tryAcquire();
    if (!b) throw new BufferPoolError('ERR_POOL_EXHAUSTED', `the pool is at its capacity (${this.stats().capacity} bytes)`);
    return b;
  }

  /** A buffer, or null when the pool is at capacity. */
  tryAcquire(): IoBuffer | null {
    const got = this.native.acquire();
    return got ? IoBuffer.create(this.native, got[0], got[1]) : null;
  }

  stats(): BufferPoolStats {
    return this.native.stats();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Deregisters and unmaps the pool. Refused (ERR_POOL_BUSY) while buffers are out,
   * including buffers dropped but not yet garbage-collected.
   */
  close(): void {
    this.native.destroy();
    this.#closed = true;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
