/**
 * A client of an OPI storage bridge (ours or any other), over the same protos: the three
 * services' gRPC clients, and `call`, one promise per RPC with failures as OpiClientError
 * carrying the gRPC status; and `kernel`, our KernelNvmeService (rdmagate.dpu.v1), which
 * only our bridge serves (another answers UNIMPLEMENTED). What a CSI node plugin uses to
 * drive its DPU.
 */
import { credentials, Metadata, type CallOptions, type Client, type ServiceError } from '@grpc/grpc-js';
import { RdmagateError } from '../errors';
import { OpiStatus } from './errors';
import type { ConnectKernelNvmeRequest, DisconnectKernelNvmeRequest, KernelNvmeDevice, RescanKernelNvmeRequest } from './messages';
import { bridgeServices, type BridgeServiceName } from './proto';

export class OpiClientError extends RdmagateError {
  declare readonly code: 'ERR_OPI_CALL';
  readonly grpcCode: OpiStatus;
  constructor(grpcCode: OpiStatus, message: string) {
    super('ERR_OPI_CALL', `${OpiStatus[grpcCode] ?? grpcCode}: ${message}`);
    this.grpcCode = grpcCode;
  }
}

type UnaryMethod = (request: object, metadata: Metadata, options: CallOptions,
  callback: (e: ServiceError | null, response?: object) => void) => void;

/** KernelNvmeService's RPCs, one promise each. */
export interface KernelNvmeClient {
  connect(request: ConnectKernelNvmeRequest, timeoutMs?: number): Promise<KernelNvmeDevice>;
  disconnect(request: DisconnectKernelNvmeRequest, timeoutMs?: number): Promise<void>;
  rescan(request: RescanKernelNvmeRequest, timeoutMs?: number): Promise<KernelNvmeDevice>;
}

export interface OpiClient {
  readonly NvmeRemoteControllerService: Client;
  readonly AioVolumeService: Client;
  readonly FrontendNvmeService: Client;
  readonly KernelNvmeService: Client;
  /** The DPU's kernel NVMe-oF host (our extension). */
  readonly kernel: KernelNvmeClient;
  /** Calls `service`.`method`; resolves with the response as proto-loader decodes it (messages.ts). */
  call<T = Record<string, unknown>>(service: BridgeServiceName, method: string, request?: object, timeoutMs?: number): Promise<T>;
  close(): void;
}

/** Clients of the bridge at `address` (HOST:PORT, or unix:/path), insecure as OPI's bridges serve. */
export function opiClient(address: string): OpiClient {
  const s = bridgeServices();
  const creds = credentials.createInsecure();
  // Calls fail fast while the bridge is down (the CO retries); once it is back (a DPU that
  // restarted) they must reach it within a second, not after gRPC's default reconnect
  // backoff, which grows to two minutes.
  const options = { 'grpc.initial_reconnect_backoff_ms': 250, 'grpc.max_reconnect_backoff_ms': 1000 };
  const clients = {
    NvmeRemoteControllerService: new s.NvmeRemoteControllerService(address, creds, options),
    AioVolumeService: new s.AioVolumeService(address, creds, options),
    FrontendNvmeService: new s.FrontendNvmeService(address, creds, options),
    KernelNvmeService: new s.KernelNvmeService(address, creds, options),
  };
  const call = <T>(service: BridgeServiceName, method: string, request: object = {}, timeoutMs = 60_000): Promise<T> => {
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
  };
  const kernel: KernelNvmeClient = {
    connect: (request, timeoutMs) => call<KernelNvmeDevice>('KernelNvmeService', 'ConnectKernelNvme', request, timeoutMs),
    disconnect: async (request, timeoutMs) => {
      await call('KernelNvmeService', 'DisconnectKernelNvme', request, timeoutMs);
    },
    rescan: (request, timeoutMs) => call<KernelNvmeDevice>('KernelNvmeService', 'RescanKernelNvme', request, timeoutMs),
  };
  return {
    ...clients,
    kernel,
    call,
    close() {
      for (const c of Object.values(clients)) c.close();
    },
  };
}
