/**
 * I/O submissions on their way to native code. Each command is written into a Uint32Array
 * that native code reads in place, and the batch crosses into native code in one call once
 * the current run of microtasks ends (or `flushAt` commands are in): a burst of
 * completions resubmits in a few calls, not one N-API call (with its argument checks) per
 * command.
 */
import { BufferReleasedError } from '../../errors';
import type { NativeNvmeController } from '../../native';
import { SUBMISSION_WORDS } from '../../native/layout';

/**
 * A long burst (completions that each submit again) goes in this many commands at a time,
 * so that the reactor starts sending while JS is still resolving the rest of the burst
 * (js engine, 4k randread QD64: about 160k IOPS flushing once per microtask run, 210k at
 * 8, 215-250k at 16, 190-245k at 32).
 */
export const PIPELINE_FLUSH = 16;
/**
 * Where the JS thread polls the host itself (polling 'event-loop'), no reactor could start
 * on part of a burst meanwhile: the burst goes in whole, and leaves in one send (js engine,
 * 4k randread QD64, against the native engine in alternating runs: 0.56-0.79x flushing
 * every 16 commands, 0.63-1.1x with one send per burst).
 */
export const BURST_FLUSH = 256;

/**
 * One entry's words; native/napi/host_binding.cc reads the same layout. `Count` is
 * SUBMISSION_WORDS (lib/native/layout.ts), which the addon's layout is checked against
 * at load: a word added here without it does not compile, and fails at load too.
 */
const enum Word { Queue, Opcode, Nsid, SlbaLow, SlbaHigh, Nlb, Pool, Chunk, Offset, Length, OpId, Count }

// Word.Count is SUBMISSION_WORDS: by the compiler (Word.Count's literal type is assignable to
// SUBMISSION_WORDS's only where the two are one number), and again as the module loads.
const wordCount: typeof SUBMISSION_WORDS = Word.Count;
if (wordCount !== SUBMISSION_WORDS) throw new Error(`Word.Count ${Word.Count} is not SUBMISSION_WORDS ${SUBMISSION_WORDS}`);

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
  /** The command's buffer, if any: released while it waits here, the command fails. */
  readonly buffer?: { readonly released: boolean };
}

export class SubmissionBatch<C extends BatchedCommand> {
  readonly #handle: NativeNvmeController;
  readonly #words: Uint32Array;
  readonly #commands: (C | undefined)[];
  readonly #onRefused: (command: C, error: Error) => void;
  readonly #onFlushed: (() => void) | undefined;
  readonly #flushAt: number;
  #count = 0;
  #scheduled = false;
  /** Clears #scheduled itself: a flush of a full batch leaves the queued task to take the rest. */
  readonly #flushTask = (): void => {
    this.#scheduled = false;
    this.flush();
  };

  /**
   * @param onRefused a command that could not go in; called after the rest of the batch went in
   * @param flushAt commands that go in at once, the most a batch holds
   * @param onFlushed after each flush
   */
  constructor(handle: NativeNvmeController, onRefused: (command: C, error: Error) => void, flushAt = PIPELINE_FLUSH,
    onFlushed?: () => void) {
    this.#handle = handle;
    this.#flushAt = flushAt;
    this.#words = new Uint32Array(flushAt * Word.Count);
    this.#commands = new Array<C | undefined>(flushAt).fill(undefined);
    this.#onRefused = onRefused;
    this.#onFlushed = onFlushed;
    handle.setSubmissionBuffer(this.#words);
  }

  add(command: C): void {
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
    if (this.#count === this.#flushAt) {
      this.flush();
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flushTask);
    }
  }

  /** Hands every queued command to native code now. */
  flush(): void {
    const end = this.#count;
    this.#count = 0;
    // Refusals are reported after the loop: a handler that submits again reuses the buffer.
    let refused: [C, Error][] | undefined;
    let first = 0;
    while (first < end) {
      // A buffer released while its command waited here may be another owner's chunk by
      // now, which native code cannot tell: that command ends the range and fails here.
      let stop = first;
      while (stop < end && !this.#commands[stop]!.buffer?.released) stop++;
      try {
        if (stop > first) this.#handle.submitBatch(first, stop);
        if (stop === end) break;
        (refused ??= []).push([this.#commands[stop]!, new BufferReleasedError()]);
        first = stop + 1;
      } catch (e) {
        const entry = (e as { entry?: unknown }).entry;
        const at = typeof entry === 'number' && entry >= first && entry < stop ? entry : first;
        (refused ??= []).push([this.#commands[at]!, e as Error]);
        first = at + 1;
      }
    }
    this.#commands.fill(undefined, 0, end);
    this.#onFlushed?.();
    if (refused) for (const [command, error] of refused) this.#onRefused(command, error);
  }
}
