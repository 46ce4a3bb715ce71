/**
 * CSI answers failures with gRPC status codes, each with a recovery behaviour the CO
 * follows (retry, back off, give up). A CsiError carries the code; anything else a
 * handler throws is mapped by toCsiError.
 */
import { status } from '@grpc/grpc-js';
import { RdmagateError, type RdmagateErrorCode } from '../errors';
import { JsonRpcError, RpcTransportError } from '../jsonrpc';

export { status as GrpcStatus };

const CODE_NAME: Partial<Record<status, RdmagateErrorCode>> = {
  [status.INVALID_ARGUMENT]: 'ERR_CSI_INVALID_ARGUMENT',
  [status.NOT_FOUND]: 'ERR_CSI_NOT_FOUND',
  [status.ALREADY_EXISTS]: 'ERR_CSI_ALREADY_EXISTS',
  [status.OUT_OF_RANGE]: 'ERR_CSI_OUT_OF_RANGE',
  [status.FAILED_PRECONDITION]: 'ERR_CSI_FAILED_PRECONDITION',
  [status.ABORTED]: 'ERR_CSI_ABORTED',
  [status.RESOURCE_EXHAUSTED]: 'ERR_CSI_RESOURCE_EXHAUSTED',
  [status.UNIMPLEMENTED]: 'ERR_CSI_UNIMPLEMENTED',
  [status.UNAVAILABLE]: 'ERR_CSI_UNAVAILABLE',
  [status.DEADLINE_EXCEEDED]: 'ERR_CSI_DEADLINE_EXCEEDED',
  [status.INTERNAL]: 'ERR_CSI_INTERNAL',
  [status.PERMISSION_DENIED]: 'ERR_CSI_PERMISSION_DENIED',
  [status.UNAUTHENTICATED]: 'ERR_CSI_UNAUTHENTICATED',
};

/** A failure with the gRPC status code the CSI spec prescribes for it. */
export class CsiError extends RdmagateError {
  readonly grpcCode: status;
  constructor(grpcCode: status, message: string) {
    super(CODE_NAME[grpcCode] ?? 'ERR_CSI', message);
    this.grpcCode = grpcCode;
  }
}

export const invalidArgument = (m: string) => new CsiError(status.INVALID_ARGUMENT, m);
export const notFound = (m: string) => new CsiError(status.NOT_FOUND, m);
export const alreadyExists = (m: string) => new CsiError(status.ALREADY_EXISTS, m);
export const outOfRange = (m: string) => new CsiError(status.OUT_OF_RANGE, m);
export const failedPrecondition = (m: string) => new CsiError(status.FAILED_PRECONDITION, m);
export const aborted = (m: string) => new CsiError(status.ABORTED, m);
export const resourceExhausted = (m: string) => new CsiError(status.RESOURCE_EXHAUSTED, m);
export const unimplemented = (m: string) => new CsiError(status.UNIMPLEMENTED, m);
export const deadlineExceeded = (m: string) => new CsiError(status.DEADLINE_EXCEEDED, m);
export const unavailable = (m: string) => new CsiError(status.UNAVAILABLE, m);
export const internal = (m: string) => new CsiError(status.INTERNAL, m);

/** rdmagate's own error codes, as CSI codes. */
const BY_CODE: Record<string, status> = {
  ERR_INVALID_ARG: status.INVALID_ARGUMENT,
  ERR_NOT_FOUND: status.NOT_FOUND,
  ERR_OUT_OF_RANGE: status.OUT_OF_RANGE,
  ERR_ALREADY_EXISTS: status.ALREADY_EXISTS,
  ERR_BUSY: status.FAILED_PRECONDITION,
  ERR_RDMA_UNAVAILABLE: status.FAILED_PRECONDITION,
};

/** errno codes from file system calls. */
const BY_ERRNO: Record<string, status> = {
  ENOSPC: status.RESOURCE_EXHAUSTED,
  EDQUOT: status.RESOURCE_EXHAUSTED,
  ENOENT: status.NOT_FOUND,
  EACCES: status.PERMISSION_DENIED,
  EPERM: status.PERMISSION_DENIED,
};

/**
 * The status for anything a handler threw. A gateway that cannot be reached is
 * UNAVAILABLE (the CO retries); an error the gateway answered is INTERNAL with its
 * message, since the request itself was checked before it was sent.
 */
export function toCsiError(e: unknown): CsiError {
  if (e instanceof CsiError) return e;
  if (e instanceof RpcTransportError) return new CsiError(status.UNAVAILABLE, `gateway: ${e.message}`);
  if (e instanceof JsonRpcError) return new CsiError(status.INTERNAL, `gateway answered ${e.rpcCode}: ${e.message}`);
  if (e instanceof RdmagateError) return new CsiError(BY_CODE[e.code] ?? status.INTERNAL, e.message);
  const errno = (e as NodeJS.ErrnoException | undefined)?.code;
  if (typeof errno === 'string' && BY_ERRNO[errno] !== undefined) return new CsiError(BY_ERRNO[errno], (e as Error).message);
  return new CsiError(status.INTERNAL, e instanceof Error ? e.message : String(e));
}
