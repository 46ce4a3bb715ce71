/**
 * Deletes bdevs once nothing holds them. A namespace removed from its subsystem takes no
 * new command at once, but the commands already in its bdev still hold the bdev, and so
 * does each queue pair until its reactor takes the new namespace table (posted to it by the
 * removal): the target answers ERR_BUSY for that moment, and it is waited out here, as
 * SPDK's bdev unregister waits for its I/O. A bdev that a namespace still serves is
 * refused at once.
 */
import type { Target } from '../../../nvmf/target';
import type { RdmagateError } from '../../../errors';

/** Longer than any command stays in a bdev: a backend's I/O times out in 30 s. */
const RELEASE_WAIT_MS = 35_000;
const RELEASE_POLL_MS = 10;

export async function deleteWhenReleased(target: Target, bdevs: (name: string) => boolean, remove: () => void): Promise<void> {
  const end = Date.now() + RELEASE_WAIT_MS;
  for (;;) {
    try {
      remove();
      return;
    } catch (e) {
      const served = target.subsystems().some((s) => s.namespaces.some((n) => bdevs(n.bdevName)));
      if ((e as RdmagateError).code !== 'ERR_BUSY' || served || Date.now() >= end) throw e;
    }
    await new Promise((r) => setTimeout(r, RELEASE_POLL_MS));
  }
}
