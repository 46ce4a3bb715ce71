/**
 * The two clocks of a JSON-RPC connection, so that a client cannot hold one open for
 * nothing: an idle clock, running while nothing is half-received and nothing is in flight
 * (a long method's caller waits as long as the method takes), and a request clock, from a
 * request's first byte to its last, which more bytes do not restart (a request sent a
 * byte at a time still runs out).
 */

export interface RpcDeadlines {
  /** How long a connection may send nothing while none of its requests runs; 0: no limit. */
  idleMs: number;
  /** How long a request may take to arrive whole once it has begun; 0: no limit. */
  requestMs: number;
}

export const DEFAULT_RPC_DEADLINES: Readonly<RpcDeadlines> = { idleMs: 300_000, requestMs: 10_000 };

export type DeadlineKind = keyof RpcDeadlines;

/** What the connection is doing, after a read or a finished request. */
export interface ConnectionActivity {
  /** A request has begun to arrive and is not whole yet. */
  partial: boolean;
  /** The half-received request began in this read (an earlier one was completed in it). */
  newRequest: boolean;
  /** Requests are queued or running. */
  busy: boolean;
}

export class ConnectionDeadlines {
  readonly #limits: RpcDeadlines;
  readonly #expired: (kind: DeadlineKind, ms: number) => void;
  #idle: NodeJS.Timeout | undefined;
  #request: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(limits: RpcDeadlines, expired: (kind: DeadlineKind, ms: number) => void) {
    this.#limits = limits;
    this.#expired = expired;
  }

  update(a: ConnectionActivity): void {
    if (this.#stopped) return;
    if (!a.partial) {
      clearTimeout(this.#request);
      this.#request = undefined;
    } else if (a.newRequest || this.#request === undefined) {
      clearTimeout(this.#request);
      this.#request = this.#start('requestMs');
    }
    // Any activity restarts the idle clock; it runs only when nothing is pending.
    clearTimeout(this.#idle);
    this.#idle = a.partial || a.busy ? undefined : this.#start('idleMs');
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#idle);
    clearTimeout(this.#request);
  }

  #start(kind: DeadlineKind): NodeJS.Timeout | undefined {
    const ms = this.#limits[kind];
    if (ms === 0) return undefined;
    const t = setTimeout(() => {
      this.stop();
      this.#expired(kind, ms);
    }, ms);
    // The server keeps the process alive, not its connections' clocks.
    t.unref();
    return t;
  }
}
