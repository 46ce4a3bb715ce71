/**
 * A JSON-RPC client for the gateway's unix socket, as `rdmagate rpc` and tests use it, or
 * for its TLS listener (tls://HOST:PORT, endpoint.ts). It frames like SPDK's rpc.py:
 * requests written as JSON, responses read as a stream of JSON values, matched to requests
 * by id. It connects only to a socket of root or its own user (socket-trust.ts), or to a TLS
 * listener whose certificate its CA signed: requests carry what to export and to whom. The
 * gateway closes a connection idle for 300 s (ERR_RPC_CLOSED after): a client kept longer
 * connects again.
 */
import { createConnection, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { InvalidArgumentError, RdmagateError, SocketPathError } from '../errors';
import { checkServerSocket } from '../socket-trust';
import { parseRpcEndpoint, type RpcEndpoint, type RpcTlsCredentials } from './endpoint';
import { JsonRpcError } from './errors';
import type { JsonValue } from './json';
import { JsonStreamParser } from './json-stream';

/** The connection failed, closed, timed out or carried something that is not JSON-RPC. */
export class RpcTransportError extends RdmagateError {
  declare readonly code: 'ERR_RPC_CONNECT' | 'ERR_RPC_CLOSED' | 'ERR_RPC_TIMEOUT' | 'ERR_RPC_PROTOCOL';
  constructor(code: RpcTransportError['code'], message: string) {
    super(code, message);
  }
}

export interface RpcClientOptions {
  /** How long a call (and the connect) may take; default 60 s, as rpc.py's -t. */
  timeoutMs?: number;
  /** Connect attempts after the first, 200 ms apart, as rpc.py's -r; default 0. */
  retries?: number;
  /** This client's certificate, key and the CA of the gateway's: needed for a tls:// endpoint. */
  tls?: RpcTlsCredentials;
}

interface Pending {
  method: string;
  resolve: (v: JsonValue) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

const RETRY_DELAY_MS = 200;

export class RpcClient {
  readonly #socket: Socket;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  readonly #parser = new JsonStreamParser();
  #nextId = 1;
  #closedError: Error | undefined;

  private constructor(socket: Socket, timeoutMs: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (e) => this.#fail(new RpcTransportError('ERR_RPC_CLOSED', `the RPC connection failed: ${e.message}`)));
    socket.on('close', () => this.#fail(new RpcTransportError('ERR_RPC_CLOSED', 'the gateway closed the RPC connection')));
  }

  /**
   * `endpoint`: a unix socket path or tls://HOST:PORT. Throws SocketPathError, without
   * retrying, for a socket of another user or in a directory others can write to;
   * RpcTransportError (ERR_RPC_CONNECT) when none answers, or a TLS listener whose
   * certificate does not verify (or that refuses this client's).
   */
  static async connect(endpoint: string, options: RpcClientOptions = {}): Promise<RpcClient> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    const retries = options.retries ?? 0;
    const at = parseRpcEndpoint(endpoint);
    if (at.kind === 'tls' && !options.tls) {
      throw new InvalidArgumentError(`${endpoint}: a tls:// endpoint needs this client's certificate, key and CA (--rpc-tls-*)`);
    }
    for (let attempt = 0; ; attempt++) {
      try {
        if (at.kind === 'unix') await checkServerSocket(at.path);
        return new RpcClient(await open(at, timeoutMs, options.tls), timeoutMs);
      } catch (e) {
        // Waiting does not make another user's socket ours; a missing one may yet appear.
        if (e instanceof SocketPathError && e.code !== 'ERR_SOCKET_DIR_MISSING') throw e;
        if (attempt >= retries) {
          throw new RpcTransportError('ERR_RPC_CONNECT',
            `cannot connect to ${endpoint}: ${(e as Error).message} (is the gateway running?)`);
        }
        await new Promise((r) => setTimeout(r, RETRY_DELAY_MS));
      }
    }
  }

  /** Calls `method`; resolves with its result, rejects with JsonRpcError for an error response. */
  call(method: string, params?: Record<string, JsonValue>): Promise<JsonValue> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    const id = this.#nextId++;
    return new Promise<JsonValue>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new RpcTransportError('ERR_RPC_TIMEOUT', `no response to ${method} within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(id, { method, resolve, reject, timer });
      this.#socket.write(JSON.stringify({ jsonrpc: '2.0', method, id, ...(params ? { params } : {}) }));
    });
  }

  /** Sends a notification: the server runs it and answers nothing. */
  notify(method: string, params?: Record<string, JsonValue>): void {
    if (this.#closedError) throw this.#closedError;
    this.#socket.write(JSON.stringify({ jsonrpc: '2.0', method, ...(params ? { params } : {}) }));
  }

  close(): void {
    this.#fail(new RpcTransportError('ERR_RPC_CLOSED', 'the RPC client is closed'));
  }

  #onData(chunk: Buffer): void {
    for (const item of this.#parser.push(chunk)) {
      if (!item.ok) {
        this.#fail(new RpcTransportError('ERR_RPC_PROTOCOL', `the gateway sent malformed JSON: ${item.message}`));
        return;
      }
      const r = item.value as { id?: unknown; result?: JsonValue; error?: { code?: unknown; message?: unknown } };
      const p = typeof r?.id === 'number' ? this.#pending.get(r.id) : undefined;
      if (!p) {
        // Only an answer to something unparseable has no id of ours: nothing more will come.
        const e = r?.error;
        this.#fail(new JsonRpcError(typeof e?.code === 'number' ? e.code : 0, String(e?.message ?? 'unexpected response')));
        return;
      }
      this.#pending.delete(r.id as number);
      clearTimeout(p.timer);
      if (r.error) p.reject(new JsonRpcError(Number(r.error.code), String(r.error.message)));
      else p.resolve(r.result ?? null);
    }
  }

  #fail(e: Error): void {
    this.#closedError ??= e;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.#pending.clear();
    this.#socket.destroy();
  }
}

/** One call on a fresh connection: what `rdmagate rpc` does. */
export async function rpcCall(endpoint: string, method: string, params?: Record<string, JsonValue>,
  options: RpcClientOptions = {}): Promise<JsonValue> {
  const client = await RpcClient.connect(endpoint, options);
  try {
    return await client.call(method, params);
  } finally {
    client.close();
  }
}

function open(at: RpcEndpoint, timeoutMs: number, tls: RpcTlsCredentials | undefined): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = at.kind === 'unix' ? createConnection(at.path)
      : tlsConnect({ host: at.host, port: at.port, ...tls, minVersion: 'TLSv1.3' });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    // Over TLS, the connection is there once the handshake (both certificates) is done.
    s.once(at.kind === 'unix' ? 'connect' : 'secureConnect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
