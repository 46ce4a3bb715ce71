/**
 * The data --verify crc32c writes and checks. Every block starts with a header that
 * names it, so that data from another block or another run is told apart from
 * corruption:
 *   word 0 magic, words 1-2 the LBA (low, high), word 3 the run's seed,
 *   word 4 crc32c of the whole block computed with this word zero,
 * and the rest is a pseudo-random pattern derived from the seed and the LBA.
 */
import { crc32c } from './crc32c';

const MAGIC = 0x72677076;  // "vpgr" little-endian: rdmagate perf verify
const HEADER_WORDS = 5;
const CRC_WORD = 4;
const MAX_REPORTED = 10;

export interface VerifyFailure {
  lba: number;
  reason: string;
}

/** What a verify pass found. */
export class VerifyLog {
  blocks = 0;
  bad = 0;
  /** The first few failures, in the order found. */
  readonly failures: VerifyFailure[] = [];

  fail(lba: number, reason: string): void {
    this.bad++;
    if (this.failures.length < MAX_REPORTED) this.failures.push({ lba, reason });
  }
}

function words(buf: Uint8Array, bytes: number): Uint32Array {
  return new Uint32Array(buf.buffer, buf.byteOffset, bytes / 4);
}

function patternSeed(seed: number, lba: number): number {
  return (seed ^ Math.imul(lba >>> 0, 0x9e3779b1) ^ Math.floor(lba / 2 ** 32)) >>> 0 || 1;
}

export class BlockPattern {
  constructor(readonly blockSize: number, readonly seed: number) {}

  /** Fills `blocks` blocks at the start of `buf` with the data of LBAs firstLba... */
  fill(buf: Uint8Array, firstLba: number, blocks: number): void {
    const bs = this.blockSize;
    const w = words(buf, blocks * bs);
    const per = bs / 4;
    for (let b = 0; b < blocks; b++) {
      const base = b * per;
      const lba = firstLba + b;
      w[base] = MAGIC;
      w[base + 1] = lba >>> 0;
      w[base + 2] = Math.floor(lba / 2 ** 32);
      w[base + 3] = this.seed;
      w[base + CRC_WORD] = 0;
      let x = patternSeed(this.seed, lba);
      for (let i = HEADER_WORDS; i < per; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        w[base + i] = x;
      }
      w[base + CRC_WORD] = crc32c(buf.subarray(b * bs, (b + 1) * bs));
    }
  }

  /** Checks `blocks` blocks read from LBAs firstLba... into `buf`; records failures in `log`. */
  check(buf: Uint8Array, firstLba: number, blocks: number, log: VerifyLog): void {
    const bs = this.blockSize;
    const w = words(buf, blocks * bs);
    const per = bs / 4;
    for (let b = 0; b < blocks; b++) {
      const base = b * per;
      const lba = firstLba + b;
      log.blocks++;
      if (w[base] !== MAGIC) {
        log.fail(lba, 'no verify header: the block was never written, or was overwritten');
        continue;
      }
      const named = w[base + 1] + w[base + 2] * 2 ** 32;
      if (named !== lba) {
        log.fail(lba, `the header names LBA ${named}: stale or misplaced data`);
        continue;
      }
      if (w[base + 3] !== this.seed) {
        log.fail(lba, `written by another run (seed ${w[base + 3].toString(16)}, expected ${this.seed.toString(16)})`);
        continue;
      }
      const stored = w[base + CRC_WORD];
      w[base + CRC_WORD] = 0;
      const actual = crc32c(buf.subarray(b * bs, (b + 1) * bs));
      if (actual !== stored) {
        log.fail(lba, `crc32c mismatch: stored ${stored.toString(16)}, computed ${actual.toString(16)}`);
      }
    }
  }
}
