/**
 * JSON-RPC over a unix socket as the gateway speaks it: the client, the error codes, the
 * JSON types and the default socket (json-stream.ts, the framing, the gateway's server
 * shares too). Nothing here loads the addon, so that a client (the CSI driver, the OPI
 * bridge, `rdmagate rpc`) runs where the addon is not built.
 * @module
 */
export { RpcClient, RpcTransportError, rpcCall, type RpcClientOptions } from './client';
export { JsonRpcError, RpcErrorCode } from './errors';
export type { JsonObject, JsonValue } from './json';
export { DEFAULT_SOCKET_DIR, DEFAULT_SOCKET_PATH } from './socket-path';
export type { RpcTlsCredentials } from './endpoint';
