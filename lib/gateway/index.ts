export { DEFAULT_CONFIG_PATH, DEFAULT_SOCKET_DIR, DEFAULT_SOCKET_PATH, Gateway, type GatewayOptions } from './gateway';
export { DEFAULT_RPC_DEADLINES, type RpcDeadlines } from './rpc/deadlines';
export { stderrSink, type LogEntry, type LogLevel, type LogSink } from './logger';
export { RpcClient, RpcTransportError, rpcCall, type RpcClientOptions } from './rpc/client';
export { JsonRpcError, RpcErrorCode } from './rpc/errors';
export type { JsonObject, JsonValue } from './rpc/json';
export type { SpdkConfig } from './rpc/methods/config';
export type { ConfigEntry } from './state';
export { renderMetrics, serveMetrics } from './metrics';
