/**
 * The JSON-RPC server on a unix socket, framed as SPDK's: requests are JSON values written
 * back to back; each response is one JSON object followed by a newline, as SPDK writes
 * them. Requests of one connection run in order; connections run side by side.
 */
import { chmod, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { RdmagateError } from '../../errors';
import type { Logger } from '../logger';
import { errorResponse, type RpcDispatcher } from './dispatcher';
import { RpcErrorCode } from './errors';
import { JsonStreamParser, type JsonStreamItem } from './json-stream';
import { removeStaleSocket } from '../../unix-socket';

export interface RpcServerOptions {
  socketPath: string;
  /** File mode of the socket: who may connect. */
  mode: number;
  dispatcher: RpcDispatcher;
  log: Logger;
}

/** How long a connection closed for a parse error waits for the client to read the answer. */
const LINGER_MS = 5000;

export class RpcServer {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(readonly socketPath: string, private readonly dispatcher: RpcDispatcher, private readonly log: Logger) {
    // Half-open: a client may shut down its side after the last request and still read the answers.
    this.#server = createServer({ allowHalfOpen: true }, (s) => this.#serve(s));
  }

  static async listen(o: RpcServerOptions): Promise<RpcServer> {
    await removeStaleSocket(o.socketPath);
    const s = new RpcServer(o.socketPath, o.dispatcher, o.log);
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
    o.log.info('rpc listening', { socket: o.socketPath, mode: `0${o.mode.toString(8)}` });
    return s;
  }

  /** Stops accepting, drops the connections and removes the socket file. */
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    if (this.#server.listening) await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await unlink(this.socketPath).catch(() => undefined);
  }

  #serve(socket: Socket): void {
    this.#sockets.add(socket);
    const parser = new JsonStreamParser();
    let queue = Promise.resolve();
    let broken = false;
    const send = (value: unknown) => {
      if (socket.writable) socket.write(JSON.stringify(value) + '\n');
    };
    const accept = (items: JsonStreamItem[]) => {
      for (const item of items) {
        if (broken) return;
        if (item.ok) {
          queue = queue.then(async () => {
            const response = await this.dispatcher.handle(item.value);
            if (response !== undefined) send(response);
          }).catch((e: unknown) => this.log.error('rpc connection failed', { error: String(e) }));
          continue;
        }
        // After malformed JSON the stream cannot be framed again: answer, then close.
        broken = true;
        queue = queue.then(() => {
          send(errorResponse(null, RpcErrorCode.PARSE_ERROR, `Parse error: ${item.message}`));
          socket.end();
          socket.setTimeout(LINGER_MS, () => socket.destroy());
        });
      }
    };
    socket.on('data', (chunk: Buffer) => accept(parser.push(chunk)));
    socket.on('end', () => {
      accept(parser.end());
      queue = queue.then(() => { socket.end(); });
    });
    socket.on('error', (e) => this.log.debug('rpc connection error', { error: e.message }));
    socket.on('close', () => this.#sockets.delete(socket));
  }
}

