/**
 * Numbers as fio reads and writes them: sizes with k/m/g/t suffixes (powers of 1024, as fio's
 * default kb_base=1024 has them; "4k", "4K", "4KiB" and "4kb" are all 4096) and times
 * in seconds unless they carry a unit ("500ms", "2s", "1m").
 */
import { InvalidArgumentError } from '../errors';

const SIZE_RE = /^(\d+)\s*([kmgtp]?)(i?b)?$/i;
const SIZE_SHIFT: Record<string, number> = { '': 0, k: 10, m: 20, g: 30, t: 40, p: 50 };
const TIME_RE = /^(\d+(?:\.\d+)?)\s*(us|ms|s|m|h)?$/i;
const TIME_SECONDS: Record<string, number> = { us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** A byte count: a non-negative integer, or a string such as "4k" or "1m". */
export function parseSize(value: number | string, name: string): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value;
  } else if (typeof value === 'string') {
    const m = SIZE_RE.exec(value.trim());
    if (m) {
      const bytes = Number(m[1]) * 2 ** SIZE_SHIFT[m[2].toLowerCase()];
      if (Number.isSafeInteger(bytes)) return bytes;
    }
  }
  throw new InvalidArgumentError(`--${name} must be a size in bytes, optionally with a k, m, g or t suffix (e.g. 4k), got ${show(value)}`);
}

/** A duration in seconds (fractions allowed): a number, or a string such as "5", "500ms", "1m". */
export function parseSeconds(value: number | string, name: string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
  } else if (typeof value === 'string') {
    const m = TIME_RE.exec(value.trim());
    if (m) return Number(m[1]) * TIME_SECONDS[(m[2] ?? 's').toLowerCase()];
  }
  throw new InvalidArgumentError(`--${name} must be a time in seconds, optionally with a unit (us, ms, s, m, h), got ${show(value)}`);
}

/** An integer in [min, max], given as a number or its decimal string. */
export function parseCount(value: number | string, name: string, min: number, max: number): number {
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`--${name} must be an integer in [${min}, ${max}], got ${show(value)}`);
  }
  return n;
}

/** fio's short numbers: 3 significant digits, with k or M past 1000. */
export function formatShort(n: number): string {
  if (n < 1000) return String(Math.round(n));
  if (n < 1e6) return `${Number((n / 1e3).toPrecision(3))}k`;
  return `${Number((n / 1e6).toPrecision(3))}M`;
}

export function formatMiB(bytes: number): string {
  return `${Number((bytes / 2 ** 20).toPrecision(4))}MiB`;
}
