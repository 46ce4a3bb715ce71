/**
 * Polls the queues of controllers connected with polling 'event-loop' on the JS thread:
 * while any such controller is open, every turn of the event loop runs their native
 * reactor once (native.nvmePoll) and hands the I/O completions to the controllers,
 * with no thread between them. After IDLE_MS without work it sleeps in the event loop
 * until a socket or a posted task needs the reactor (native.nvmeWaitReady), or its
 * next timer is due. Other events (connected, admin, closed) still arrive through the
 * dispatcher. Its sleep timer is unref'd: as with reactor polling, a controller holds the
 * process from connect to its first terminal event, and from close() to 'closed'. (An
 * unref'd immediate would not spin: the loop would block in its poll phase.)
 */
import { controllerSink } from './dispatcher';
import { native } from '../../native';

/** Room for the completions of one poll; more wait for the next one. */
const COMPLETION_WORDS = 1 << 14;
/** Polling every turn for this long after the last work, then sleeping. */
const IDLE_MS = 1;
/** The longest sleep with no reactor timer pending. */
const MAX_SLEEP_MS = 1000;

class EventLoopPoller {
  readonly #words = new Uint32Array(COMPLETION_WORDS);
  #controllers = 0;
  #lastWork = 0;
  #immediate: NodeJS.Immediate | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Native code will call #ready when the reactor has something to do. */
  #watching = false;
  readonly #tick = (): void => this.#poll();
  readonly #ready = (): void => {
    this.#watching = false;  // one-shot
    this.wake();
  };

  /** A controller to poll from now on (connecting starts in native code at once). */
  add(): void {
    if (this.#controllers++ === 0) this.wake();
  }

  /** One fewer: polling stops with the last. */
  remove(): void {
    if (--this.#controllers > 0) return;
    this.#cancel();
  }

  /** Back to polling every turn: I/O was just submitted, or the reactor has work. */
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
    this.#unwatch();
  }

  #unwatch(): void {
    if (this.#watching) native.nvmeWaitReady(undefined);
    this.#watching = false;
  }

  #poll(): void {
    this.#immediate = this.#timer = undefined;
    this.#unwatch();  // the timer fired first
    const words = this.#words;
    const n = native.nvmePoll(words);
    const now = performance.now();
    if (n > 0) this.#lastWork = now;
    for (let at = 0; at < n;) {
      const end = at + 2 + 2 * words[at + 1];
      controllerSink(words[at])?.onIo(words, at + 2, end);
      at = end;
    }
    if (this.#controllers === 0 || this.#immediate) return;  // removed, or woken, meanwhile
    if (now - this.#lastWork < IDLE_MS) {
      this.#immediate = setImmediate(this.#tick);
      return;
    }
    const timerMs = native.nvmeWaitReady(this.#ready);
    this.#watching = true;
    this.#timer = setTimeout(this.#tick, timerMs < 0 ? MAX_SLEEP_MS : Math.min(timerMs, MAX_SLEEP_MS)).unref();
  }
}

export const eventLoopPoller = new EventLoopPoller();
