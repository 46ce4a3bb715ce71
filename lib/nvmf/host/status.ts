/**
 * Status words from native code: bits 14:0 are the CQE status field (SC, SCT, CRD, More,
 * DNR); values from 0x10000 up are host-side outcomes with no CQE (native/host/failure.h,
 * lib/native/layout.ts's HOST_STATUS).
 */
import type { RdmagateError } from '../../errors';
import {
  NvmeAuthError, NvmeConnectError, NvmeDisconnectedError, NvmeError, NvmeTimeoutError, NvmeTransportError, type NvmeStatus,
} from '../errors';
import { native, type NativeFailure } from '../../native';
import { HOST_STATUS } from '../../native/layout';

/** SC and SCT zero; CRD, More and DNR do not make a success an error. */
export function isSuccess(word: number): boolean {
  return (word & ~0x7800) === 0;
}

export function decodeStatus(word: number): NvmeStatus {
  const sc = word & 0xff;
  const sct = (word >> 8) & 0x7;
  return {
    sct, sc,
    crd: (word >> 11) & 0x3,
    more: (word & 0x2000) !== 0,
    dnr: (word & 0x4000) !== 0,
    statusName: native.nvmeStatusName(sct, sc),
  };
}

/** The error a command with status `word` rejects with. */
export function errorFromStatus(word: number, operation: string): RdmagateError {
  switch (word) {
    case HOST_STATUS.timeout:
      return new NvmeTimeoutError(`${operation} timed out, and Abort did not end it`);
    case HOST_STATUS.disconnected:
      return new NvmeDisconnectedError(`${operation} failed: the controller is disconnected`);
    case HOST_STATUS.transport:
      return new NvmeTransportError(`${operation} failed: the connection broke the protocol, or could not carry the command`);
    case HOST_STATUS.auth:
      return new NvmeAuthError(`${operation} failed: DH-HMAC-CHAP authentication failed`);
  }
  return new NvmeError(operation, decodeStatus(word));
}

/** The error for a failed connect, a lost association or a failed discovery. */
export function errorFromFailure(f: NativeFailure): RdmagateError {
  switch (f.code) {
    case 'ERR_NVME_CONNECT':
      return new NvmeConnectError(f.message, f.errno, f.status ? decodeStatus(f.status) : undefined);
    case 'ERR_NVME_AUTH':
      return new NvmeAuthError(f.message, f.errno, f.status ? decodeStatus(f.status) : undefined);
    case 'ERR_NVME_TIMEOUT':
      return new NvmeTimeoutError(f.message, f.errno);
    case 'ERR_NVME_TRANSPORT':
      return new NvmeTransportError(f.message, f.errno);
    case 'ERR_NVME_STATUS':
      return new NvmeError(f.message.split(':')[0], decodeStatus(f.status));
    default:
      return new NvmeDisconnectedError(f.message, f.errno);
  }
}
