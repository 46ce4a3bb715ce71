/**
 * Layouts and values that lib/ and native/ each keep: how many words one submission entry
 * has, the host-side status words, the latency histograms' buckets. The addon exports its
 * own as `layout` (native/napi/addon.cc), and lib/native/index.ts compares them with these
 * right after loading it ({@link checkLayout}): a stale build fails there, naming what
 * differs, instead of reading and writing memory in a layout lib/ no longer uses.
 *
 * The modules that use a value import it from here (this file imports nothing, and loads
 * no addon): a value changed on one side only then fails at load, and in
 * test/unit/addon-layout.test.ts.
 * @module
 */
import { RdmagateError } from '../errors';

/**
 * The words (uint32) of one I/O submission entry that lib/nvmf/host/submission-batch.ts
 * writes and native code reads in place: its `Word.Count`, and native/napi/host_binding.cc's
 * `kSubmissionWords`.
 */
export const SUBMISSION_WORDS = 11;

/**
 * The status words, from 0x10000 up, of host-side outcomes that have no CQE
 * (lib/nvmf/host/status.ts): native/host/failure.h's `kStatusTimeout` (no completion,
 * and Abort did not help), `kStatusDisconnected` (the queue or controller went away) and
 * `kStatusTransport` (the connection died of a protocol error).
 */
export const HOST_STATUS = {
  timeout: 0x10001,
  disconnected: 0x10002,
  transport: 0x10003,
  auth: 0x10004,
} as const;

/**
 * The latency histogram's sub-buckets per power of two, as a power of two
 * (lib/perf/histogram.ts's `SUB_BITS`): native/perf/latency_histogram.h's
 * `LatencyHistogram::kSubBits`.
 */
export const HISTOGRAM_SUB_BITS = 5;

/**
 * The latency histogram's buckets (lib/perf/histogram.ts's `BUCKETS`, the length of the
 * native perf engine's `counts`): native/perf/latency_histogram.h's
 * `LatencyHistogram::kBuckets`, by the same formula.
 */
export const HISTOGRAM_BUCKETS = (64 - HISTOGRAM_SUB_BITS + 1) << HISTOGRAM_SUB_BITS;

/**
 * The target's latency buckets per queue pair and per namespace: the length of
 * `latencyBuckets` in lib/native/target.ts's QpairInfo and NamespaceStats, which
 * lib/gateway/metrics.ts exposes as Prometheus histograms (bucket i: at most 2^i us; the
 * last: all slower). native/target/namespace_counters.h's `target::kLatencyBuckets`.
 */
export const TARGET_LATENCY_BUCKETS = 24;

/** The addon's `layout` export (native/napi/addon.cc): each value as native code has it. */
export interface NativeLayout {
  /** `kSubmissionWords`: see {@link SUBMISSION_WORDS}. */
  readonly submissionWords: number;
  /** `host::kStatusTimeout`: see {@link HOST_STATUS}. */
  readonly hostStatusTimeout: number;
  /** `host::kStatusDisconnected`: see {@link HOST_STATUS}. */
  readonly hostStatusDisconnected: number;
  /** `host::kStatusTransport`: see {@link HOST_STATUS}. */
  readonly hostStatusTransport: number;
  /** `host::kStatusAuth`: see {@link HOST_STATUS}. */
  readonly hostStatusAuth: number;
  /** `perf::LatencyHistogram::kSubBits`: see {@link HISTOGRAM_SUB_BITS}. */
  readonly histogramSubBits: number;
  /** `perf::LatencyHistogram::kBuckets`: see {@link HISTOGRAM_BUCKETS}. */
  readonly histogramBuckets: number;
  /** `target::kLatencyBuckets`: see {@link TARGET_LATENCY_BUCKETS}. */
  readonly targetLatencyBuckets: number;
}

/** What lib/ expects of the addon's `layout`: the values above, by the addon's names. */
export const LAYOUT: NativeLayout = Object.freeze({
  submissionWords: SUBMISSION_WORDS,
  hostStatusTimeout: HOST_STATUS.timeout,
  hostStatusDisconnected: HOST_STATUS.disconnected,
  hostStatusTransport: HOST_STATUS.transport,
  hostStatusAuth: HOST_STATUS.auth,
  histogramSubBits: HISTOGRAM_SUB_BITS,
  histogramBuckets: HISTOGRAM_BUCKETS,
  targetLatencyBuckets: TARGET_LATENCY_BUCKETS,
} satisfies NativeLayout);

const show = (v: unknown): string => typeof v === 'number' && Number.isInteger(v) && v > 0xffff
  ? `0x${v.toString(16)}`
  : v === undefined ? 'missing' : String(v);

/**
 * Throws ERR_ADDON_MISMATCH unless `native` (the addon's `layout`) has each of `expected`'s
 * values. The message names each constant that differs, with both values. An addon built
 * before it exported `layout` at all (`native` undefined) fails too.
 */
export function checkLayout(native: Partial<NativeLayout> | undefined, expected: NativeLayout = LAYOUT): void {
  const stale = 'it is stale; rebuild it (`npm run build:native`)';
  if (typeof native !== 'object' || native === null) {
    throw new RdmagateError('ERR_ADDON_MISMATCH', `the native addon exports no layout: ${stale}`);
  }
  const differ = (Object.keys(expected) as (keyof NativeLayout)[])
    .filter((key) => native[key] !== expected[key])
    .map((key) => `${key}: the addon has ${show(native[key])}, lib/ ${show(expected[key])}`);
  if (differ.length > 0) {
    throw new RdmagateError('ERR_ADDON_MISMATCH',
      `the native addon's layout differs from lib/native/layout.ts (${differ.join('; ')}): ${stale}`);
  }
}
