/**
 * Every error rdmagate throws is an RdmagateError with a stable `code`. Native code names
 * the code; this module owns the classes, and the list of codes.
 * @module
 */

/**
 * A gRPC status by name, as grpc-js's `status` enum names them: the CSI and OPI errors'
 * codes end with one. Spelled out here so that this module, which every layer loads
 * (lib/native too), imports nothing.
 */
export type GrpcStatusName =
  | 'OK' | 'CANCELLED' | 'UNKNOWN' | 'INVALID_ARGUMENT' | 'DEADLINE_EXCEEDED' | 'NOT_FOUND' | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED' | 'RESOURCE_EXHAUSTED' | 'FAILED_PRECONDITION' | 'ABORTED' | 'OUT_OF_RANGE' | 'UNIMPLEMENTED'
  | 'INTERNAL' | 'UNAVAILABLE' | 'DATA_LOSS' | 'UNAUTHENTICATED';

/**
 * Every `code` an {@link RdmagateError} carries, the native addon's included: one list, so
 * that a caller can switch over codes and a misspelt code does not compile. A unit test
 * (test/unit/error-codes.test.ts) keeps it whole: each code that lib/ or native/ writes is
 * here, and each code here is written somewhere.
 */
export type RdmagateErrorCode =
  // --- Any layer ---
  /** A wrong argument: type, range, size or alignment. */
  | 'ERR_INVALID_ARG'
  /** An offset or length outside the object it refers to. */
  | 'ERR_OUT_OF_RANGE'
  /** The named object (subsystem, namespace, bdev, listener, controller, file) does not exist. */
  | 'ERR_NOT_FOUND'
  /** The object exists already. */
  | 'ERR_ALREADY_EXISTS'
  /** The object is in use: a bdev that a namespace uses, a controller with a perf run going. */
  | 'ERR_BUSY'
  /** The object was closed. */
  | 'ERR_CLOSED'
  /** `start()` of something started already (the gateway, the OPI bridge). */
  | 'ERR_ALREADY_STARTED'
  /** The object cannot do that at all, e.g. a size given to a bdev other than a null bdev. */
  | 'ERR_NOT_SUPPORTED'
  /** A system call failed; `errno` is its errno. */
  | 'ERR_SYSTEM'
  /** Something rdmagate expects of itself did not hold: a bug, or an addon built from other sources than lib/. */
  | 'ERR_INTERNAL'
  /** The native addon's shared layouts and values differ from lib/'s: a stale build, to rebuild (`npm run build:native`). */
  | 'ERR_ADDON_MISMATCH'
  /** The address, port or socket is served already. */
  | 'ERR_ADDRESS_IN_USE'
  /** The system refused, e.g. a port below 1024 without root. */
  | 'ERR_PERMISSION_DENIED'
  /** A path that is neither a block device nor a file where one of them is needed. */
  | 'ERR_DEVICE'
  /**
   * A DH-HMAC-CHAP secret that is not one: not `DHHC-1:0X:<base64>:` as `nvme gen-dhchap-key`
   * writes it, a bad length or CRC. The message never holds the secret.
   */
  | 'ERR_INVALID_KEY'
  // --- Buffers and memory ---
  /** The buffer was released and may not be used again. */
  | 'ERR_BUFFER_RELEASED'
  /** The buffer has I/O in flight. */
  | 'ERR_BUFFER_BUSY'
  /** The pool cannot be destroyed while buffers are out. */
  | 'ERR_POOL_BUSY'
  /** The pool was destroyed. */
  | 'ERR_POOL_DESTROYED'
  /** The pool is at its capacity. */
  | 'ERR_POOL_EXHAUSTED'
  /** No free hugepages for a pool that asked for them. */
  | 'ERR_NO_HUGEPAGES'
  /** Memory could not be had (mmap, malloc, or a fixed set of buffers used up). */
  | 'ERR_NO_MEMORY'
  // --- RDMA ---
  /** rdma-core (libibverbs, librdmacm) is missing: the message names what. */
  | 'ERR_RDMA_UNAVAILABLE'
  /** A verbs or rdma_cm call failed; `errno` is its errno. */
  | 'ERR_RDMA_VERBS'
  /** The send or receive queue is full. */
  | 'ERR_RDMA_QUEUE_FULL'
  /** A work request completed with an error status; `errno` is the ibv_wc_status. */
  | 'ERR_RDMA_COMPLETION'
  /** Connection set-up failed or was rejected; `errno` is the rdma_cm event status. */
  | 'ERR_RDMA_CONNECT'
  /** The connection is closed, or closed while the operation was outstanding. */
  | 'ERR_RDMA_DISCONNECTED'
  /** Native code's word for a connection that is not open: thrown as ERR_RDMA_DISCONNECTED. */
  | 'ERR_RDMA_NOT_CONNECTED'
  // --- NVMe-oF host ---
  /** A command completed with an error status (NvmeError: `sct`, `sc`, `dnr`). */
  | 'ERR_NVME_STATUS'
  /**
   * Connecting failed: the socket (`errno`), or a step of the connect sequence; also a
   * controller that requires DH-HMAC-CHAP authentication from a host given no key.
   */
  | 'ERR_NVME_CONNECT'
  /**
   * DH-HMAC-CHAP authentication failed: the controller refused the host's response (a wrong
   * dhchapKey), or the controller's own response did not verify against dhchapCtrlrKey.
   */
  | 'ERR_NVME_AUTH'
  /** A command did not complete in time, and Abort did not end it. */
  | 'ERR_NVME_TIMEOUT'
  /** The controller is closed, gone, or was lost with the command outstanding. */
  | 'ERR_NVME_DISCONNECTED'
  /** The NVMe/TCP connection broke the protocol, or the controller terminated it. */
  | 'ERR_NVME_TRANSPORT'
  /** The I/O queue has no free slot for the command. */
  | 'ERR_NVME_QUEUE_FULL'
  /** The transport is not implemented yet. */
  | 'ERR_TRANSPORT_UNSUPPORTED'
  /** Multipath's paths reach different subsystems, or namespaces that are not one. */
  | 'ERR_MULTIPATH_MISMATCH'
  // --- Unix sockets (socket-trust) ---
  /** The socket's directory does not exist (or cannot be made). */
  | 'ERR_SOCKET_DIR_MISSING'
  /** Another user could replace the socket in its directory. */
  | 'ERR_SOCKET_DIR_UNSAFE'
  /** The path is not a socket. */
  | 'ERR_NOT_A_SOCKET'
  /** The socket is owned by neither root nor this user. */
  | 'ERR_SOCKET_OWNER'
  // --- The gateway and its JSON-RPC ---
  /** An error answered over JSON-RPC (JsonRpcError: `rpcCode` is the wire code). */
  | 'ERR_JSONRPC'
  /** No gateway answers on the socket. */
  | 'ERR_RPC_CONNECT'
  /** The RPC connection failed or closed, or the client was closed. */
  | 'ERR_RPC_CLOSED'
  /** No response within the client's timeout. */
  | 'ERR_RPC_TIMEOUT'
  /** The gateway sent something that is not JSON-RPC. */
  | 'ERR_RPC_PROTOCOL'
  /** The gateway's config file cannot be read. */
  | 'ERR_CONFIG_READ'
  /** The gateway's config file cannot be saved. */
  | 'ERR_CONFIG_WRITE'
  /** The metrics endpoint cannot listen, for a reason other than ERR_ADDRESS_IN_USE or ERR_PERMISSION_DENIED. */
  | 'ERR_METRICS_LISTEN'
  // --- perf ---
  /** The native perf engine failed (its loopback round trip included). */
  | 'ERR_PERF'
  /** --verify found blocks that did not read back as written. */
  | 'ERR_PERF_VERIFY'
  /** The native engine could not keep its commands in the queue. */
  | 'ERR_PERF_QUEUE_FULL'
  // --- CSI ---
  /** A CsiError with the gRPC status it names, which the CO acts on. */
  | `ERR_CSI_${GrpcStatusName}`
  /** A CsiError with a status that has no code of its own. */
  | 'ERR_CSI'
  /** A CSI call of CsiClient failed (`grpcCode` says how). */
  | 'ERR_CSI_CALL'
  /** A --role list that names no role, an unknown one, one twice, or two node roles. */
  | 'ERR_CSI_ROLE'
  /** A CSI plugin's state file is not valid JSON. */
  | 'ERR_CORRUPT_STATE'
  // --- OPI ---
  /** An OpiError with the gRPC status it names. */
  | `ERR_OPI_${GrpcStatusName}`
  /** A call of an OPI bridge through opiClient failed (`grpcCode` says how). */
  | 'ERR_OPI_CALL'
  /** The OPI bridge's state file is not usable. */
  | 'ERR_OPI_STATE'
  // --- DPU ---
  /** A --rdma-device that does not exist, has no active port, or cannot be looked at. */
  | 'ERR_DPU_RDMA_DEVICE'
  /** The host-facing NVMe function cannot be made as asked, or was made otherwise before. */
  | 'ERR_DPU_HOST_FUNCTION';

/** What rdmagate throws: `code` says which failure it is, whatever the class. */
export class RdmagateError extends Error {
  readonly code: RdmagateErrorCode;
  /** errno, ibv_wc_status or rdma_cm status where one applies, else 0. */
  readonly errno: number;
  constructor(code: RdmagateErrorCode, message: string, errno = 0) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.errno = errno;
  }
}

/** A wrong argument: type, range, size or alignment. */
export class InvalidArgumentError extends RdmagateError {
  declare readonly code: 'ERR_INVALID_ARG';
  constructor(message: string) {
    super('ERR_INVALID_ARG', message);
  }
}

/** An offset or length outside the object it refers to. */
export class OutOfRangeError extends RdmagateError {
  declare readonly code: 'ERR_OUT_OF_RANGE';
  constructor(message: string) {
    super('ERR_OUT_OF_RANGE', message);
  }
}

/** rdma-core (libibverbs, librdmacm) is missing: the message names what. */
export class RdmaUnavailableError extends RdmagateError {
  declare readonly code: 'ERR_RDMA_UNAVAILABLE';
  constructor(message: string) {
    super('ERR_RDMA_UNAVAILABLE', message);
  }
}

/** The buffer was released and may not be used again. */
export class BufferReleasedError extends RdmagateError {
  declare readonly code: 'ERR_BUFFER_RELEASED';
  constructor(message = 'the buffer has been released') {
    super('ERR_BUFFER_RELEASED', message);
  }
}

/** The buffer has I/O in flight. */
export class BufferBusyError extends RdmagateError {
  declare readonly code: 'ERR_BUFFER_BUSY';
  constructor(message: string) {
    super('ERR_BUFFER_BUSY', message);
  }
}

/**
 * Pool errors: ERR_POOL_BUSY, ERR_POOL_DESTROYED, ERR_POOL_EXHAUSTED, ERR_NO_HUGEPAGES, ERR_NO_MEMORY;
 * ERR_INVALID_ARG for a chunk size that is not a multiple of 512.
 */
export class BufferPoolError extends RdmagateError {
  declare readonly code: 'ERR_POOL_BUSY' | 'ERR_POOL_DESTROYED' | 'ERR_POOL_EXHAUSTED' | 'ERR_NO_HUGEPAGES' | 'ERR_NO_MEMORY' | 'ERR_INVALID_ARG';
  constructor(code: BufferPoolError['code'], message: string, errno = 0) {
    super(code, message, errno);
  }
}

/** A verbs or rdma_cm call failed; `errno` holds its errno. */
export class RdmaError extends RdmagateError {
  declare readonly code: 'ERR_RDMA_VERBS' | 'ERR_RDMA_QUEUE_FULL' | 'ERR_ADDRESS_IN_USE';
  constructor(code: RdmaError['code'], message: string, errno = 0) {
    super(code, message, errno);
  }
}

/** A work request completed with an error status (`errno` is the ibv_wc_status). */
export class RdmaCompletionError extends RdmagateError {
  declare readonly code: 'ERR_RDMA_COMPLETION';
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
  declare readonly code: 'ERR_RDMA_CONNECT';
  readonly privateData: Uint8Array;
  constructor(message: string, status: number, privateData: Uint8Array = new Uint8Array(0)) {
    super('ERR_RDMA_CONNECT', message, status);
    this.privateData = privateData;
  }
}

/** The connection is closed, or closed while the operation was outstanding. */
export class RdmaDisconnectedError extends RdmagateError {
  declare readonly code: 'ERR_RDMA_DISCONNECTED';
  constructor(message = 'the RDMA connection is closed') {
    super('ERR_RDMA_DISCONNECTED', message);
  }
}

/** The named object (subsystem, namespace, bdev, listener) does not exist: ERR_NOT_FOUND. */
export class NotFoundError extends RdmagateError {
  declare readonly code: 'ERR_NOT_FOUND';
  constructor(message: string) {
    super('ERR_NOT_FOUND', message);
  }
}

/** The object exists already (ERR_ALREADY_EXISTS), or is in use (ERR_BUSY). */
export class ConflictError extends RdmagateError {
  declare readonly code: 'ERR_ALREADY_EXISTS' | 'ERR_BUSY';
  constructor(code: ConflictError['code'], message: string, errno = 0) {
    super(code, message, errno);
  }
}

/** The object was closed (ERR_CLOSED). */
export class ClosedError extends RdmagateError {
  declare readonly code: 'ERR_CLOSED';
  constructor(message: string) {
    super('ERR_CLOSED', message);
  }
}

/**
 * A unix socket path that is not to be used: its directory is missing (ERR_SOCKET_DIR_MISSING)
 * or another user could replace the socket in it (ERR_SOCKET_DIR_UNSAFE), or the path is not
 * a socket (ERR_NOT_A_SOCKET) or one owned by neither root nor this user (ERR_SOCKET_OWNER).
 */
export class SocketPathError extends RdmagateError {
  declare readonly code: 'ERR_SOCKET_DIR_MISSING' | 'ERR_SOCKET_DIR_UNSAFE' | 'ERR_NOT_A_SOCKET' | 'ERR_SOCKET_OWNER';
  constructor(code: SocketPathError['code'], message: string, errno = 0) {
    super(code, message, errno);
  }
}

/** Builds the typed error for a code reported by native code (the addon's error factory). */
export function errorFromNative(code: RdmagateErrorCode, message: string, errno: number): RdmagateError {
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
