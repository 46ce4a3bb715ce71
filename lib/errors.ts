/**
 * Every error rdmagate throws is an RdmagateError with a stable `code`. Native code names
 * the code; this module owns the classes.
 */
export class RdmagateError extends Error {
  readonly code: string;
  /** errno, ibv_wc_status or rdma_cm status where one applies, else 0. */
  readonly errno: number;
  constructor(code: string, message: string, errno = 0) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.errno = errno;
  }
}

/** A wrong argument: type, range, size or alignment. */
export class InvalidArgumentError extends RdmagateError {
  constructor(message: string) {
    super('ERR_INVALID_ARG', message);
  }
}

/** An offset or length outside the object it refers to. */
export class OutOfRangeError extends RdmagateError {
  constructor(message: string) {
    super('ERR_OUT_OF_RANGE', message);
  }
}

/** rdma-core (libibverbs, librdmacm) is missing: the message names what. */
export class RdmaUnavailableError extends RdmagateError {
  constructor(message: string) {
    super('ERR_RDMA_UNAVAILABLE', message);
  }
}

/** The buffer was released and may not be used again. */
export class BufferReleasedError extends RdmagateError {
  constructor(message = 'the buffer has been released') {
    super('ERR_BUFFER_RELEASED', message);
  }
}

/** The buffer has I/O in flight. */
export class BufferBusyError extends RdmagateError {
  constructor(message: string) {
    super('ERR_BUFFER_BUSY', message);
  }
}

/** Pool lifecycle errors: ERR_POOL_BUSY, ERR_POOL_DESTROYED, ERR_POOL_EXHAUSTED, ERR_NO_HUGEPAGES, ERR_NO_MEMORY. */
export class BufferPoolError extends RdmagateError {}

/** A verbs or rdma_cm call failed; `errno` holds its errno. */
export class RdmaError extends RdmagateError {}

/** A work request completed with an error status (`errno` is the ibv_wc_status). */
export class RdmaCompletionError extends RdmagateError {
  readonly status: number;
  readonly statusName: string;
  constructor(status: number, statusName: string, operation: string) {
    super('ERR_RDMA_COMPLETION', `${operation} failed: ${statusName} (ibv_wc_status ${status})`, status);
    this.status = status;
    this.statusName = statusName;
  }
}

/** Connection set-up failed or was rejected (`errno` is the rdma_cm event status). */
export class RdmaConnectError extends RdmagateError {
  readonly privateData: Uint8Array;
  constructor(message: string, status: number, privateData: Uint8Array = new Uint8Array(0)) {
    super('ERR_RDMA_CONNECT', message, status);
    this.privateData = privateData;
  }
}

/** The connection is closed, or closed while the operation was outstanding. */
export class RdmaDisconnectedError extends RdmagateError {
  constructor(message = 'the RDMA connection is closed') {
    super('ERR_RDMA_DISCONNECTED', message);
  }
}

/** The named object (subsystem, namespace, bdev, listener) does not exist: ERR_NOT_FOUND. */
export class NotFoundError extends RdmagateError {
  constructor(message: string) {
    super('ERR_NOT_FOUND', message);
  }
}

/** The object exists already (ERR_ALREADY_EXISTS), or is in use (ERR_BUSY). */
export class ConflictError extends RdmagateError {}

/** The object was closed (ERR_CLOSED). */
export class ClosedError extends RdmagateError {
  constructor(message: string) {
    super('ERR_CLOSED', message);
  }
}

/**
 * A unix socket path that is not to be used: its directory is missing (ERR_SOCKET_DIR_MISSING)
 * or another user could replace the socket in it (ERR_SOCKET_DIR_UNSAFE), or the path is not
 * a socket (ERR_NOT_A_SOCKET) or one owned by neither root nor this user (ERR_SOCKET_OWNER).
 */
export class SocketPathError extends RdmagateError {}

/** Builds the typed error for a code reported by native code. */
export function errorFromNative(code: string, message: string, errno: number): RdmagateError {
  switch (code) {
    case 'ERR_INVALID_ARG':
      return new InvalidArgumentError(message);
    case 'ERR_OUT_OF_RANGE':
      return new OutOfRangeError(message);
    case 'ERR_RDMA_UNAVAILABLE':
      return new RdmaUnavailableError(message);
    case 'ERR_BUFFER_RELEASED':
      return new BufferReleasedError(message);
    case 'ERR_BUFFER_BUSY':
      return new BufferBusyError(message);
    case 'ERR_POOL_BUSY':
    case 'ERR_POOL_DESTROYED':
    case 'ERR_POOL_EXHAUSTED':
    case 'ERR_NO_HUGEPAGES':
    case 'ERR_NO_MEMORY':
      return new BufferPoolError(code, message, errno);
    case 'ERR_NOT_FOUND':
      return new NotFoundError(message);
    case 'ERR_ALREADY_EXISTS':
    case 'ERR_BUSY':
      return new ConflictError(code, message, errno);
    case 'ERR_CLOSED':
      return new ClosedError(message);
    case 'ERR_RDMA_NOT_CONNECTED':
      return new RdmaDisconnectedError(message);
    case 'ERR_RDMA_VERBS':
    case 'ERR_RDMA_QUEUE_FULL':
    case 'ERR_ADDRESS_IN_USE':
      return new RdmaError(code, message, errno);
    default:
      return new RdmagateError(code, message, errno);
  }
}
