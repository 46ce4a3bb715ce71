export { DEFAULT_CONFIG_PATH, Gateway, type GatewayOptions } from './gateway';
export { DEFAULT_RPC_DEADLINES, type RpcDeadlines } from './rpc/deadlines';
// The logger and the JSON-RPC client live in lib/log and lib/jsonrpc, which clients load without the addon.
export { stderrSink, type LogEntry, type LogLevel, type LogSink } from '../log/logger';
export { RpcClient, RpcTransportError, rpcCall, type RpcClientOptions } from '../jsonrpc/client';
export { JsonRpcError, RpcErrorCode } from '../jsonrpc/errors';
export type { JsonObject, JsonValue } from '../jsonrpc/json';
export { DEFAULT_SOCKET_DIR, DEFAULT_SOCKET_PATH } from '../jsonrpc/socket-path';
export type { SpdkConfig } from './rpc/methods/config';
export type { ConfigEntry } from './config-entry';
export { renderMetrics, serveMetrics } from './metrics';
