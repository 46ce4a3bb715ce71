/**
 * OPI answers with gRPC status codes. An OpiError carries one; toOpiError maps what
 * else a handler throws: the gateway's JSON-RPC errors (SPDK's negative errnos) by
 * meaning, with the gateway's message kept, an unreachable gateway as UNAVAILABLE, and
 * the kernel host's CsiErrors (KernelNvmeService) with the status they carry.
 */
import { status } from '@grpc/grpc-js';
import { CsiError } from '../csi/errors';
import { RdmagateError, type GrpcStatusName } from '../errors';
import { JsonRpcError, RpcErrorCode, RpcTransportError } from '../jsonrpc';

export { status as OpiStatus };

/**
 * `status`'s name for `code`. A numeric enum's reverse mapping is typed `string`; the cast
 * also checks that GrpcStatusName (lib/errors.ts) names every member of grpc-js's enum.
 */
function statusName(code: status): GrpcStatusName {
  return (status[code] as keyof typeof status | undefined) ?? 'UNKNOWN';
}

export class OpiError extends RdmagateError {
  declare readonly code: `ERR_OPI_${GrpcStatusName}`;
  readonly grpcCode: status;
  constructor(grpcCode: status, message: string) {
    super(`ERR_OPI_${statusName(grpcCode)}`, message);
    this.grpcCode = grpcCode;
  }
}

export const invalidArgument = (m: string) => new OpiError(status.INVALID_ARGUMENT, m);
export const notFound = (m: string) => new OpiError(status.NOT_FOUND, m);
export const alreadyExists = (m: string) => new OpiError(status.ALREADY_EXISTS, m);
export const failedPrecondition = (m: string) => new OpiError(status.FAILED_PRECONDITION, m);
export const unimplemented = (m: string) => new OpiError(status.UNIMPLEMENTED, m);
export const deadlineExceeded = (m: string) => new OpiError(status.DEADLINE_EXCEEDED, m);
export const internal = (m: string) => new OpiError(status.INTERNAL, m);

const BY_RPC_CODE = new Map<number, status>([
  [RpcErrorCode.ENODEV, status.NOT_FOUND],
  [RpcErrorCode.EEXIST, status.ALREADY_EXISTS],
  [RpcErrorCode.EBUSY, status.FAILED_PRECONDITION],
  // A backend that cannot be reached: the caller may retry.
  [RpcErrorCode.EIO, status.UNAVAILABLE],
  // The gateway refused a value the request carried (a block size, an address).
  [RpcErrorCode.INVALID_PARAMS, status.INVALID_ARGUMENT],
  // No RDMA on this machine: nothing a retry can fix until the system changes.
  [RpcErrorCode.EOPNOTSUPP, status.FAILED_PRECONDITION],
]);

export { isRpcError } from '../jsonrpc/errors';

export function toOpiError(e: unknown): OpiError {
  if (e instanceof OpiError) return e;
  if (e instanceof CsiError) return new OpiError(e.grpcCode, e.message);
  if (e instanceof RpcTransportError) return new OpiError(status.UNAVAILABLE, `gateway: ${e.message}`);
  if (e instanceof JsonRpcError) return new OpiError(BY_RPC_CODE.get(e.rpcCode) ?? status.INTERNAL, `gateway: ${e.message}`);
  if (e instanceof RdmagateError && e.code === 'ERR_CLOSED') return new OpiError(status.UNAVAILABLE, e.message);
  return new OpiError(status.INTERNAL, e instanceof Error ? e.message : String(e));
}
