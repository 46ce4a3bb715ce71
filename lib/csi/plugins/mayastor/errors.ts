/**
 * Failures of the Mayastor REST API, as CSI errors. The spec only says "4XX" and "5XX"
 * with a RestJsonError body, so the body's `kind` decides the gRPC code; the HTTP status
 * decides only where there is no kind, or the kind says nothing more than "Internal".
 */
import { CsiError, GrpcStatus } from '../../errors';
import type { RestErrorKind, RestJsonError } from './api';

const BY_KIND: Partial<Record<RestErrorKind, GrpcStatus>> = {
  NotFound: GrpcStatus.NOT_FOUND,
  AlreadyExists: GrpcStatus.ALREADY_EXISTS,
  InvalidArgument: GrpcStatus.INVALID_ARGUMENT,
  NotAcceptable: GrpcStatus.INVALID_ARGUMENT,
  // Our request did not parse: the CO cannot fix that by changing its own.
  Deserialize: GrpcStatus.INTERNAL,
  ResourceExhausted: GrpcStatus.RESOURCE_EXHAUSTED,
  CapacityLimitExceeded: GrpcStatus.RESOURCE_EXHAUSTED,
  OutOfRange: GrpcStatus.OUT_OF_RANGE,
  FailedPrecondition: GrpcStatus.FAILED_PRECONDITION,
  NotShared: GrpcStatus.FAILED_PRECONDITION,
  NotPublished: GrpcStatus.FAILED_PRECONDITION,
  AlreadyShared: GrpcStatus.FAILED_PRECONDITION,
  AlreadyPublished: GrpcStatus.FAILED_PRECONDITION,
  InUse: GrpcStatus.FAILED_PRECONDITION,
  // Another operation on the resource is in flight, or it is on its way out: retry later.
  Conflict: GrpcStatus.ABORTED,
  Deleting: GrpcStatus.ABORTED,
  Aborted: GrpcStatus.ABORTED,
  Timeout: GrpcStatus.DEADLINE_EXCEEDED,
  DeadlineExceeded: GrpcStatus.DEADLINE_EXCEEDED,
  Unimplemented: GrpcStatus.UNIMPLEMENTED,
  Unavailable: GrpcStatus.UNAVAILABLE,
  // The control plane could not write its store (etcd): transient.
  FailedPersist: GrpcStatus.UNAVAILABLE,
  PermissionDenied: GrpcStatus.PERMISSION_DENIED,
  Unauthorized: GrpcStatus.PERMISSION_DENIED,
  Unauthenticated: GrpcStatus.UNAUTHENTICATED,
};

/** The code for an answer without a usable kind. */
export function grpcCodeForHttpStatus(status: number): GrpcStatus {
  switch (status) {
    case 400: return GrpcStatus.INVALID_ARGUMENT;
    case 401: case 403: return GrpcStatus.PERMISSION_DENIED;
    case 404: return GrpcStatus.NOT_FOUND;
    case 408: case 504: return GrpcStatus.DEADLINE_EXCEEDED;
    // Mayastor answers 409 for Conflict, Deleting and InUse: the resource is busy.
    case 409: case 412: return GrpcStatus.FAILED_PRECONDITION;
    case 416: return GrpcStatus.OUT_OF_RANGE;
    // Mayastor's status for AlreadyExists.
    case 422: return GrpcStatus.ALREADY_EXISTS;
    case 501: return GrpcStatus.UNIMPLEMENTED;
    case 507: return GrpcStatus.RESOURCE_EXHAUSTED;
    default:
      // Any other server error: the control plane is unwell; the CO's retry may find it well.
      return status >= 500 ? GrpcStatus.UNAVAILABLE : GrpcStatus.INVALID_ARGUMENT;
  }
}

/** An answer of the Mayastor REST API that is not a success. */
export class MayastorApiError extends CsiError {
  readonly httpStatus: number;
  /** The RestJsonError's kind, when the body was one. */
  readonly kind: RestErrorKind | undefined;
  readonly details: string;
  readonly method: string;
  readonly path: string;

  constructor(method: string, path: string, httpStatus: number, body: RestJsonError | undefined, rawBody: string) {
    const kind = body?.kind;
    const code = kind !== undefined && kind !== 'Internal' && BY_KIND[kind] !== undefined ? BY_KIND[kind] : grpcCodeForHttpStatus(httpStatus);
    const details = body ? [body.details, body.message].filter((x) => x).join('; ') : rawBody.slice(0, 512);
    super(code, `mayastor ${method} ${path}: ${httpStatus}${kind ? ` ${kind}` : ''}${details ? `: ${details}` : ''}`);
    this.httpStatus = httpStatus;
    this.kind = kind;
    this.details = details;
    this.method = method;
    this.path = path;
  }
}

/** The control plane could not be reached, or did not answer in time. */
export class MayastorUnreachableError extends CsiError {
  constructor(method: string, path: string, endpoint: string, cause: string, timedOut: boolean) {
    super(timedOut ? GrpcStatus.DEADLINE_EXCEEDED : GrpcStatus.UNAVAILABLE, `mayastor ${method} ${path} at ${endpoint}: ${cause}`);
  }
}

/** Whether `e` is an API answer of one of these kinds. */
export function isKind(e: unknown, ...kinds: RestErrorKind[]): e is MayastorApiError {
  return e instanceof MayastorApiError && e.kind !== undefined && kinds.includes(e.kind);
}

/** Whether `e` says the resource is not there: the kind NotFound, or a bare 404. */
export function isNotFound(e: unknown): e is MayastorApiError {
  return e instanceof MayastorApiError && (e.kind === 'NotFound' || (e.kind === undefined && e.httpStatus === 404));
}
