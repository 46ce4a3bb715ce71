/** The ANA log page (NVMe Base 2.0, 5.16.1.13), as a host reads it: each group's state. */

export type AnaGroupState = 'optimized' | 'non_optimized' | 'inaccessible' | 'persistent_loss' | 'change';

export interface AnaLog {
  /** CHGCNT: it grows with every change. */
  changeCount: bigint;
  /** By ANA group ID. */
  groups: Map<number, AnaGroupState>;
}

const STATES: Record<number, AnaGroupState> = {
  0x01: 'optimized', 0x02: 'non_optimized', 0x03: 'inaccessible', 0x04: 'persistent_loss', 0x0f: 'change',
};

/** Parses the page, with or without the NSID lists (RGO); a truncated page yields the groups it holds. */
export function parseAnaLog(b: Buffer): AnaLog {
  const groups = new Map<number, AnaGroupState>();
  if (b.length < 16) return { changeCount: 0n, groups };
  const count = b.readUInt16LE(8);
  let at = 16;
  for (let i = 0; i < count && at + 32 <= b.length; i++) {
    const state = STATES[b[at + 16]! & 0x0f];
    if (state) groups.set(b.readUInt32LE(at), state);
    at += 32 + 4 * b.readUInt32LE(at + 4);
  }
  return { changeCount: b.readBigUInt64LE(0), groups };
}
