/**
 * Assertions that a CSI call fails with a given gRPC status code: in process (the
 * services throw CsiError), over gRPC (the client throws CsiClientError), or either; and
 * the same for a call to an OPI bridge (OpiClientError).
 */
import assert from 'node:assert/strict';
import { CsiClientError, CsiError, GrpcStatus } from '../../lib/csi';
import { OpiClientError } from '../../lib/opi';

type CodedErrorClass<E> = abstract new (...args: never[]) => E;

/** `p` rejects with a CsiError (thrown in process) of `code`, its message matching `message`; returns the error. */
export function rejectsInProcess(p: Promise<unknown>, code: GrpcStatus, message?: RegExp): Promise<CsiError> {
  return rejectsAs([CsiError], p, code, message);
}

/** `p` rejects with a CsiClientError (the answer of a gRPC call) of `code`, its message matching `message`. */
export function rejectsOverGrpc(p: Promise<unknown>, code: GrpcStatus, message?: RegExp): Promise<CsiClientError> {
  return rejectsAs([CsiClientError], p, code, message);
}

/** `p` rejects with either, for tests that call a service both ways. */
export function rejectsWithCode(p: Promise<unknown>, code: GrpcStatus, message?: RegExp): Promise<CsiError | CsiClientError> {
  return rejectsAs<CsiError | CsiClientError>([CsiError, CsiClientError], p, code, message);
}

/** `p` rejects with an OpiClientError (the answer of an OPI bridge) of `code`, its message matching `message`. */
export function rejectsOverOpi(p: Promise<unknown>, code: GrpcStatus, message?: RegExp): Promise<OpiClientError> {
  return rejectsAs([OpiClientError], p, code, message);
}

async function rejectsAs<E extends Error & { grpcCode: GrpcStatus }>(
  classes: CodedErrorClass<E>[], p: Promise<unknown>, code: GrpcStatus, message?: RegExp,
): Promise<E> {
  try {
    await p;
  } catch (e) {
    if (!isOneOf(classes, e)) assert.fail(`expected a ${classes.map((c) => c.name).join(' or ')}, got ${String(e)}`);
    assert.equal(GrpcStatus[e.grpcCode], GrpcStatus[code], e.message);
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected ${GrpcStatus[code]}`);
}

function isOneOf<E>(classes: CodedErrorClass<E>[], e: unknown): e is E {
  return classes.some((c) => e instanceof c);
}
