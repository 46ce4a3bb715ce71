import { execFileSync } from 'node:child_process';
import { rdma } from '../../lib';

/** The address of the RDMA interface the suite uses (scripts/lab-rdma-env.sh sets it). */
export const ADDRESS = process.env.RDMAGATE_TEST_RDMA_ADDRESS ?? '192.168.77.1';

/** QP, CQ, MR and PD counts as the kernel sees them (iproute2's `rdma resource`). */
export function kernelResources(): Record<string, number> {
  const out = execFileSync('rdma', ['resource', 'show'], { encoding: 'utf8' });
  const totals: Record<string, number> = {};
  for (const m of out.matchAll(/\b(pd|cq|qp|cm_id|mr|ctx|srq)\s+(\d+)/g)) {
    totals[m[1]] = (totals[m[1]] ?? 0) + Number(m[2]);
  }
  return totals;
}

export function pattern(bytes: Uint8Array, seed: number): void {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes.length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    bytes[i] = x & 0xff;
  }
}

export async function until(cond: () => boolean, what: string, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Our verbs counts once `settled` holds for them, or whatever they are after `ms`, for the
 * caller's assertion to show. A connection is torn down on its reactor thread one object
 * after another, so a look from this thread can land halfway through.
 */
export async function settledResources(settled: (now: rdma.RdmaResourceCounts) => boolean,
  ms = 10000): Promise<rdma.RdmaResourceCounts> {
  const end = Date.now() + ms;
  let now = rdma.resources();
  while (!settled(now) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 20));
    now = rdma.resources();
  }
  return now;
}
