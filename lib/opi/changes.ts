/**
 * Changes run one at a time, and all or nothing: a change that fails, at any step or
 * when its record is saved, leaves the state as it was and undoes, last first, the
 * gateway steps it had made (never a half-made resource).
 */
import type { Logger } from '../log/logger';
import type { BridgeState, StateStore } from './state';

/** The undo steps of one change, run last first if it fails. */
export class UndoSteps {
  readonly #steps: { what: string; run: () => Promise<unknown> }[] = [];

  add(what: string, run: () => Promise<unknown>): void {
    this.#steps.push({ what, run });
  }

  async run(log: Logger): Promise<void> {
    for (const step of this.#steps.reverse()) {
      try {
        await step.run();
      } catch (e) {
        // Left for the retry (or the next start's reconcile) to converge.
        log.error('opi: could not undo a step of a failed change', { step: step.what, error: (e as Error).message });
      }
    }
  }
}

export class ChangeRunner {
  #chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly state: BridgeState, private readonly store: StateStore, private readonly log: Logger) {}

  run<T>(fn: (undo: UndoSteps) => Promise<T>): Promise<T> {
    const next = this.#chain.then(() => this.#runNow(fn));
    this.#chain = next.catch(() => undefined);
    return next;
  }

  async #runNow<T>(fn: (undo: UndoSteps) => Promise<T>): Promise<T> {
    const before = this.state.snapshot();
    const undo = new UndoSteps();
    try {
      const result = await fn(undo);
      await this.store.save(this.state);
      return result;
    } catch (e) {
      this.state.restore(before);
      await undo.run(this.log);
      throw e;
    }
  }
}
