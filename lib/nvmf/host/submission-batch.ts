/**
 * I/O submissions on their way to native code. Each command is written into a Uint32Array
 * that native code reads in place, and the batch crosses into native code in one call once
 * the current run of microtasks ends (or PIPELINE_FLUSH commands are in): a burst of
 * completions resubmits in a few calls, not one N-API call (with its argument checks) per
 * command.
 */
import type { NativeNvmeController } from './native';

/**
 * A long burst (completions that each submit again) goes in this many commands at a time,
 * so that the reactor starts sending while JS is still resolving the rest of the burst
 * (js engine, 4k randread QD64: about 160k IOPS flushing once per microtask run, 210k at
 * 8, 215-250k at 16, 190-245k at 32).
 */
const PIPELINE_FLUSH = 16;

/** One entry's words; native/napi/host_binding.cc reads the same layout. */
const enum Word { Queue, Opcode, Nsid, SlbaLow, SlbaHigh, Nlb, Pool, Chunk, Offset, Length, OpId, Count }

/** What a batch needs of a command. */
export interface BatchedCommand {
  /** Index of the I/O queue. */
  readonly queue: number;
  readonly opcode: number;
  readonly nsid: number;
  readonly lba: number;
  readonly blocks: number;
  /** The buffer's pool id and chunk (0 and 0 for commands without data). */
  readonly poolId: number;
  readonly chunk: number;
  readonly offset: number;
  readonly length: number;
  readonly opId: number;
}

export class SubmissionBatch<C extends BatchedCommand> {
  readonly #handle: NativeNvmeController;
  readonly #words: Uint32Array;
  readonly #commands: (C | undefined)[];
  readonly #onRefused: (command: C, error: Error) => void;
  #count = 0;
  #scheduled = false;
  readonly #flushTask = (): void => this.flush();

  /**
   * @param capacity the most commands outstanding at once, over all queues
   * @param onRefused a command native code refused; called after the batch went in
   */
  constructor(handle: NativeNvmeController, capacity: number, onRefused: (command: C, error: Error) => void) {
    this.#handle = handle;
    this.#words = new Uint32Array(capacity * Word.Count);
    this.#commands = new Array<C | undefined>(capacity).fill(undefined);
    this.#onRefused = onRefused;
    handle.setSubmissionBuffer(this.#words);
  }

  add(command: C): void {
    if (this.#count === this.#commands.length) this.flush();
    const w = this.#words;
    const at = this.#count * Word.Count;
    w[at + Word.Queue] = command.queue;
    w[at + Word.Opcode] = command.opcode;
    w[at + Word.Nsid] = command.nsid;
    w[at + Word.SlbaLow] = command.lba % 0x100000000;
    w[at + Word.SlbaHigh] = Math.floor(command.lba / 0x100000000);
    w[at + Word.Nlb] = command.blocks;
    w[at + Word.Pool] = command.poolId;
    w[at + Word.Chunk] = command.chunk;
    w[at + Word.Offset] = command.offset;
    w[at + Word.Length] = command.length;
    w[at + Word.OpId] = command.opId;
    this.#commands[this.#count++] = command;
    if (this.#count === PIPELINE_FLUSH) {
      this.flush();
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flushTask);
    }
  }

  /** Hands every queued command to native code now. */
  flush(): void {
    this.#scheduled = false;
    const end = this.#count;
    this.#count = 0;
    // Refusals are reported after the loop: a handler that submits again reuses the buffer.
    const refused: [C, Error][] = [];
    let first = 0;
    while (first < end) {
      try {
        this.#handle.submitBatch(first, end);
        break;
      } catch (e) {
        const entry = (e as { entry?: unknown }).entry;
        const at = typeof entry === 'number' && entry >= first && entry < end ? entry : first;
        refused.push([this.#commands[at]!, e as Error]);
        first = at + 1;
      }
    }
    this.#commands.fill(undefined, 0, end);
    for (const [command, error] of refused) this.#onRefused(command, error);
  }
}
