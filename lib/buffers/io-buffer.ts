import { BufferBusyError, BufferReleasedError } from '../errors';
import type { NativeBufferPool } from '../native';

const constructing = Symbol('IoBuffer.constructing');

/**
 * One chunk of a BufferPool: a Uint8Array over page-aligned native memory, with no copy.
 * It can be handed to anything that takes a Uint8Array (sockets, fs, Buffer.from).
 *
 * Release it when done. A release while I/O is in flight is refused; after a release the
 * view is detached (length 0) and every IoBuffer method throws BufferReleasedError. An
 * IoBuffer that is garbage-collected without release goes back to its pool.
 */
export class IoBuffer extends Uint8Array {
  readonly #native: NativeBufferPool;
  readonly #index: number;
  // Made once: every I/O on the buffer asks for it, and it never changes.
  readonly #ref: Readonly<{ pool: NativeBufferPool; poolId: number; index: number }>;
  readonly #arrayBuffer: ArrayBuffer;
  #released = false;

  /** @internal Use BufferPool.acquire(). */
  constructor(token: symbol, native: NativeBufferPool, index: number, arrayBuffer: ArrayBuffer) {
    if (token !== constructing) throw new TypeError('IoBuffer is created by BufferPool.acquire()');
    super(arrayBuffer);
    this.#native = native;
    this.#index = index;
    this.#ref = Object.freeze({ pool: native, poolId: native.id, index });
    this.#arrayBuffer = arrayBuffer;
  }

  /** @internal */
  static create(native: NativeBufferPool, index: number, arrayBuffer: ArrayBuffer): IoBuffer {
    return new IoBuffer(constructing, native, index, arrayBuffer);
  }

  get released(): boolean {
    return this.#released;
  }

  /** The native address of the first byte, for diagnostics. */
  get address(): bigint {
    this.#check();
    return this.#native.address(this.#index);
  }

  /** Operations in flight on this buffer. */
  get inflight(): number {
    this.#check();
    return this.#native.inflight(this.#index);
  }

  /** Returns the chunk to its pool. Throws BufferBusyError while I/O is in flight. */
  release(): void {
    this.#check();
    if (this.#native.inflight(this.#index) > 0) {
      throw new BufferBusyError('the buffer has I/O in flight and cannot be released');
    }
    this.#native.release(this.#index, this.#arrayBuffer);
    this.#released = true;
  }

  [Symbol.dispose](): void {
    if (!this.#released) this.release();
  }

  /** @internal The native pool (and its id) and chunk index, for I/O entry points. */
  nativeRef(): Readonly<{ pool: NativeBufferPool; poolId: number; index: number }> {
    this.#check();
    return this.#ref;
  }

  #check(): void {
    if (this.#released) throw new BufferReleasedError();
  }
}

// Derived arrays (subarray, slice, map) are plain Uint8Arrays, not pool chunks.
Object.defineProperty(IoBuffer, Symbol.species, { get: () => Uint8Array });
