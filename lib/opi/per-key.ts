/**
 * Calls on the same key run one after another; calls on other keys run side by side. A
 * kernel connect may take seconds: a retry of it waits for it and then finds the volume
 * connected, rather than racing it with a second `nvme connect`.
 */
export class PerKeyQueue {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.#tails.get(key) ?? Promise.resolve()).then(fn);
    const tail = next.catch(() => undefined);
    this.#tails.set(key, tail);
    // The last call on a key takes its entry with it, so that the map holds only keys in use.
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return next;
  }
}
