/**
 * Reading request fields. Requests arrive decoded but unchecked (any client may send
 * anything the wire allows), so each field is read through one of these, which answer
 * INVALID_ARGUMENT naming the field by its path, e.g. "nvme_path.fabrics.trsvcid".
 */
import { invalidArgument } from './errors';

export type Raw = Record<string, unknown>;

/** A message field: its object, or undefined when absent (proto-loader gives null). */
export function message(raw: Raw | undefined, key: string, path: string): Raw | undefined {
  const v = raw?.[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw invalidArgument(`${path} must be a message`);
  return v as Raw;
}

export function requiredMessage(raw: Raw | undefined, key: string, path: string): Raw {
  const m = message(raw, key, path);
  if (!m) throw invalidArgument(`${path} is required`);
  return m;
}

/** A string field; '' when absent, as proto3 has it. */
export function text(raw: Raw | undefined, key: string, path: string): string {
  const v = raw?.[key] ?? '';
  if (typeof v !== 'string') throw invalidArgument(`${path} must be a string`);
  return v;
}

export function requiredText(raw: Raw | undefined, key: string, path: string): string {
  const v = text(raw, key, path);
  if (v === '') throw invalidArgument(`${path} is required`);
  return v;
}

export function flag(raw: Raw | undefined, key: string, path: string): boolean {
  const v = raw?.[key] ?? false;
  if (typeof v !== 'boolean') throw invalidArgument(`${path} must be true or false`);
  return v;
}

/** An integer field (int32, or int64 as a decimal string) within [min, max]; 0 when absent. */
export function integer(raw: Raw | undefined, key: string, path: string, min: number, max: number): number {
  const v = raw?.[key] ?? 0;
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) {
    throw invalidArgument(`${path} must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return n;
}

/** A bytes field: empty when absent. */
export function bytes(raw: Raw | undefined, key: string, path: string): Uint8Array {
  const v = raw?.[key] ?? new Uint8Array(0);
  if (!(v instanceof Uint8Array)) throw invalidArgument(`${path} must be bytes`);
  return v;
}

/** An enum field by name; a number is a value this proto does not know. */
export function enumValue<T extends string>(raw: Raw | undefined, key: string, path: string, values: readonly T[]): T {
  const v = raw?.[key] ?? values[0];
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    throw invalidArgument(`${path} has an unknown value ${String(v)}`);
  }
  return v as T;
}

/** The request itself: a decoded message. */
export function request(value: unknown): Raw {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidArgument('the request must be a message');
  return value as Raw;
}
