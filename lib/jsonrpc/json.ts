/** JSON values as they travel over JSON-RPC. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** `o` without its undefined fields (parsed optional params), as a JSON object. */
export function withoutUndefined(o: object): JsonObject {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as JsonObject;
}
