/**
 * The JSON-RPC server on a unix socket, framed as SPDK's: requests are JSON values written
 * back to back; each response is one JSON object followed by a newline, as SPDK writes
 * them. Requests of one connection run in order; connections run side by side. A
 * connection idle, or slow to send a request, is closed (deadlines.ts). The same server
 * may listen on TCP with TLS 1.3 (listenTls), for clients on other machines, each of which
 * must present a certificate that the given CA signed.
 */
import { chmod, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { dirname } from 'node:path';
import { RdmagateError } from '../../errors';
import { RpcErrorCode } from '../../jsonrpc/errors';
import type { RpcTlsCredentials } from '../../jsonrpc/endpoint';
import { JsonStreamParser, type JsonStreamItem } from '../../jsonrpc/json-stream';
import type { Logger } from '../../log/logger';
import { prepareSocketDir } from '../../socket-trust';
import { removeStaleSocket } from '../../unix-socket';
import { ConnectionDeadlines, DEFAULT_RPC_DEADLINES, type RpcDeadlines } from './deadlines';
import { errorResponse, type RpcDispatcher } from './dispatcher';

export interface RpcServerOptions {
  socketPath: string;
  /** File mode of the socket: who may connect. */
  mode: number;
  /**
   * The socket's directory is the server's own (the default one): made 0750 when missing,
   * and refused if anyone else may write to it. Otherwise it must exist, and only a
   * directory that others can write to without the sticky bit is refused.
   */
  createDir?: boolean;
  /** Default DEFAULT_RPC_DEADLINES: 300 s idle, 10 s for a request to arrive. */
  deadlines?: Partial<RpcDeadlines>;
  dispatcher: RpcDispatcher;
  log: Logger;
}

export interface RpcTlsServerOptions {
  address: string;
  /** 0: any free port (RpcServer.port says which). */
  port: number;
  /** The server's certificate and key, and the CA that signs every client's certificate. */
  tls: RpcTlsCredentials;
  deadlines?: Partial<RpcDeadlines>;
  dispatcher: RpcDispatcher;
  log: Logger;
}

/** How long a connection closed for a parse error waits for the client to read the answer. */
const LINGER_MS = 5000;

export class RpcServer {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #deadlines: RpcDeadlines;

  /** socketPath: the unix socket's, undefined for a TLS listener. */
  private constructor(readonly socketPath: string | undefined, private readonly dispatcher: RpcDispatcher, private readonly log: Logger,
    deadlines: RpcDeadlines, tls?: RpcTlsCredentials) {
    this.#deadlines = deadlines;
    // Half-open: a client may shut down its side after the last request and still read the answers.
    this.#server = tls
      ? createTlsServer({ ...tls, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3', allowHalfOpen: true },
        (s) => this.#serve(s))
      : createServer({ allowHalfOpen: true }, (s) => this.#serve(s));
    // Every connection, a TLS one still in its handshake included, so that close() ends them all.
    this.#server.on('connection', (raw: Socket) => {
      this.#sockets.add(raw);
      raw.on('close', () => this.#sockets.delete(raw));
    });
  }

  /** The TCP port of a TLS listener. */
  get port(): number | undefined {
    const a = this.#server.address();
    return typeof a === 'object' && a ? a.port : undefined;
  }

  /** JSON-RPC over TLS 1.3 on `address:port`: only clients with a certificate that the CA signed get in. */
  static async listenTls(o: RpcTlsServerOptions): Promise<RpcServer> {
    const deadlines = { ...DEFAULT_RPC_DEADLINES, ...o.deadlines };
    const s = new RpcServer(undefined, o.dispatcher, o.log, deadlines, o.tls);
    // A handshake refused (no certificate, or not the CA's) is the client's failure, logged once each.
    s.#server.on('tlsClientError', (e: Error, socket: Socket) => {
      o.log.warn('rpc tls client refused', { peer: socket.remoteAddress ?? null, error: e.message });
    });
    await new Promise<void>((resolve, reject) => {
      s.#server.once('error', reject);
      s.#server.listen(o.port, o.address, () => {
        s.#server.off('error', reject);
        resolve();
      });
    }).catch((e: NodeJS.ErrnoException) => {
      throw e.code === 'EADDRINUSE'
        ? new RdmagateError('ERR_ADDRESS_IN_USE', `${o.address}:${o.port} is in use`)
        : new RdmagateError('ERR_SYSTEM', `cannot listen on ${o.address}:${o.port}: ${e.message}`);
    });
    o.log.info('rpc listening', { tls: `${o.address}:${s.port}`, idleMs: deadlines.idleMs, requestMs: deadlines.requestMs });
    return s;
  }

  static async listen(o: RpcServerOptions): Promise<RpcServer> {
    const deadlines = { ...DEFAULT_RPC_DEADLINES, ...o.deadlines };
    await prepareSocketDir(dirname(o.socketPath), o.createDir ?? false).catch((e: unknown) => {
      if (e instanceof RdmagateError) throw e;
      throw new RdmagateError('ERR_SYSTEM', `cannot check the directory of ${o.socketPath}: ${(e as Error).message}`);
    });
    await removeStaleSocket(o.socketPath);
    const s = new RpcServer(o.socketPath, o.dispatcher, o.log, deadlines);
    await new Promise<void>((resolve, reject) => {
      s.#server.once('error', reject);
      s.#server.listen(o.socketPath, () => {
        s.#server.off('error', reject);
        resolve();
      });
    }).catch((e: NodeJS.ErrnoException) => {
      throw e.code === 'EADDRINUSE'
        ? new RdmagateError('ERR_ADDRESS_IN_USE', `${o.socketPath} is in use`)
        : new RdmagateError('ERR_SYSTEM', `cannot listen on ${o.socketPath}: ${e.message}`);
    });
    // Right after bind: with the usual umask (022) no other user can connect in between,
    // since connecting to a unix socket needs write permission on it.
    try {
      await chmod(o.socketPath, o.mode);
    } catch (e) {
      await s.close();
      throw new RdmagateError('ERR_SYSTEM', `cannot set the mode of ${o.socketPath}: ${(e as Error).message}`);
    }
    o.log.info('rpc listening', { socket: o.socketPath, mode: `0${o.mode.toString(8)}`, idleMs: deadlines.idleMs,
      requestMs: deadlines.requestMs });
    return s;
  }

  /** Stops accepting, drops the connections and removes the socket file. */
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    if (this.#server.listening) await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    if (this.socketPath !== undefined) await unlink(this.socketPath).catch(() => undefined);
  }

  #serve(socket: Socket): void {
    const parser = new JsonStreamParser();
    let queue = Promise.resolve();
    let broken = false;
    let inFlight = 0;
    const deadlines = new ConnectionDeadlines(this.#deadlines, (kind, ms) => {
      if (kind === 'idleMs') this.log.debug('rpc connection idle: closed', { ms });
      else this.log.warn('rpc request not received whole in time: connection closed', { ms });
      socket.destroy();
    });
    const refresh = (newRequest = false) => deadlines.update({ partial: parser.partial, newRequest, busy: inFlight > 0 });
    const send = (value: unknown) => {
      if (socket.writable) socket.write(JSON.stringify(value) + '\n');
    };
    const accept = (items: JsonStreamItem[]) => {
      for (const item of items) {
        if (broken) return;
        if (item.ok) {
          inFlight++;
          queue = queue.then(async () => {
            const response = await this.dispatcher.handle(item.value);
            if (response !== undefined) send(response);
          }).catch((e: unknown) => this.log.error('rpc connection failed', { error: String(e) })).finally(() => {
            inFlight--;
            refresh();
          });
          continue;
        }
        // After malformed JSON the stream cannot be framed again: answer, then close.
        broken = true;
        deadlines.stop();
        queue = queue.then(() => {
          send(errorResponse(null, RpcErrorCode.PARSE_ERROR, `Parse error: ${item.message}`));
          socket.end();
          socket.setTimeout(LINGER_MS, () => socket.destroy());
        });
      }
    };
    socket.on('data', (chunk: Buffer) => {
      const items = parser.push(chunk);
      accept(items);
      refresh(items.length > 0);
    });
    socket.on('end', () => {
      // Nothing more can arrive: what remains is answering, which the deadlines do not limit.
      deadlines.stop();
      accept(parser.end());
      queue = queue.then(() => { socket.end(); });
    });
    socket.on('error', (e) => this.log.debug('rpc connection error', { error: e.message }));
    socket.on('close', () => deadlines.stop());
    refresh();
  }
}

