import { EventEmitter } from 'node:events';
import { IoBuffer } from '../buffers/io-buffer';
import {
  InvalidArgumentError, OutOfRangeError, RdmaCompletionError, RdmaConnectError, RdmaDisconnectedError,
} from '../errors';
import { native, type NativeBufferPool, type NativeConnectionOptions, type NativeRdmaConnection,
  type RdmaConnectionCounters } from '../native';
import * as v from '../validate';
import { ensureDispatcher, registerConnection } from './dispatcher';
import { requireRdma } from './devices';
import { WC_SUCCESS, WC_WR_FLUSH_ERR, wcStatusName } from './wc-status';

/** Where a peer's buffer is: what remoteKey() returns and write()/read() take. */
export interface RemoteBuffer {
  address: bigint;
  key: number;
  length: number;
}

export interface RdmaConnectionOptions {
  /** Outstanding sends, writes and reads. Default 64. */
  sendDepth?: number;
  /** Outstanding posted receives. Default 64. */
  receiveDepth?: number;
  /** Sends up to this size go inline in the work request. Default 64. */
  inlineSize?: number;
  /** Address and route resolution timeout. Default 2000 ms. */
  timeoutMs?: number;
  /** Sent with the connect request or accept (at most 56 bytes). */
  privateData?: Uint8Array;
}

export interface RdmaConnectOptions extends RdmaConnectionOptions {
  address: string;
  port: number;
}

export interface TransferRange {
  offset?: number;
  length?: number;
}

const enum OpKind { Send = 0, Receive = 1, Write = 2, Read = 3 }
const OP_NAMES = ['send', 'receive', 'RDMA write', 'RDMA read'];

interface Pending {
  kind: OpKind;
  buffer: IoBuffer;  // held so that the buffer is not collected while the HCA uses it
  resolve(bytes: number): void;
  reject(err: Error): void;
}

let nextOpId = 1;

/** @internal */
export function nativeConnectionOptions(o: Partial<RdmaConnectionOptions>): NativeConnectionOptions {
  const privateData = o.privateData;
  if (privateData !== undefined && (!(privateData instanceof Uint8Array) || privateData.length > 56)) {
    throw new InvalidArgumentError('privateData must be a Uint8Array of at most 56 bytes');
  }
  return {
    sendDepth: v.optionalInteger(o.sendDepth, 'sendDepth', 1, 16384, 64),
    receiveDepth: v.optionalInteger(o.receiveDepth, 'receiveDepth', 1, 16384, 64),
    inlineSize: v.optionalInteger(o.inlineSize, 'inlineSize', 0, 1024, 64),
    timeoutMs: v.optionalInteger(o.timeoutMs, 'timeoutMs', 1, 600000, 2000),
    privateData,
  };
}

/**
 * A reliable-connected RDMA queue pair: two-sided send/receive and one-sided write/read.
 * Completions are polled natively and arrive in batches. Emits 'disconnect' once, when
 * the connection is gone and its resources are freed.
 */
export class RdmaConnection extends EventEmitter {
  readonly #native: NativeRdmaConnection;
  readonly #pending = new Map<number, Pending>();
  #state: 'connecting' | 'open' | 'closing' | 'closed' = 'connecting';
  #peerPrivateData: Uint8Array = new Uint8Array(0);
  #closed: Promise<void>;
  #onClosed!: () => void;
  #onEstablished: ((c: RdmaConnection) => void) | undefined;
  #onFailed: ((e: Error) => void) | undefined;

  /** @internal */
  constructor(id: number, handle: NativeRdmaConnection,
    onEstablished?: (c: RdmaConnection) => void, onFailed?: (e: Error) => void) {
    super();
    this.#native = handle;
    this.#onEstablished = onEstablished;
    this.#onFailed = onFailed;
    this.#closed = new Promise((resolve) => { this.#onClosed = resolve; });
    registerConnection(id, {
      onCompletions: (flat) => this.#complete(flat),
      onEstablished: (pd) => {
        this.#state = 'open';
        this.#peerPrivateData = pd;
        this.#onEstablished?.(this);
      },
      onFailed: (status, message, pd) => {
        this.#finish(new RdmaConnectError(message, status, pd));
      },
      onDisconnected: () => this.#finish(),
    });
  }

  get state(): 'connecting' | 'open' | 'closing' | 'closed' {
    return this.#state;
  }

  get localAddress(): string {
    return this.#native.addresses().local;
  }

  get peerAddress(): string {
    return this.#native.addresses().peer;
  }

  /** The private data the peer sent with its accept (or its connect request). */
  get peerPrivateData(): Uint8Array {
    return this.#peerPrivateData;
  }

  /** Sends buffer[offset, offset+length) to the peer's next posted receive. */
  send(buffer: IoBuffer, range: TransferRange = {}): Promise<void> {
    return this.#post(OpKind.Send, buffer, range).then(() => undefined);
  }

  /** Posts a receive into the buffer; resolves with the received length. */
  postReceive(buffer: IoBuffer, range: TransferRange = {}): Promise<number> {
    return this.#post(OpKind.Receive, buffer, range);
  }

  /** RDMA WRITE of buffer[offset, offset+length) to the peer's memory at `remote`. */
  write(buffer: IoBuffer, remote: RemoteBuffer, range: TransferRange = {}): Promise<void> {
    return this.#post(OpKind.Write, buffer, range, remote).then(() => undefined);
  }

  /** RDMA READ from the peer's memory at `remote` into buffer[offset, offset+length). */
  read(buffer: IoBuffer, remote: RemoteBuffer, range: TransferRange = {}): Promise<void> {
    return this.#post(OpKind.Read, buffer, range, remote).then(() => undefined);
  }

  /** The address and key that let the peer write to and read from `buffer`. */
  remoteKey(buffer: IoBuffer): RemoteBuffer {
    const ref = checkBuffer(buffer);
    const key = this.#native.remoteKey(ref.pool, ref.index);
    return { address: buffer.address, key, length: buffer.length };
  }

  counters(): RdmaConnectionCounters {
    return this.#native.counters();
  }

  /** Disconnects; outstanding operations fail with RdmaDisconnectedError. */
  close(): Promise<void> {
    if (this.#state !== 'closed') {
      this.#state = 'closing';
      this.#native.disconnect();
    }
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #post(kind: OpKind, buffer: IoBuffer, range: TransferRange, remote?: RemoteBuffer): Promise<number> {
    try {
      return this.#postOrThrow(kind, buffer, range, remote);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #postOrThrow(kind: OpKind, buffer: IoBuffer, range: TransferRange, remote?: RemoteBuffer): Promise<number> {
    const ref = checkBuffer(buffer);
    const r = v.object<TransferRange>(range, 'range');
    const offset = v.optionalInteger(r.offset, 'offset', 0, buffer.length, 0);
    const length = v.optionalInteger(r.length, 'length', 0, 2 ** 31, buffer.length - offset);
    if (offset + length > buffer.length) {
      throw new OutOfRangeError(`offset ${offset} + length ${length} exceed the buffer's ${buffer.length} bytes`);
    }
    let remoteAddress: bigint | undefined;
    let remoteKey: number | undefined;
    if (remote !== undefined) {
      const rb = v.object<RemoteBuffer>(remote, 'remote');
      remoteAddress = v.bigintU64(rb.address, 'remote.address');
      remoteKey = v.integer(rb.key, 'remote.key', 0, 0xffffffff);
    }
    if (this.#state !== 'open' && !(kind === OpKind.Receive && this.#state === 'connecting')) {
      throw new RdmaDisconnectedError(`the connection is ${this.#state}`);
    }
    const opId = nextOpId;
    nextOpId = nextOpId >= 0xffffffff ? 1 : nextOpId + 1;
    this.#native.post(kind, opId, ref.pool, ref.index, offset, length, remoteAddress, remoteKey);
    return new Promise<number>((resolve, reject) => {
      this.#pending.set(opId, { kind, buffer, resolve, reject });
    });
  }

  #complete(flat: number[]): void {
    for (let i = 0; i < flat.length; i += 3) {
      const p = this.#pending.get(flat[i]);
      if (!p) continue;
      this.#pending.delete(flat[i]);
      const status = flat[i + 1];
      if (status === WC_SUCCESS) p.resolve(flat[i + 2]);
      else if (status === WC_WR_FLUSH_ERR) p.reject(new RdmaDisconnectedError(`${OP_NAMES[p.kind]} flushed: the queue pair is closed or in error`));
      else p.reject(new RdmaCompletionError(status, wcStatusName(status), OP_NAMES[p.kind]));
    }
  }

  #finish(error?: Error): void {
    const wasConnecting = this.#state === 'connecting';
    this.#state = 'closed';
    for (const p of this.#pending.values()) p.reject(new RdmaDisconnectedError());
    this.#pending.clear();
    if (wasConnecting && error) this.#onFailed?.(error);
    this.#onEstablished = this.#onFailed = undefined;
    this.#onClosed();
    if (!wasConnecting) this.emit('disconnect');
  }
}

function checkBuffer(buffer: unknown): { pool: NativeBufferPool; index: number } {
  if (!(buffer instanceof IoBuffer)) {
    throw new InvalidArgumentError('an IoBuffer from a BufferPool is required');
  }
  return buffer.nativeRef();
}

/** Connects to an RdmaListener (or any rdma_cm RC listener) at address:port. */
export async function connect(options: RdmaConnectOptions): Promise<RdmaConnection> {
  const o = v.object<RdmaConnectOptions>(options, 'options');
  const address = v.string(o.address, 'address');
  const port = v.integer(o.port, 'port', 1, 65535);
  const nativeOptions = nativeConnectionOptions(o);
  requireRdma();
  ensureDispatcher();
  return new Promise((resolve, reject) => {
    const { id, handle } = native.rdmaConnect(address, port, nativeOptions);
    new RdmaConnection(id, handle, resolve, reject);
  });
}
