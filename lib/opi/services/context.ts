/** What every OPI service works with, and the shape of its handlers. */
import type { Logger } from '../../gateway/logger';
import type { ChangeRunner } from '../changes';
import type { Raw } from '../fields';
import type { GatewayCalls } from '../gateway-calls';
import type { BridgeState } from '../state';

export interface ServiceContext {
  readonly state: BridgeState;
  readonly gateway: GatewayCalls;
  /** Every change goes through it: one at a time, saved, undone on failure. */
  readonly changes: ChangeRunner;
  readonly log: Logger;
}

/** One RPC: the decoded request in, the response message out; throws for a status. */
export type OpiHandler = (request: Raw) => Promise<object>;
/** A service's RPCs by their proto names. */
export type OpiHandlers = Record<string, OpiHandler>;

/** proto3 equality of two specs (plain JSON data). */
export function sameSpec(a: object, b: object): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
