/** A request's capacity_range, checked: each bound a safe, non-negative integer (0 where absent). */
import { invalidArgument, outOfRange } from './errors';
import type { CapacityRange, Int64 } from './types';

function int64(v: Int64 | undefined, what: string): number {
  const n = Number(v ?? 0);
  if (!Number.isSafeInteger(n)) throw outOfRange(`${what} ${String(v)} is beyond what this driver handles`);
  if (n < 0) throw invalidArgument(`${what} must not be negative`);
  return n;
}

export function capacityRange(r: CapacityRange | null | undefined): { required: number; limit: number } {
  return { required: int64(r?.required_bytes, 'required_bytes'), limit: int64(r?.limit_bytes, 'limit_bytes') };
}
