/**
 * The log-linear latency histogram of native/perf/latency_histogram.h, in TypeScript:
 * the JS engine records into it, and the native engine's counts are read into it, so
 * that both report percentiles the same way. Values below 2^(SUB_BITS+1) have a bucket
 * each; above, each power of two has 2^SUB_BITS buckets (at most 1/32 relative width).
 */
import type { NativeLatency } from '../native';
import { HISTOGRAM_BUCKETS, HISTOGRAM_SUB_BITS } from '../native/layout';

/** Sub-buckets per power of two, as a power of two: the addon's too (lib/native/layout.ts). */
export const SUB_BITS = HISTOGRAM_SUB_BITS;
/** Buckets in all, `(64 - SUB_BITS + 1) << SUB_BITS`: the addon's too (lib/native/layout.ts). */
export const BUCKETS = HISTOGRAM_BUCKETS;

const TWO_32 = 2 ** 32;
/** 2^i by lookup: bucketOf runs once per I/O in the js engine, where Math.pow showed up. */
const POW2 = Array.from({ length: 64 }, (_, i) => 2 ** i);

function bitLength(v: number): number {
  return v < TWO_32 ? 32 - Math.clz32(v) : 64 - Math.clz32(Math.floor(v / TWO_32));
}

/** The bucket of a non-negative integer below 2^53. */
export function bucketOf(v: number): number {
  const shift = Math.max(0, bitLength(v) - SUB_BITS - 1);
  return shift * (1 << SUB_BITS) + Math.floor(v / POW2[shift]);
}

/** The smallest and largest value that fall into bucket `i`. */
export function bucketRange(i: number): [number, number] {
  const shift = Math.max(0, (i >> SUB_BITS) - 1);
  const low = (i - shift * (1 << SUB_BITS)) * 2 ** shift;
  return [low, low + 2 ** shift - 1];
}

export class LatencyHistogram {
  readonly counts = new Float64Array(BUCKETS);
  count = 0;
  min = Infinity;
  max = 0;
  sum = 0;
  sumSquares = 0;

  /**
   * The native engine's counts, as a histogram. Internal: its argument is the addon's
   * shape, which is lib/native's and changes with the addon.
   * @internal
   */
  static fromNative(n: NativeLatency): LatencyHistogram {
    const h = new LatencyHistogram();
    h.counts.set(n.counts);
    h.count = n.count;
    h.min = n.count > 0 ? n.min : Infinity;
    h.max = n.max;
    h.sum = n.sum;
    h.sumSquares = n.sumSquares;
    return h;
  }

  record(ns: number): void {
    const v = Math.max(0, Math.round(ns));
    this.counts[bucketOf(v)]++;
    this.count++;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    this.sum += v;
    this.sumSquares += v * v;
  }

  add(other: LatencyHistogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += other.counts[i];
    this.count += other.count;
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
    this.sum += other.sum;
    this.sumSquares += other.sumSquares;
  }

  mean(): number {
    return this.count > 0 ? this.sum / this.count : 0;
  }

  /** Population standard deviation, as fio reports it. */
  stddev(): number {
    if (this.count < 2) return 0;
    const m = this.mean();
    return Math.sqrt(Math.max(0, this.sumSquares / this.count - m * m));
  }

  /**
   * The value at percentile `p` (0-100): the middle of the bucket holding that rank,
   * kept within the observed min and max. 0 when empty.
   */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) {
        const [low, high] = bucketRange(i);
        return Math.min(this.max, Math.max(this.min, Math.round((low + high) / 2)));
      }
    }
    return this.max;
  }
}
