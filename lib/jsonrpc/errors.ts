/**
 * JSON-RPC error codes: the standard ones, plus negative errno values for domain errors,
 * as SPDK's JSON-RPC server answers them (e.g. -17 for a duplicate, -19 for a missing bdev).
 */
import { RdmagateError } from '../errors';

export const RpcErrorCode = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  EPERM: -1,
  EIO: -5,
  EACCES: -13,
  EBUSY: -16,
  EEXIST: -17,
  ENODEV: -19,
  EOPNOTSUPP: -95,
  EADDRINUSE: -98,
} as const;

/** An error answered over JSON-RPC, or received by the client: `rpcCode` is the wire code. */
export class JsonRpcError extends RdmagateError {
  declare readonly code: 'ERR_JSONRPC';
  readonly rpcCode: number;
  constructor(rpcCode: number, message: string) {
    super('ERR_JSONRPC', message);
    this.rpcCode = rpcCode;
  }
}

/** Whether `e` is a JSON-RPC error response with `code`. */
export function isRpcError(e: unknown, code: number): e is JsonRpcError {
  return e instanceof JsonRpcError && e.rpcCode === code;
}

const BY_CODE: Record<string, number> = {
  ERR_INVALID_ARG: RpcErrorCode.INVALID_PARAMS,
  ERR_NOT_FOUND: RpcErrorCode.ENODEV,
  ERR_ALREADY_EXISTS: RpcErrorCode.EEXIST,
  ERR_BUSY: RpcErrorCode.EBUSY,
  ERR_ADDRESS_IN_USE: RpcErrorCode.EADDRINUSE,
  ERR_RDMA_UNAVAILABLE: RpcErrorCode.EOPNOTSUPP,
  ERR_NOT_SUPPORTED: RpcErrorCode.EOPNOTSUPP,
  // A key file readable by others: SPDK's keyring_file answers -EPERM.
  ERR_PERMISSION_DENIED: RpcErrorCode.EPERM,
  // A key file that holds no DH-HMAC-CHAP secret: a bad param, as SPDK answers it.
  ERR_INVALID_KEY: RpcErrorCode.INVALID_PARAMS,
  // A backend that cannot be reached or refuses the connect: SPDK's bdev_nvme answers -5.
  ERR_NVME_CONNECT: RpcErrorCode.EIO,
  // A backend that refused our DH-HMAC-CHAP response, or whose own did not verify.
  ERR_NVME_AUTH: RpcErrorCode.EACCES,
};

/** The JSON-RPC error for anything a handler throws; unknown errors are internal errors. */
export function toJsonRpcError(e: unknown): JsonRpcError {
  if (e instanceof JsonRpcError) return e;
  if (e instanceof RdmagateError) {
    return new JsonRpcError(BY_CODE[e.code] ?? RpcErrorCode.INTERNAL_ERROR, e.message);
  }
  return new JsonRpcError(RpcErrorCode.INTERNAL_ERROR, `internal error: ${e instanceof Error ? e.message : String(e)}`);
}
