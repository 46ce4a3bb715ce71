/**
 * JSON-RPC 2.0 semantics, apart from framing: request checks, batches, notifications,
 * method lookup in the table, error mapping, and saving the config after changes.
 */
import { InvalidArgumentError } from '../../errors';
import { JsonRpcError, RpcErrorCode, toJsonRpcError } from '../../jsonrpc/errors';
import type { JsonValue } from '../../jsonrpc/json';
import type { Logger } from '../../log/logger';
import type { GatewayState } from '../state';
import type { MethodTable, RpcContext } from './method';

export type JsonRpcId = string | number | null;

export type JsonRpcResponse =
  | { jsonrpc: '2.0'; id: JsonRpcId; result: JsonValue }
  | { jsonrpc: '2.0'; id: JsonRpcId; error: { code: number; message: string } };

export interface DispatcherOptions {
  state: GatewayState;
  methods: MethodTable;
  /** Saves the config; runs after each call of a method that changes it. */
  save: () => Promise<void>;
  log: Logger;
}

export function errorResponse(id: JsonRpcId, code: number, message: string): JsonRpcResponse {
  return { jsonrpc: '2.0', id, error: { code, message } };
}

export class RpcDispatcher {
  readonly #o: DispatcherOptions;
  readonly #ctx: RpcContext;

  constructor(options: DispatcherOptions) {
    this.#o = options;
    this.#ctx = {
      state: options.state,
      methodNames: () => Object.keys(options.methods),
      replay: async (name, params) => {
        const m = this.#lookup(name);
        if (!m?.mutates) throw new InvalidArgumentError(`'${name}' is not a method that a config may contain`);
        return m.invoke(params, { ...this.#ctx, replaying: true });
      },
    };
  }

  /**
   * One call, as Gateway.rpc() makes it; throws JsonRpcError. With `save: false` a change is
   * not saved (the gateway replaying its own file at start); `quiet` logs a refusal at debug
   * level only (the gateway's own retries).
   */
  async call(name: string, params?: unknown, options: { save?: boolean; quiet?: boolean } = {}): Promise<JsonValue> {
    const m = this.#lookup(name);
    if (!m) throw new JsonRpcError(RpcErrorCode.METHOD_NOT_FOUND, `Method not found: ${name}`);
    const started = process.hrtime.bigint();
    let result: JsonValue;
    try {
      result = await m.invoke(params, this.#ctx);
    } catch (e) {
      const err = toJsonRpcError(e);
      const fields = { method: name, code: err.rpcCode, error: err.message };
      if (err.rpcCode === RpcErrorCode.INTERNAL_ERROR) this.#o.log.error('rpc failed', fields);
      else this.#o.log[options.quiet ? 'debug' : 'warn']('rpc refused', fields);
      // A failed load_config may have applied part of its entries: the file follows the
      // live state whatever happened (a rewrite of unchanged state is harmless).
      if (m.mutates && options.save !== false) await this.#save(name).catch(() => undefined);
      throw err;
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    this.#o.log[m.mutates ? 'info' : 'debug']('rpc', { method: name, ms });
    if (m.mutates && options.save !== false) await this.#save(name);
    return result;
  }

  /** A parsed JSON-RPC message (request, notification or batch): the response, or undefined for none. */
  async handle(message: unknown): Promise<JsonRpcResponse | JsonRpcResponse[] | undefined> {
    if (!Array.isArray(message)) return this.#handleOne(message);
    if (message.length === 0) return errorResponse(null, RpcErrorCode.INVALID_REQUEST, 'Invalid Request: empty batch');
    const out: JsonRpcResponse[] = [];
    for (const m of message) {
      const r = await this.#handleOne(m);
      if (r) out.push(r);
    }
    return out.length > 0 ? out : undefined;
  }

  async #handleOne(request: unknown): Promise<JsonRpcResponse | undefined> {
    const invalid = (id: JsonRpcId, why: string) => errorResponse(id, RpcErrorCode.INVALID_REQUEST, `Invalid Request: ${why}`);
    if (request === null || typeof request !== 'object' || Array.isArray(request)) return invalid(null, 'a request must be an object');
    const r = request as Record<string, unknown>;
    // Only a valid request without an id is a notification; anything invalid is answered.
    const notification = !Object.hasOwn(r, 'id');
    const id = r.id ?? null;
    if (typeof id !== 'string' && typeof id !== 'number' && id !== null) return invalid(null, 'id must be a string, a number or null');
    if (r.jsonrpc !== '2.0') return invalid(id, 'jsonrpc must be "2.0"');
    if (typeof r.method !== 'string') return invalid(id, 'method must be a string');
    if (r.params !== undefined && (r.params === null || typeof r.params !== 'object')) {
      return invalid(id, 'params must be an object or an array');
    }
    try {
      const result = await this.call(r.method, r.params);
      return notification ? undefined : { jsonrpc: '2.0', id, result };
    } catch (e) {
      const err = toJsonRpcError(e);
      return notification ? undefined : errorResponse(id, err.rpcCode, err.message);
    }
  }

  #lookup(name: string) {
    return Object.hasOwn(this.#o.methods, name) ? this.#o.methods[name] : undefined;
  }

  async #save(method: string): Promise<void> {
    try {
      await this.#o.save();
    } catch (e) {
      this.#o.log.error('config not saved', { method, error: (e as Error).message });
      throw new JsonRpcError(RpcErrorCode.INTERNAL_ERROR,
        `${method} was applied, but the config could not be saved: ${(e as Error).message}`);
    }
  }
}
