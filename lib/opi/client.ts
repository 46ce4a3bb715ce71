/**
 * A client of an OPI storage bridge (ours or any other), over the same protos: the three
 * services' gRPC clients, and `call`, one promise per RPC with failures as OpiClientError
 * carrying the gRPC status. What a CSI node plugin uses to drive its DPU.
 */
import { credentials, Metadata, type CallOptions, type Client, type ServiceError } from '@grpc/grpc-js';
import { RdmagateError } from '../errors';
import { OpiStatus } from './errors';
import { opiServices, type OpiServiceName } from './proto';

export class OpiClientError extends RdmagateError {
  readonly grpcCode: OpiStatus;
  constructor(grpcCode: OpiStatus, message: string) {
    super('ERR_OPI_CALL', `${OpiStatus[grpcCode] ?? grpcCode}: ${message}`);
    this.grpcCode = grpcCode;
  }
}

type UnaryMethod = (request: object, metadata: Metadata, options: CallOptions,
  callback: (e: ServiceError | null, response?: object) => void) => void;

export interface OpiClient {
  readonly NvmeRemoteControllerService: Client;
  readonly AioVolumeService: Client;
  readonly FrontendNvmeService: Client;
  /** Calls `service`.`method`; resolves with the response as proto-loader decodes it (messages.ts). */
  call<T = Record<string, unknown>>(service: OpiServiceName, method: string, request?: object, timeoutMs?: number): Promise<T>;
  close(): void;
}

/** Clients of the bridge at `address` (HOST:PORT, or unix:/path), insecure as OPI's bridges serve. */
export function opiClient(address: string): OpiClient {
  const s = opiServices();
  const creds = credentials.createInsecure();
  const clients = {
    NvmeRemoteControllerService: new s.NvmeRemoteControllerService(address, creds),
    AioVolumeService: new s.AioVolumeService(address, creds),
    FrontendNvmeService: new s.FrontendNvmeService(address, creds),
  };
  return {
    ...clients,
    call<T>(service: OpiServiceName, method: string, request: object = {}, timeoutMs = 60_000): Promise<T> {
      const client = clients[service] as unknown as Record<string, UnaryMethod | undefined>;
      const fn = client[method];
      if (typeof fn !== 'function') {
        return Promise.reject(new OpiClientError(OpiStatus.UNIMPLEMENTED, `${service} has no method ${method}`));
      }
      return new Promise<T>((resolve, reject) => {
        fn.call(client, request, new Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (e, r) => {
          if (e) reject(new OpiClientError(e.code, e.details));
          else resolve(r as T);
        });
      });
    },
    close() {
      for (const c of Object.values(clients)) c.close();
    },
  };
}
