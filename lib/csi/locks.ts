/**
 * One operation at a time per volume (and per snapshot, per requested name). The CO
 * normally serialises calls per volume, but after a restart it may not: CSI has the
 * plugin answer the second call ABORTED, and the CO retries it with back-off. Nothing
 * waits here, so a stuck call cannot pile others up behind it.
 */
import { aborted } from './errors';

export class OperationLocks {
  readonly #held = new Map<string, string>();

  /**
   * Takes every key or none; throws ABORTED naming the operation that holds one.
   * Returns the release function.
   */
  acquire(keys: string[], operation: string): () => void {
    for (const k of keys) {
      const holder = this.#held.get(k);
      if (holder !== undefined) throw aborted(`an operation is already in progress on ${k} (${holder})`);
    }
    const unique = [...new Set(keys)];
    for (const k of unique) this.#held.set(k, operation);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const k of unique) this.#held.delete(k);
    };
  }

  /** Runs `fn` holding `keys`. */
  async with<T>(keys: string[], operation: string, fn: () => Promise<T>): Promise<T> {
    const release = this.acquire(keys, operation);
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
