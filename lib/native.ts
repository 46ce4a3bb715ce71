/** Loads the addon (a prebuild or build/Release) and the shape lib/ expects of it. */
import * as path from 'node:path';
import { errorFromNative } from './errors';

export interface NativeBufferPool {
  /** Names the pool in batched I/O submissions. */
  readonly id: number;
  acquire(): [number, ArrayBuffer] | null;
  release(index: number, arrayBuffer: ArrayBuffer): void;
  stats(): import('./buffers/buffer-pool').BufferPoolStats;
  destroy(): void;
  address(index: number): bigint;
  inflight(index: number): number;
}

export interface NativeRdmaConnection {
  post(kind: number, opId: number, pool: NativeBufferPool, index: number, offset: number,
    length: number, remoteAddress?: bigint, remoteKey?: number): void;
  remoteKey(pool: NativeBufferPool, index: number): number;
  disconnect(): void;
  addresses(): { local: string; peer: string };
  counters(): import('./rdma/connection').RdmaConnectionCounters;
}

export interface NativeRdmaListener {
  readonly id: number;
  readonly port: number;
  close(): void;
}

export type NativeRdmaEvent =
  | { type: 'completions'; connection: number; completions: number[] }
  | { type: 'established' | 'disconnected' | 'failed'; connection: number; status: number;
      message: string; privateData: Uint8Array }
  | { type: 'accepted'; listener: number; connection: number; handle: NativeRdmaConnection };

export interface NativeConnectionOptions {
  sendDepth: number;
  receiveDepth: number;
  inlineSize: number;
  timeoutMs: number;
  privateData?: Uint8Array;
}

export interface NativeTarget {
  createBdev(type: string, name: string, numBlocks: number, blockSize: number): import('./nvmf/target/types').NativeBdevInfo;
  createFileBdev(name: string, path: string, blockSize: number, direct: boolean): import('./nvmf/target/types').NativeBdevInfo;
  deleteBdev(name: string): void;
  resizeBdev(name: string, numBlocks: number | undefined): boolean;
  attachNvmeController(name: string, options: import('./nvmf/host/native').NativeHostOptions, timeoutMs: number):
    Promise<import('./nvmf/target/types').NativeBdevInfo[]>;
  detachNvmeController(name: string): void;
  resetNvmeController(name: string): void;
  nvmeControllers(): import('./nvmf/target/types').NvmeControllerInfo[];
  bdevs(): import('./nvmf/target/types').NativeBdevInfo[];
  addSubsystem(nqn: string, serial: string, model: string, maxNamespaces: number, anaReporting: boolean, minCntlid: number,
    maxCntlid: number): void;
  removeSubsystem(nqn: string): void;
  addNamespace(nqn: string, bdev: string, nsid: number, nguid: Uint8Array, uuid: Uint8Array, anagrpid: number): number;
  removeNamespace(nqn: string, nsid: number): void;
  setAllowAnyHost(nqn: string, allow: boolean): void;
  subsystemAddListener(nqn: string, trtype: string, traddr: string, trsvcid: number): import('./nvmf/target/types').ListenerInfo;
  subsystemRemoveListener(nqn: string, trtype: string, traddr: string, trsvcid: number): void;
  setAllowAnyListener(nqn: string, allow: boolean): void;
  setListenerAnaState(nqn: string, trtype: string, traddr: string, trsvcid: number, state: string, anagrpid: number): void;
  setNamespaceAnaGroup(nqn: string, nsid: number, anagrpid: number): void;
  addHost(nqn: string, hostnqn: string): void;
  removeHost(nqn: string, hostnqn: string): void;
  subsystems(): import('./nvmf/target/types').NativeSubsystemInfo[];
  listen(trtype: string, traddr: string, trsvcid: number): import('./nvmf/target/types').ListenerInfo;
  removeListener(trtype: string, traddr: string, trsvcid: number): void;
  listeners(): import('./nvmf/target/types').ListenerState[];
  controllers(): import('./nvmf/target/types').ControllerInfo[];
  qpairs(): import('./nvmf/target/types').QpairInfo[];
  namespaceStats(): import('./nvmf/target/types').NamespaceStats[];
  close(): void;
}

export interface NativeTargetOptions {
  reactors: number;
  pollMode: boolean;
  maxIoSize: number;
  inCapsuleDataSize: number;
  maxQueueDepth: number;
  maxIoQueues: number;
  bufferPoolBytes: number;
  maxConnectionsPerListener: number;
  maxConnectionsPerAddress: number;
  deadlines: Required<import('./nvmf/target/types').ConnectionDeadlines>;
}

export interface NativeAddon {
  NativeTarget: new (options: NativeTargetOptions) => NativeTarget;
  setErrorFactory(factory: (code: string, message: string, errno: number) => Error): void;
  NativeBufferPool: new (chunkSize: number, regionSize: number, capacity: number,
    hugepages: string) => NativeBufferPool;
  NativeRdmaListener: new (host: string, port: number, backlog: number,
    options: NativeConnectionOptions) => NativeRdmaListener;
  rdmaAvailable(): { available: boolean; reason: string; libibverbs: string; librdmacm: string };
  rdmaDevices(): import('./rdma/devices').RdmaDevice[];
  rdmaResources(): import('./rdma/devices').RdmaResourceCounts;
  rdmaConnect(host: string, port: number, options: NativeConnectionOptions):
    { id: number; handle: NativeRdmaConnection };
  setRdmaEventDispatcher(dispatch: (events: NativeRdmaEvent[]) => void): void;
}

function load(): NativeAddon {
  // dist/lib/native.js -> package root
  const root = path.resolve(__dirname, '..', '..');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const addon = require('node-gyp-build')(root) as NativeAddon;
  addon.setErrorFactory(errorFromNative);
  return addon;
}

export const native: NativeAddon = load();
