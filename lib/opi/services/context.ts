/** What every OPI service works with, the shape of its handlers, and what they share. */
import type { Logger } from '../../log/logger';
import type { ChangeRunner, UndoSteps } from '../changes';
import { notFound } from '../errors';
import { flag, text, type Raw } from '../fields';
import type { GatewayCalls } from '../gateway-calls';
import type { OpiKeyDir } from '../keys';
import type { BridgeState } from '../state';

export interface ServiceContext {
  readonly state: BridgeState;
  readonly gateway: GatewayCalls;
  /** Where TLS PSKs are written for the gateway's keyring; undefined: PSKs are refused (FAILED_PRECONDITION). */
  readonly keys: OpiKeyDir | undefined;
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

/**
 * A Delete RPC (AIP-135): the request's `name`, checked by `parse`, is removed as one
 * change: `remove` takes it off the gateway (refusing while it is in use), then its record
 * goes from `records`. A name not recorded is NOT_FOUND, or nothing to do with allow_missing.
 */
export function deleteResource<T>(ctx: ServiceContext, req: Raw, parse: (name: string) => unknown,
  records: (state: BridgeState) => Map<string, T>, remove: (record: T, undo: UndoSteps) => Promise<void>): Promise<object> {
  const name = text(req, 'name', 'name');
  parse(name);
  const allowMissing = flag(req, 'allow_missing', 'allow_missing');
  return ctx.changes.run(async (undo) => {
    // Looked up inside the run: a change that failed before it left the state in new maps (restore).
    const record = records(ctx.state).get(name);
    if (!record) {
      if (allowMissing) return {};
      throw notFound(`${name} does not exist`);
    }
    await remove(record, undo);
    records(ctx.state).delete(name);
    return {};
  });
}
