/**
 * The native perf engine's part of the addon (native/napi/perf_binding.cc), as lib/perf
 * uses it. Plain types only: lib/native imports nothing from the layers above.
 */
import type { NativeHostOptions, NativeNvmeController } from './host';

export interface NativePerfConfig {
  queues: number;
  iodepth: number;
  nsid: number;
  blockSize: number;
  ioBlocks: number;
  firstLba: number;
  regionIos: number;
  random: boolean;
  readPercent: number;
  rampNs: number;
  runNs: number;
  seed: number;
}

/** The fields the native engine reports for one direction's latencies. */
export interface NativeLatency {
  count: number;
  min: number;
  max: number;
  sum: number;
  sumSquares: number;
  /** lib/perf/histogram.ts's buckets: HISTOGRAM_BUCKETS (lib/native/layout.ts) of them. */
  counts: Float64Array;
}

export interface NativeDirection {
  ios: number;
  bytes: number;
  latency: NativeLatency;
}

export interface NativeJobResult {
  read: NativeDirection;
  write: NativeDirection;
  /** The first failed command, when `failed`. */
  failed: boolean;
  status: number;
  opcode: number;
  lba: number;
}

export interface NativePerfResult {
  runtimeNs: number;
  jobs: NativeJobResult[];
}

export interface NativePerfRun {
  done: Promise<NativePerfResult>;
  progress(): { ios: number; bytes: number };
  stop(): void;
}

/** @internal */
export interface NativePerfEngine {
  run(config: NativePerfConfig): NativePerfRun;
}

/** The loopback TCP round trip without NVMe: the floor under a QD1 read's latency. */
export interface TcpRoundTrip {
  meanUs: number;
  minUs: number;
}

export interface NativePerfAddon {
  perfConnect(options: NativeHostOptions): { id: number; handle: NativeNvmeController; engine: NativePerfEngine };
  tcpRoundTrip(roundTrips: number, requestBytes: number, responseBytes: number): Promise<TcpRoundTrip>;
}
