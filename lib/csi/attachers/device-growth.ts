/**
 * Waiting for a block device to show a volume's new size. The kernel re-reads a
 * namespace's size in the background (a rescan, or a namespace's change notice, only
 * queues its scan), so a step that reports or builds on the size after an expansion
 * waits until the device holds what the volume grew to.
 */
import { deadlineExceeded } from '../errors';

export interface GrowthWait {
  /** How long to wait; then DEADLINE_EXCEEDED, and a retry finds the size the kernel has by then. */
  timeoutMs: number;
  /** How often to look meanwhile. */
  pollMs: number;
}

/** Resolves with the device's size once `read` gives at least `minBytes`. */
export async function untilGrown(read: () => Promise<number>, minBytes: number, device: string, wait: GrowthWait): Promise<number> {
  const end = Date.now() + wait.timeoutMs;
  for (;;) {
    const bytes = await read();
    if (bytes >= minBytes) return bytes;
    if (Date.now() >= end) {
      throw deadlineExceeded(`${device} holds ${bytes} bytes ${wait.timeoutMs} ms after the rescan, ` +
        `not yet the ${minBytes} the volume grew to`);
    }
    await new Promise((r) => setTimeout(r, Math.min(wait.pollMs, Math.max(1, end - Date.now()))));
  }
}
