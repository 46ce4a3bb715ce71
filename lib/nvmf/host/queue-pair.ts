/**
 * One I/O queue of a connected controller. Commands go into the queue's native ring
 * (no round trip per command); completions come back in batches. Up to `depth` commands
 * are outstanding; more wait here, in order.
 */
import { IoBuffer } from '../../buffers/io-buffer';
import { InvalidArgumentError, OutOfRangeError, type RdmagateError } from '../../errors';
import * as v from '../../validate';
import type { NamespaceIdentity } from './identify';
import { errorFromStatus, isSuccess } from './status';
import type { BatchedCommand, SubmissionBatch } from './submission-batch';

const OP_FLUSH = 0x00;
const OP_WRITE = 0x01;
const OP_READ = 0x02;
const OP_WRITE_ZEROES = 0x08;
const OP_DSM = 0x09;

/** NLB is 16 bits, 0's based; a DSM range's length is 32 bits. */
const MAX_BLOCKS = 65536;
const MAX_DSM_BLOCKS = 0xffffffff;

/** Operation ids carry their queue index in the low bits, so a completion finds its queue. */
export const QUEUE_INDEX_BITS = 10;
const QUEUE_INDEX_MASK = (1 << QUEUE_INDEX_BITS) - 1;
/** A queue holds at most 1024 commands (connect()'s queueSize limit). */
const SLOT_BITS = 10;
const SLOT_MASK = (1 << SLOT_BITS) - 1;
const SEQ_MASK = (1 << (32 - SLOT_BITS - QUEUE_INDEX_BITS)) - 1;

function noop(): void {}

/** @internal What a queue pair needs from its controller. */
export interface QueueHost {
  /** Where commands go: the controller's batch, shared by its queues. */
  readonly submissions: SubmissionBatch<QueuedCommand>;
  readonly maxTransfer: number;
  /** The namespace, or a typed error when it is not active. */
  namespace(nsid: number): NamespaceIdentity;
  /** Null while commands may be submitted, else the reason they may not. */
  refusal(): RdmagateError | null;
}

/** @internal A command from check to completion. */
export interface QueuedCommand extends BatchedCommand {
  readonly name: string;
  /** Held until completion: the device writes into it, so it must not be collected. */
  readonly buffer: IoBuffer | undefined;
  resolve(): void;
  reject(err: Error): void;
}

/**
 * A class, so that every command has one shape from its constructor: as an object literal
 * filled in later with wider values (an opId above 2^30), each new command's shape was
 * migrated by V8: about 15 % of the JS thread's profile samples at QD64.
 */
class Op implements QueuedCommand {
  opId = 0;
  resolve: () => void = noop;
  reject: (err: Error) => void = noop;

  constructor(
    readonly queue: number, readonly opcode: number, readonly name: string, readonly nsid: number,
    readonly lba = 0, readonly blocks = 0, readonly buffer: IoBuffer | undefined = undefined,
    readonly poolId = 0, readonly chunk = 0, readonly offset = 0, readonly length = 0,
  ) {}
}

/** @internal */
export const kComplete = Symbol('complete');
/** @internal */
export const kFailAll = Symbol('failAll');
/** @internal */
export const kRefused = Symbol('refused');

export class QueuePair {
  /** NVMe queue id (1-based). */
  readonly qid: number;
  /** Most commands outstanding at the controller. */
  readonly depth: number;
  readonly #index: number;
  readonly #host: QueueHost;
  /**
   * Outstanding commands by slot: an array and a free list, not a Map, since this runs for
   * every command and a Map's churn shows up as garbage collection.
   */
  readonly #pending: (Op | undefined)[] = [];
  readonly #freeSlots: number[] = [];
  readonly #waiting: Op[] = [];
  #seq = 0;

  /** @internal Controllers make their queue pairs. */
  constructor(host: QueueHost, index: number, depth: number) {
    this.#host = host;
    this.#index = index;
    this.qid = index + 1;
    this.depth = depth;
    for (let s = depth - 1; s >= 0; s--) {
      this.#pending.push(undefined);
      this.#freeSlots.push(s);
    }
  }

  /** Commands submitted and not yet completed, plus those waiting for a free slot. */
  get outstanding(): number {
    return this.depth - this.#freeSlots.length + this.#waiting.length;
  }

  /** Reads `blocks` blocks at `lba` into buffer[offset ...]. */
  read(nsid: number, lba: number | bigint, blocks: number, buffer: IoBuffer, offset = 0): Promise<void> {
    return this.#io(OP_READ, 'read', nsid, lba, blocks, buffer, offset);
  }

  /** Writes buffer[offset ...] to `blocks` blocks at `lba`. */
  write(nsid: number, lba: number | bigint, blocks: number, buffer: IoBuffer, offset = 0): Promise<void> {
    return this.#io(OP_WRITE, 'write', nsid, lba, blocks, buffer, offset);
  }

  /** Commits the namespace's volatile write cache. */
  flush(nsid: number): Promise<void> {
    return this.#io(OP_FLUSH, 'flush', nsid, 0, 0);
  }

  /** Sets `blocks` blocks at `lba` to zeroes without sending data. */
  writeZeroes(nsid: number, lba: number | bigint, blocks: number): Promise<void> {
    return this.#io(OP_WRITE_ZEROES, 'write zeroes', nsid, lba, blocks);
  }

  /** Deallocates (trims) `blocks` blocks at `lba` with Dataset Management. */
  deallocate(nsid: number, lba: number | bigint, blocks: number): Promise<void> {
    return this.#io(OP_DSM, 'deallocate', nsid, lba, blocks);
  }

  #io(opcode: number, name: string, nsid: number, lba: number | bigint, blocks: number,
    buffer?: IoBuffer, offset = 0): Promise<void> {
    let op: Op;
    try {
      op = this.#check(opcode, name, nsid, lba, blocks, buffer, offset);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<void>((resolve, reject) => {
      op.resolve = resolve;
      op.reject = reject;
      if (this.#freeSlots.length > 0) this.#submit(op);
      else this.#waiting.push(op);
    });
  }

  #check(opcode: number, name: string, nsidArg: unknown, lbaArg: unknown, blocksArg: unknown,
    buffer: unknown, offsetArg: unknown): Op {
    const refusal = this.#host.refusal();
    if (refusal) throw refusal;
    const nsid = v.integer(nsidArg, 'nsid', 1, 0xfffffffe);
    const ns = this.#host.namespace(nsid);
    if (opcode === OP_FLUSH) return new Op(this.#index, opcode, name, nsid);
    const lba = lbaNumber(lbaArg);
    const blocks = v.integer(blocksArg, 'blocks', 1, opcode === OP_DSM ? MAX_DSM_BLOCKS : MAX_BLOCKS);
    if (lba + blocks > ns.blocks) {
      throw new OutOfRangeError(`blocks ${lba}..${lba + blocks - 1} are outside namespace ${nsid} (${ns.blocks} blocks)`);
    }
    if (opcode !== OP_READ && opcode !== OP_WRITE) return new Op(this.#index, opcode, name, nsid, lba, blocks);
    if (!(buffer instanceof IoBuffer)) throw new InvalidArgumentError('an IoBuffer from a BufferPool is required');
    const ref = buffer.nativeRef();  // throws BufferReleasedError for a released buffer
    const offset = v.integer(offsetArg, 'offset', 0, buffer.length);
    const length = blocks * ns.blockSize;
    if (offset + length > buffer.length) {
      throw new OutOfRangeError(`${blocks} blocks of ${ns.blockSize} bytes at offset ${offset} exceed the buffer's ${buffer.length} bytes`);
    }
    const max = this.#host.maxTransfer;
    if (max && length > max) {
      throw new InvalidArgumentError(`${length} bytes exceed the controller's transfer size of ${max} bytes (MDTS)`);
    }
    return new Op(this.#index, opcode, name, nsid, lba, blocks, buffer, ref.poolId, ref.index, offset, length);
  }

  // An operation id is [sequence | slot | queue index]: the slot finds the command, and the
  // sequence makes sure a late completion cannot complete the slot's next command. A buffer
  // released while its command waits (here or in the batch) fails the command at the flush.
  #submit(op: Op): void {
    const slot = this.#freeSlots.pop()!;
    this.#seq = (this.#seq + 1) & SEQ_MASK;
    op.opId = (((this.#seq << SLOT_BITS) | slot) << QUEUE_INDEX_BITS | this.#index) >>> 0;
    this.#pending[slot] = op;
    this.#host.submissions.add(op);
  }

  #submitWaiting(): void {
    while (this.#waiting.length > 0 && this.#freeSlots.length > 0) this.#submit(this.#waiting.shift()!);
  }

  /** @internal Native code refused a batched command (the controller closed, say). */
  [kRefused](command: QueuedCommand, error: Error): void {
    this.#finish(command.opId)?.reject(error);
    this.#submitWaiting();
  }

  /** The command `opId` names, off its slot; undefined when it is no longer outstanding. */
  #finish(opId: number): Op | undefined {
    const slot = (opId >>> QUEUE_INDEX_BITS) & SLOT_MASK;
    const op = this.#pending[slot];
    if (!op || op.opId !== opId) return undefined;
    this.#pending[slot] = undefined;
    this.#freeSlots.push(slot);
    return op;
  }

  /** @internal A completion from the native batch. */
  [kComplete](opId: number, status: number): void {
    const op = this.#finish(opId);
    if (!op) return;
    if (isSuccess(status)) op.resolve();
    else op.reject(errorFromStatus(status, `${op.name} of nsid ${op.nsid} (LBA ${op.lba}, ${op.blocks} blocks, queue ${this.qid})`));
    this.#submitWaiting();
  }

  /** @internal Fails what native code can no longer complete (the controller is closed). */
  [kFailAll](error: RdmagateError): void {
    for (const op of this.#pending) if (op) this.#finish(op.opId)!.reject(error);
    for (const op of this.#waiting.splice(0)) op.reject(error);
  }
}

function lbaNumber(value: unknown): number {
  if (typeof value === 'bigint') {
    if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidArgumentError(`lba must be in [0, 2^53), got ${value}n`);
    return Number(value);
  }
  return v.integer(value, 'lba', 0, Number.MAX_SAFE_INTEGER);
}

/** @internal Which queue an operation id belongs to. */
export function queueIndexOf(opId: number): number {
  return opId & QUEUE_INDEX_MASK;
}
