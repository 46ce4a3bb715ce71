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

/**
 * CSI conformance, issue 20 item 12: ControllerPublishVolume checks its required fields
 * (INVALID_ARGUMENT) before it looks anything up, for a volume that exists (`id`) and one
 * that does not (`unknown`); with every field there, an unknown node or volume is NOT_FOUND.
 * `publish(volume, node?)` publishes `mount` to a valid node unless given another.
 */
export async function publishChecksFieldsFirst(
  ctl: (method: string, req: object) => Promise<unknown>,
  publish: (volumeId: string, nodeId?: string) => Promise<unknown>,
  mount: { access_mode: object },
  id: string,
  unknown: string,
): Promise<void> {
  // csi-sanity's "no volume capability" call: its node id is no NQN, its volume may not exist.
  for (const volume_id of [id, unknown]) {
    await rejectsOverGrpc(ctl('ControllerPublishVolume', { volume_id, node_id: 'fakeNodeID' }), GrpcStatus.INVALID_ARGUMENT,
      /volume_capability is required/);
    await rejectsOverGrpc(ctl('ControllerPublishVolume', { volume_id, node_id: 'fakeNodeID', volume_capability: { access_mode: mount.access_mode } }),
      GrpcStatus.INVALID_ARGUMENT, /access_type is missing/);
    await rejectsOverGrpc(ctl('ControllerPublishVolume', { volume_id, volume_capability: mount }), GrpcStatus.INVALID_ARGUMENT, /node_id/);
  }
  // Every field there: then an unknown node or volume is NOT_FOUND.
  await rejectsOverGrpc(publish(id, 'fakeNodeID'), GrpcStatus.NOT_FOUND, /not a host NQN/);
  await rejectsOverGrpc(publish(unknown, 'fakeNodeID'), GrpcStatus.NOT_FOUND);
  await rejectsOverGrpc(publish(unknown), GrpcStatus.NOT_FOUND, /does not exist/);
}
