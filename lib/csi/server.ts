/**
 * Serves the CSI services on a unix socket with @grpc/grpc-js. Each RPC is logged (its
 * request with secrets redacted) and every failure is answered with a CSI status code.
 */
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall,
  type UntypedServiceImplementation } from '@grpc/grpc-js';
import { mkdir, unlink } from 'node:fs/promises';
import { dirname, isAbsolute } from 'node:path';
import { RdmagateError } from '../errors';
import { invalidArgument, toCsiError } from './errors';
import type { CsiLogger } from './log';
import { csiServices, type CsiServiceName } from './proto';
import { removeStaleSocket } from '../unix-socket';

/** One RPC: a decoded request in, a response message out; throws for a status. */
export type RpcHandler = (request: unknown) => Promise<object>;
/** A service's RPCs by their proto names (CreateVolume, NodeStageVolume, ...). */
export type RpcHandlers = Record<string, RpcHandler>;

export interface CsiServerOptions {
  /** unix:///path/to/csi.sock (CSI's CSI_ENDPOINT form), or unix:/path. */
  endpoint: string;
  services: Partial<Record<CsiServiceName, RpcHandlers>>;
  log: CsiLogger;
}

/** Called often by the CO and the kubelet: logged at debug, not info. */
const QUIET = new Set(['Probe', 'GetPluginInfo', 'GetPluginCapabilities', 'ControllerGetCapabilities',
  'NodeGetCapabilities', 'NodeGetInfo', 'NodeGetVolumeStats', 'ListVolumes', 'ListSnapshots', 'GetCapacity']);

/** The socket path of a unix endpoint; anything else is refused (CSI talks over unix sockets). */
export function parseEndpoint(endpoint: string): string {
  // unix:///abs/path or unix:/abs/path; unix://name would name a host, not a path.
  const m = /^unix:(?:\/\/(?=\/))?(\/[^/].*)$/.exec(endpoint ?? '');
  if (!m || !isAbsolute(m[1])) throw invalidArgument(`endpoint must be unix:///absolute/path, got "${endpoint}"`);
  return m[1];
}

export class CsiServer {
  readonly #server: Server;
  readonly socketPath: string;
  #closed = false;

  private constructor(server: Server, socketPath: string) {
    this.#server = server;
    this.socketPath = socketPath;
  }

  static async start(o: CsiServerOptions): Promise<CsiServer> {
    const socketPath = parseEndpoint(o.endpoint);
    const defs = csiServices();
    const server = new Server();
    for (const [name, handlers] of Object.entries(o.services) as [CsiServiceName, RpcHandlers][]) {
      const service = defs[name].service;
      const impl: UntypedServiceImplementation = {};
      for (const method of Object.keys(service)) impl[method] = unary(method, handlers[method], o.log);
      server.addService(service, impl);
    }
    await mkdir(dirname(socketPath), { recursive: true });
    await removeStaleSocket(socketPath);
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(`unix:${socketPath}`, ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve()));
    }).catch((e: Error) => {
      throw new RdmagateError('ERR_SYSTEM', `cannot listen on ${socketPath}: ${e.message}`);
    });
    o.log.info('csi listening', { socket: socketPath, services: Object.keys(o.services) });
    return new CsiServer(server, socketPath);
  }

  /** Stops accepting calls, lets those in flight finish (up to `graceMs`), and removes the socket. */
  async close(graceMs = 5000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, graceMs);
      this.#server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
    await unlink(this.socketPath).catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function unary(method: string, handler: RpcHandler | undefined, log: CsiLogger) {
  return (call: ServerUnaryCall<unknown, object>, callback: sendUnaryData<object>): void => {
    const started = Date.now();
    if (!handler) {
      // A service this role does not implement: said plainly, as CSI's "call not implemented".
      callback({ code: status.UNIMPLEMENTED, details: `${method} is not implemented by this driver` });
      return;
    }
    log.debug('rpc', { method, request: call.request });
    handler(call.request).then(
      (response) => {
        const fields = { method, ms: Date.now() - started };
        if (QUIET.has(method)) log.debug('rpc ok', fields);
        else log.info('rpc ok', fields);
        callback(null, response);
      },
      (e: unknown) => {
        const err = toCsiError(e);
        const fields = { method, ms: Date.now() - started, code: status[err.grpcCode], error: err.message, request: call.request };
        if (err.grpcCode === status.INTERNAL || err.grpcCode === status.UNKNOWN) log.error('rpc failed', fields);
        else log.warn('rpc failed', fields);
        callback({ code: err.grpcCode, details: err.message });
      },
    );
  };
}

