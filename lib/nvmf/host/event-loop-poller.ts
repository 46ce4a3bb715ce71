/**
 * Polls the queues of controllers connected with polling 'event-loop' on the JS thread:
 * while any such controller is open, every turn of the event loop runs their native
 * reactor once (hostNative.nvmePoll) and hands the I/O completions to the controllers,
 * with no thread between them. Other events (connected, admin, closed) still arrive
 * through the dispatcher.
 */
import { controllerSink } from './dispatcher';
import { hostNative } from './native';

/** Room for the completions of one poll; more wait for the next one. */
const COMPLETION_WORDS = 1 << 14;
/** Without work for this long, the poller stops spinning and polls once a millisecond. */
const IDLE_MS = 1;

class EventLoopPoller {
  readonly #words = new Uint32Array(COMPLETION_WORDS);
  #controllers = 0;
  #lastWork = 0;
  #immediate: NodeJS.Immediate | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #tick = (): void => this.#poll();

  /** A controller to poll from now on (connecting starts in native code at once). */
  add(): void {
    if (this.#controllers++ === 0) this.wake();
  }

  /** One fewer: polling stops with the last. */
  remove(): void {
    if (--this.#controllers > 0) return;
    this.#cancel();
  }

  /** Back to polling every turn: I/O was just submitted. */
  wake(): void {
    this.#lastWork = performance.now();
    if (this.#immediate || this.#controllers === 0) return;
    this.#cancel();
    this.#immediate = setImmediate(this.#tick);
  }

  #cancel(): void {
    if (this.#immediate) clearImmediate(this.#immediate);
    if (this.#timer) clearTimeout(this.#timer);
    this.#immediate = this.#timer = undefined;
  }

  #poll(): void {
    this.#immediate = this.#timer = undefined;
    const words = this.#words;
    const n = hostNative.nvmePoll(words);
    const now = performance.now();
    if (n > 0) this.#lastWork = now;
    for (let at = 0; at < n;) {
      const end = at + 2 + 2 * words[at + 1];
      controllerSink(words[at])?.onIo(words, at + 2, end);
      at = end;
    }
    if (this.#controllers === 0 || this.#immediate) return;  // removed, or woken, meanwhile
    if (now - this.#lastWork < IDLE_MS) this.#immediate = setImmediate(this.#tick);
    else this.#timer = setTimeout(this.#tick, IDLE_MS);
  }
}

export const eventLoopPoller = new EventLoopPoller();
