import { EventEmitter } from 'node:events';
import { native, type NativeRdmaListener } from '../native';
import * as v from '../validate';
import { type RdmaConnectionOptions, RdmaConnection, nativeConnectionOptions } from './connection';
import { requireRdma } from './devices';
import { ensureDispatcher, registerListener, unregisterListener } from './dispatcher';

export interface RdmaListenOptions extends RdmaConnectionOptions {
  /** The IP address to listen on; it selects the RDMA device. */
  address: string;
  /** 0 picks a free port. */
  port: number;
  backlog?: number;
}

/**
 * Accepts RC connections through rdma_cm. Emits 'connection' with each established
 * RdmaConnection; accept() returns the next one as a promise.
 */
export class RdmaListener extends EventEmitter {
  readonly #native: NativeRdmaListener;
  readonly #waiting: ((c: RdmaConnection) => void)[] = [];
  #closed = false;

  constructor(options: RdmaListenOptions) {
    super();
    const o = v.object<RdmaListenOptions>(options, 'options');
    const address = v.string(o.address, 'address');
    const port = v.integer(o.port, 'port', 0, 65535);
    const backlog = v.optionalInteger(o.backlog, 'backlog', 1, 4096, 128);
    const nativeOptions = nativeConnectionOptions(o);
    requireRdma();
    ensureDispatcher();
    this.#native = new native.NativeRdmaListener(address, port, backlog, nativeOptions);
    registerListener(this.#native.id, {
      onAccepted: (id, handle) => {
        new RdmaConnection(id, handle, (c) => this.#deliver(c));
      },
    });
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    return this.#native.port;
  }

  /** The next established connection. */
  accept(): Promise<RdmaConnection> {
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Stops accepting. Established connections stay open. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    unregisterListener(this.#native.id);
    this.#native.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #deliver(c: RdmaConnection): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter(c);
    this.emit('connection', c);
  }
}
