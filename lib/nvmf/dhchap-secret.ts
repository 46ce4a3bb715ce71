/**
 * The DHHC-1 representation of a DH-HMAC-CHAP secret, as `nvme gen-dhchap-key` writes it
 * and Linux, SPDK and native code read it: `DHHC-1:<hh>:<base64(key || CRC-32(key), little-
 * endian)>:`, hh naming the hash that transforms the key (00 none, 01 SHA-256, 02 SHA-384,
 * 03 SHA-512), the key 32, 48 or 64 bytes. Native code is the authority on secrets; this is
 * for TypeScript that makes secrets (the CSI driver's derived keys) or must check one before
 * it can call native code (before writing a key file).
 */
import { decodeKeyText, encodeKeyText } from './key-text';

export type DhchapKeyHash = 0 | 1 | 2 | 3;

const FORM = /^DHHC-1:0([0-3]):([A-Za-z0-9+/]+={0,2}):$/;
const KEY_BYTES = new Set([32, 48, 64]);

/** `key` (32, 48 or 64 bytes) in the DHHC-1 form, to be transformed with `hash`. */
export function encodeDhchapSecret(key: Uint8Array, hash: DhchapKeyHash = 0): string {
  return encodeKeyText('DHHC-1:', hash, key);
}

/**
 * The hash and key of a secret in the DHHC-1 form; `form` when it is not one (its prefix,
 * hash, base64 or key length), `crc` when its check value does not match its key.
 */
export function decodeDhchapSecret(secret: string): { hash: DhchapKeyHash; key: Buffer } | 'form' | 'crc' {
  return decodeKeyText(FORM, secret, (_, bytes) => KEY_BYTES.has(bytes)) as { hash: DhchapKeyHash; key: Buffer } | 'form' | 'crc';
}
