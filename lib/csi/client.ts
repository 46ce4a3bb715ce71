/**
 * A promise-based CSI client over the same csi.proto, for tools and tests: one call per
 * RPC, with the response as decoded by proto-loader (types.ts) and failures as
 * CsiClientError carrying the gRPC status code.
 */
import { credentials, Metadata, type CallOptions, type Client, type ServiceError } from '@grpc/grpc-js';
import { RdmagateError } from '../errors';
import { GrpcStatus } from './errors';
import { csiServices, type CsiServiceName } from './proto';
import { parseEndpoint } from './server';

export class CsiClientError extends RdmagateError {
  readonly grpcCode: GrpcStatus;
  constructor(grpcCode: GrpcStatus, message: string) {
    super('ERR_CSI_CALL', `${GrpcStatus[grpcCode]}: ${message}`);
    this.grpcCode = grpcCode;
  }
}

type UnaryMethod = (request: object, metadata: Metadata, options: CallOptions,
  callback: (e: ServiceError | null, response?: object) => void) => void;

export class CsiClient {
  readonly #clients: Record<CsiServiceName, Client>;

  constructor(endpoint: string) {
    const socket = parseEndpoint(endpoint);
    const s = csiServices();
    const creds = credentials.createInsecure();
    this.#clients = {
      Identity: new s.Identity(`unix:${socket}`, creds),
      Controller: new s.Controller(`unix:${socket}`, creds),
      Node: new s.Node(`unix:${socket}`, creds),
    };
  }

  /** Calls `service`.`method` with `request`; resolves with the response message. */
  call<T = Record<string, unknown>>(service: CsiServiceName, method: string, request: object = {}, timeoutMs = 60_000): Promise<T> {
    const client = this.#clients[service] as unknown as Record<string, UnaryMethod | undefined>;
    const fn = client[method];
    if (typeof fn !== 'function') return Promise.reject(new CsiClientError(GrpcStatus.UNIMPLEMENTED, `${service} has no method ${method}`));
    return new Promise<T>((resolve, reject) => {
      fn.call(client, request, new Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (e, r) => {
        if (e) reject(new CsiClientError(e.code, e.details));
        else resolve(r as T);
      });
    });
  }

  close(): void {
    for (const c of Object.values(this.#clients)) c.close();
  }
}
