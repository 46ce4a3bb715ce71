/**
 * An RPC method is one table entry: its params shape, whether it changes the config, and
 * its handler. Adding a method is adding an entry (see methods/index.ts).
 */
import type { JsonValue } from '../../jsonrpc/json';
import type { GatewayState } from '../state';
import { params as paramsCheck, type Parsed, type Shape } from './params';

export interface RpcContext {
  readonly state: GatewayState;
  /** Every registered method name, in registration order. */
  methodNames(): string[];
  /** Runs one entry of a saved config: validated like any call, saved once by the caller. */
  replay(method: string, params: unknown): Promise<JsonValue>;
  /** True while the call is an entry of a config being replayed (load_config). */
  readonly replaying?: boolean;
}

export interface RpcMethod {
  /** Its params, as checked: the method's schema (see params.ts's booleanParams). */
  readonly params: Shape;
  /** True when a successful call changes the config: it is saved after, and load_config may replay it. */
  readonly mutates: boolean;
  /** Checks the raw params and runs the handler; throws RdmagateError subclasses on failure. */
  invoke(params: unknown, ctx: RpcContext): JsonValue | Promise<JsonValue>;
}

export type MethodTable = Record<string, RpcMethod>;

/**
 * `method(shape, { mutates }).handle(fn)`. Two calls, not one: with the handler in the same
 * call, TypeScript infers the shape's checks before their own arguments (Check<unknown>).
 */
export function method<S extends Shape>(shape: S, options: { mutates: boolean }): {
  handle(handler: (params: Parsed<S>, ctx: RpcContext) => JsonValue | Promise<JsonValue>): RpcMethod;
} {
  const check = paramsCheck(shape);
  return {
    handle: (handler) => ({ params: shape, mutates: options.mutates, invoke: (raw, ctx) => handler(check(raw, ''), ctx) }),
  };
}
