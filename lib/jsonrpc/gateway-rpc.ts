/**
 * What a client needs of the gateway's JSON-RPC (the CSI controller, the OPI bridge, the
 * keyring client): SPDK's method names and params. An RpcClient is one; socketGatewayRpc
 * (csi/export.ts) one with a connection per call; tests pass fakes.
 */
import type { JsonObject, JsonValue } from './json';

export interface GatewayRpc {
  call(method: string, params?: JsonObject): Promise<JsonValue>;
}
