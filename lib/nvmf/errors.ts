/**
 * Errors of the NVMe-oF host. Each has a stable `code`; NvmeError also carries the NVMe
 * completion status (sct, sc, dnr) and its name.
 */
import { RdmagateError } from '../errors';

/** Decoded NVMe status: the CQE status field without its phase bit. */
export interface NvmeStatus {
  /** Status Code Type: 0 generic, 1 command specific, 2 media, 3 path, 7 vendor. */
  sct: number;
  /** Status Code. */
  sc: number;
  /** Do Not Retry: the same command would fail again. */
  dnr: boolean;
  /** More: the error log has more about this error. */
  more: boolean;
  /** Command Retry Delay index (0: retry at once). */
  crd: number;
  /** Readable name of sct/sc, e.g. "LBA out of range". */
  statusName: string;
}

/** A command completed with an error status (ERR_NVME_STATUS). */
export class NvmeError extends RdmagateError implements NvmeStatus {
  declare readonly code: 'ERR_NVME_STATUS';
  readonly sct: number;
  readonly sc: number;
  readonly dnr: boolean;
  readonly more: boolean;
  readonly crd: number;
  readonly statusName: string;
  constructor(operation: string, status: NvmeStatus) {
    super('ERR_NVME_STATUS', `${operation} failed: ${status.statusName} (sct ${status.sct}, sc 0x${status.sc.toString(16).padStart(2, '0')}${status.dnr ? ', dnr' : ''})`);
    this.sct = status.sct;
    this.sc = status.sc;
    this.dnr = status.dnr;
    this.more = status.more;
    this.crd = status.crd;
    this.statusName = status.statusName;
  }
}

/**
 * Connecting failed (ERR_NVME_CONNECT): the socket (`errno`), or a step of the connect
 * sequence; when the controller rejected a command, `status` says how.
 */
export class NvmeConnectError extends RdmagateError {
  declare readonly code: 'ERR_NVME_CONNECT';
  readonly status: NvmeStatus | undefined;
  constructor(message: string, errno = 0, status?: NvmeStatus) {
    super('ERR_NVME_CONNECT', message, errno);
    this.status = status;
  }
}

/**
 * DH-HMAC-CHAP authentication failed (ERR_NVME_AUTH): the controller refused the host's
 * response (a wrong dhchapKey), or the controller's response did not verify against
 * dhchapCtrlrKey. `status` is the failing command's status where the controller sent one.
 */
export class NvmeAuthError extends RdmagateError {
  declare readonly code: 'ERR_NVME_AUTH';
  readonly status: NvmeStatus | undefined;
  constructor(message: string, errno = 0, status?: NvmeStatus) {
    super('ERR_NVME_AUTH', message, errno);
    this.status = status;
  }
}

/** A command did not complete in time, and Abort did not end it (ERR_NVME_TIMEOUT). */
export class NvmeTimeoutError extends RdmagateError {
  declare readonly code: 'ERR_NVME_TIMEOUT';
  constructor(message: string, errno = 0) {
    super('ERR_NVME_TIMEOUT', message, errno);
  }
}

/** The controller is closed, gone, or was lost with the command outstanding (ERR_NVME_DISCONNECTED). */
export class NvmeDisconnectedError extends RdmagateError {
  declare readonly code: 'ERR_NVME_DISCONNECTED';
  constructor(message = 'the NVMe controller is disconnected', errno = 0) {
    super('ERR_NVME_DISCONNECTED', message, errno);
  }
}

/** The NVMe/TCP connection broke the protocol, or the controller terminated it (ERR_NVME_TRANSPORT). */
export class NvmeTransportError extends RdmagateError {
  declare readonly code: 'ERR_NVME_TRANSPORT';
  constructor(message: string, errno = 0) {
    super('ERR_NVME_TRANSPORT', message, errno);
  }
}

/** The transport is not implemented yet (ERR_TRANSPORT_UNSUPPORTED). */
export class TransportUnsupportedError extends RdmagateError {
  declare readonly code: 'ERR_TRANSPORT_UNSUPPORTED';
  constructor(message: string) {
    super('ERR_TRANSPORT_UNSUPPORTED', message);
  }
}
