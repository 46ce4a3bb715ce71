/**
 * One RPC call of a saved config: save_config writes these, load_config replays them. A
 * file of its own so that PendingBackends, which GatewayState holds, need not import the
 * state to name it.
 */
import type { JsonObject } from '../jsonrpc/json';

// A type, not an interface, so that it is a JsonObject too.
export type ConfigEntry = {
  method: string;
  params: JsonObject;
};
