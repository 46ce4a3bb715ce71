/**
 * NVMe/TCP TLS 1.3 with a pre-shared key, as the host's connect options, the target's hosts
 * and listeners name it. The PSK's form is native code's to check (ERR_INVALID_KEY); here
 * only what must hold before native code is called, with messages that never repeat a key.
 */
import { InvalidArgumentError } from '../errors';
import type { NativeTlsPsk } from '../native';
import { decodeKeyText, encodeKeyText } from './key-text';

/** What a host connects with, or a target's host is known by, over TLS. */
export interface TlsPsk {
  /**
   * The configured PSK in the interchange form `NVMeTLSkey-1:0X:<base64>:` that
   * `nvme gen-tls-key` writes (X: 0 the key as it is, 1 SHA-256, 2 SHA-384 transform).
   * Both sides derive the TLS PSK for one host and one subsystem from it, as Linux does.
   */
  psk?: string;
}

/** PSK identity versions (NVMe/TCP 3.6.1.3): 0 `NVMe0R0X <hostnqn> <subnqn>`; 1 adds a digest of the key. */
export type TlsIdentityVersion = 0 | 1;

/** The PSK of `o` as native code takes it: absent when not given. */
export function tlsPsk(o: TlsPsk, prefix = ''): NativeTlsPsk {
  if (o.psk === undefined) return {};
  if (typeof o.psk !== 'string' || o.psk.length === 0) {
    // The value itself stays out of the message: it may be a key with a typo.
    throw new InvalidArgumentError(`${prefix}psk must be a non-empty string (an NVMeTLSkey-1 PSK), got ${typeof o.psk === 'string' ? 'an empty string' : typeof o.psk}`);
  }
  return { psk: o.psk };
}

/** The interchange form's prefix: a key text that starts so is meant as a TLS PSK. */
export const TLS_PSK_PREFIX = 'NVMeTLSkey-1:';

/** The configured PSK's transform: 0 none, 1 SHA-256 (a 32-byte key), 2 SHA-384 (a 48-byte key). */
export type TlsPskHash = 0 | 1 | 2;

/** `key` in the interchange form (`nvme gen-tls-key`'s output). */
export function encodeTlsPsk(key: Uint8Array, hash: TlsPskHash): string {
  return encodeKeyText(TLS_PSK_PREFIX, hash, key);
}

const TLS_PSK_FORM = /^NVMeTLSkey-1:0([0-2]):([A-Za-z0-9+/]+={0,2}):?$/;

/**
 * The hash and key of a PSK in the interchange form, checked as native code checks it (a
 * 32- or 48-byte key, 01 with 32 bytes, 02 with 48, 00 with either; the trailing colon
 * optional); `form` when it is not one, `crc` when its check value does not match its key.
 * For TypeScript that must check a PSK before native code sees it (checkTlsPskForm); nothing
 * here repeats the key.
 */
export function decodeTlsPsk(text: string): { hash: TlsPskHash; key: Buffer } | 'form' | 'crc' {
  const lengthOk = (hash: number, bytes: number) => (hash === 0 ? bytes === 32 || bytes === 48 : bytes === (hash === 1 ? 32 : 48));
  return decodeKeyText(TLS_PSK_FORM, text, lengthOk) as { hash: TlsPskHash; key: Buffer } | 'form' | 'crc';
}

/**
 * Checks that `text` is a PSK in the interchange form (decodeTlsPsk), for those that take one
 * before native code sees it: the CSI driver's Secrets, OPI's psk fields, the gateway's key
 * files. Otherwise throws what `invalid` (the caller's INVALID_ARGUMENT) makes of a message
 * that names `what`, never the value.
 */
export function checkTlsPskForm(text: string, what: string, invalid: (message: string) => Error): void {
  const decoded = decodeTlsPsk(text);
  if (decoded === 'form') {
    throw invalid(`${what} is not an NVMe/TCP TLS PSK: it must be NVMeTLSkey-1:0X:<base64 of a key and its CRC-32>:, ` +
      'as `nvme gen-tls-key` writes it (01 with a 32-byte key, 02 with a 48-byte key, 00 with either)');
  }
  if (decoded === 'crc') throw invalid(`${what} is not an NVMe/TCP TLS PSK: its CRC-32 does not match its key`);
  decoded.key.fill(0);  // only its form was asked for
}
