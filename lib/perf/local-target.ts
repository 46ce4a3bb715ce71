/**
 * --target local: an in-process Target with one null or malloc namespace, listening on
 * loopback TCP at a free port, sized to what the run asks for.
 */
import { Target } from '../nvmf/target';
import type { LocalBdev } from './options';

const LOCAL_NQN = 'nqn.2026-11.io.rdmagate:perf';
const LOCAL_BLOCK_SIZE = 512;
const DEFAULT_BYTES: Record<LocalBdev, number> = { null: 1 << 30, malloc: 256 << 20 };
const MIN_IO_SIZE = 128 * 1024;
const MAX_IO_SIZE = 1 << 20;

/** The namespace's size without --size: a null namespace costs nothing, a malloc one is RAM. */
export function defaultLocalBytes(bdev: LocalBdev): number {
  return DEFAULT_BYTES[bdev];
}

export interface LocalTargetOptions {
  bdev: LocalBdev;
  reactors: number;
  /** Bytes the namespace holds (rounded up to whole blocks). */
  bytes: number;
  /** Largest I/O: MDTS is raised to fit it. */
  bs: number;
  queueDepth: number;
  queues: number;
}

export interface LocalTarget {
  readonly traddr: string;
  readonly trsvcid: number;
  readonly subnqn: string;
  close(): Promise<void>;
}

export function startLocalTarget(o: LocalTargetOptions): LocalTarget {
  let maxIoSize = MIN_IO_SIZE;
  while (maxIoSize < o.bs && maxIoSize < MAX_IO_SIZE) maxIoSize *= 2;
  const target = new Target({
    reactors: o.reactors,
    maxIoSize,
    maxQueueDepth: o.queueDepth,
    maxIoQueues: Math.max(64, o.queues),
  });
  try {
    target.createBdev({
      type: o.bdev, name: 'Perf0', blockSize: LOCAL_BLOCK_SIZE,
      numBlocks: Math.ceil(o.bytes / LOCAL_BLOCK_SIZE),
    });
    target.addSubsystem({ nqn: LOCAL_NQN, allowAnyHost: true }).addNamespace({ bdev: 'Perf0', nsid: 1 });
    const listener = target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
    return { traddr: listener.address, trsvcid: listener.port, subnqn: LOCAL_NQN, close: () => target.close() };
  } catch (e) {
    target.closeSync();
    throw e;
  }
}
