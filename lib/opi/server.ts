/**
 * Serves the OPI services, and those of our extensions asked for, over gRPC (TCP, as
 * OPI's bridges do: 127.0.0.1:50051 by default). Each call's failure is answered with its gRPC status and logged; changes are
 * logged at info, reads at debug.
 */
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall,
  type UntypedServiceImplementation } from '@grpc/grpc-js';
import { RdmagateError } from '../errors';
import type { Logger } from '../log/logger';
import { toOpiError, unimplemented } from './errors';
import { request } from './fields';
import { bridgeServices, type BridgeServiceName } from './proto';
import type { OpiHandler, OpiHandlers } from './services/context';

const READS = /^(Get|List|Stats)/;

export class OpiServer {
  #closed = false;

  private constructor(private readonly server: Server, readonly address: string) {}

  /** Binds `listen` (HOST:PORT, [IPv6]:PORT, or unix:/path; port 0 picks one); `address` is where it listens. */
  static async start(listen: string, services: Partial<Record<BridgeServiceName, OpiHandlers>>, log: Logger): Promise<OpiServer> {
    const defs = bridgeServices();
    const server = new Server();
    for (const [name, handlers] of Object.entries(services) as [BridgeServiceName, OpiHandlers][]) {
      const service = defs[name].service;
      const impl: UntypedServiceImplementation = {};
      for (const method of Object.keys(service)) impl[method] = unary(method, handlers[method], log);
      server.addService(service, impl);
    }
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(listen, ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p)));
    }).catch((e: Error) => {
      server.forceShutdown();
      throw new RdmagateError('ERR_ADDRESS_IN_USE', `cannot listen on ${listen}: ${e.message}`);
    });
    const address = listen.startsWith('unix:') ? listen : listen.replace(/:\d+$/, `:${port}`);
    log.info('opi bridge listening', { address, services: Object.keys(services) });
    return new OpiServer(server, address);
  }

  /** Stops taking calls and lets those in flight finish (up to `graceMs`). */
  async close(graceMs = 5000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

function unary(method: string, handler: OpiHandler | undefined, log: Logger) {
  return (call: ServerUnaryCall<unknown, object>, callback: sendUnaryData<object>): void => {
    const started = Date.now();
    const run = async () => {
      if (!handler) throw unimplemented(`${method} is not implemented by this bridge`);
      return handler(request(call.request));
    };
    run().then(
      (response) => {
        const fields = { method, ms: Date.now() - started };
        if (READS.test(method)) log.debug('opi rpc ok', fields);
        else log.info('opi rpc ok', fields);
        callback(null, response);
      },
      (e: unknown) => {
        const err = toOpiError(e);
        const fields = { method, ms: Date.now() - started, code: status[err.grpcCode], error: err.message };
        if (err.grpcCode === status.INTERNAL || err.grpcCode === status.UNKNOWN) log.error('opi rpc failed', fields);
        else log.warn('opi rpc failed', fields);
        callback({ code: err.grpcCode, details: err.message });
      },
    );
  };
}
