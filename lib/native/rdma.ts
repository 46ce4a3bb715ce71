/**
 * The RDMA verbs part of the addon (native/napi/rdma_binding.cc), as lib/rdma uses it.
 * Plain types only: lib/native imports nothing from the layers above.
 */
import type { NativeBufferPool } from './buffers';

export interface RdmaPort {
  number: number;
  state: string;
  /** 'ethernet' for RoCE and iWARP, 'infiniband' for IB. */
  linkLayer: string;
  activeMtu: number;
  lid: number;
  gids: string[];
}

export interface RdmaDevice {
  name: string;
  guid: string;
  transport: 'infiniband' | 'iwarp';
  limits: {
    maxQp: number; maxQpWr: number; maxCq: number; maxCqe: number; maxMr: number;
    maxMrSize: number; maxPd: number; maxSge: number; maxSrq: number;
  };
  ports: RdmaPort[];
}

export interface RdmaResourceCounts {
  qps: number;
  cqs: number;
  mrs: number;
  pds: number;
  /** Shared receive queues (the NVMe/RDMA target makes one per device and reactor). */
  srqs: number;
  cmIds: number;
  eventChannels: number;
}

export interface RdmaConnectionCounters {
  bytesSent: number;
  bytesReceived: number;
  bytesWritten: number;
  bytesRead: number;
  /** Bytes copied by the CPU: always 0 here, the HCA moves the data. */
  bytesCopied: number;
}

export interface NativeRdmaConnection {
  post(kind: number, opId: number, pool: NativeBufferPool, index: number, offset: number,
    length: number, remoteAddress?: bigint, remoteKey?: number): void;
  remoteKey(pool: NativeBufferPool, index: number): number;
  disconnect(): void;
  addresses(): { local: string; peer: string };
  counters(): RdmaConnectionCounters;
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

export interface NativeRdmaAddon {
  NativeRdmaListener: new (host: string, port: number, backlog: number,
    options: NativeConnectionOptions) => NativeRdmaListener;
  rdmaAvailable(): { available: boolean; reason: string; libibverbs: string; librdmacm: string };
  rdmaDevices(): RdmaDevice[];
  rdmaResources(): RdmaResourceCounts;
  rdmaConnect(host: string, port: number, options: NativeConnectionOptions):
    { id: number; handle: NativeRdmaConnection };
  setRdmaEventDispatcher(dispatch: (events: NativeRdmaEvent[]) => void): void;
}
