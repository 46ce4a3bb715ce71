/**
 * Which I/O a JS job issues next: the unit (one --bs worth of blocks) in its region, and
 * whether it reads or writes. native/perf/perf_engine.cc has the same workload in C++.
 */

/** Where a job works: `units` I/Os of `ioBlocks` blocks each, from `firstLba`. */
export interface Region {
  firstLba: number;
  ioBlocks: number;
  units: number;
}

/** xorshift32: offsets need speed and spread, not cryptographic quality. */
export class Random {
  #s: number;

  constructor(seed: number) {
    this.#s = seed >>> 0 || 0x9e3779b9;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let s = this.#s;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.#s = s >>> 0;
    return this.#s / 2 ** 32;
  }

  below(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** The time-based workload: offsets uniformly at random or wrapping sequentially. */
export class Workload {
  readonly #region: Region;
  readonly #random: Random | undefined;
  readonly #mix: Random;
  readonly #readPercent: number;
  #next = 0;

  constructor(region: Region, random: boolean, readPercent: number, seed: number) {
    this.#region = region;
    this.#random = random ? new Random(seed) : undefined;
    this.#mix = new Random(seed ^ 0x5bd1e995);
    this.#readPercent = readPercent;
  }

  /** The first LBA of the next I/O. */
  nextLba(): number {
    const r = this.#region;
    let unit: number;
    if (this.#random) {
      unit = this.#random.below(r.units);
    } else {
      unit = this.#next;
      this.#next = unit + 1 === r.units ? 0 : unit + 1;
    }
    return r.firstLba + unit * r.ioBlocks;
  }

  nextIsRead(): boolean {
    if (this.#readPercent === 100) return true;
    if (this.#readPercent === 0) return false;
    return this.#mix.below(100) < this.#readPercent;
  }
}

/**
 * Every unit of [0, n) exactly once: in order, or scrambled by a full-period linear
 * congruential generator modulo the next power of two, skipping values >= n. Verify
 * uses it to write each unit once and read back the same ones, with no list in memory.
 */
export class UnitOrder {
  readonly #n: number;
  readonly #limit: number;
  readonly #mask: number;
  readonly #scrambled: boolean;
  #x: number;
  #issued = 0;

  /** With `limit`, only the first `limit` units of the same sequence. */
  constructor(n: number, scrambled: boolean, seed: number, limit = n) {
    if (n > 2 ** 32) throw new RangeError('at most 2^32 units');
    this.#n = n;
    this.#limit = Math.min(limit, n);
    let m = 1;
    while (m < n) m *= 2;
    this.#mask = m - 1;
    this.#scrambled = scrambled;
    this.#x = ((seed >>> 0) & this.#mask) >>> 0;
  }

  get issued(): number {
    return this.#issued;
  }

  /** The next unit, or -1 once all were given. */
  next(): number {
    if (this.#issued === this.#limit) return -1;
    this.#issued++;
    if (!this.#scrambled) return this.#issued - 1;
    // a = 5 (a - 1 divisible by 4) and an odd c: full period for any power-of-two modulus.
    do {
      this.#x = ((Math.imul(this.#x, 5) + 0x3c6ef35f) & this.#mask) >>> 0;
    } while (this.#x >= this.#n);
    return this.#x;
  }
}
