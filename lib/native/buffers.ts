/**
 * The buffer pool part of the addon (native/napi/buffer_pool_binding.cc), as
 * lib/buffers uses it. Plain types only: lib/native imports nothing from the layers above.
 */

/** What a pool has mapped, handed out and registered: BufferPool.stats(). */
export interface BufferPoolStats {
  chunkSize: number;
  capacity: number;
  mappedBytes: number;
  allocatedBytes: number;
  freeBytes: number;
  registeredBytes: number;
  regions: number;
  hugepageRegions: number;
  /** Region registrations with RDMA protection domains (regions x devices). */
  registrations: number;
}

export interface NativeBufferPool {
  /** Names the pool in batched I/O submissions. */
  readonly id: number;
  acquire(): [number, ArrayBuffer] | null;
  release(index: number, arrayBuffer: ArrayBuffer): void;
  stats(): BufferPoolStats;
  destroy(): void;
  address(index: number): bigint;
  inflight(index: number): number;
}

export interface NativeBuffersAddon {
  NativeBufferPool: new (chunkSize: number, regionSize: number, capacity: number,
    hugepages: string) => NativeBufferPool;
}
