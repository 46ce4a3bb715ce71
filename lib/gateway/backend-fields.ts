/** What a backend's log lines say of it: its name, its address (from its attach params) and, where known, why. */
import type { JsonObject, JsonValue } from '../jsonrpc/json';

export function backendFields(name: string, params: JsonObject, reason?: string): Record<string, JsonValue> {
  return {
    backend: name,
    trtype: String(params.trtype).toUpperCase(),
    traddr: String(params.traddr),
    trsvcid: String(params.trsvcid ?? '4420'),
    subnqn: String(params.subnqn),
    ...(reason ? { reason } : {}),
  };
}
