/**
 * DH-HMAC-CHAP secrets for tests, in the form `nvme gen-dhchap-key` writes:
 * `DHHC-1:<hh>:<base64(key || crc32(key) little-endian)>:`, hh naming the hash that
 * transforms the key (00 none, 01 SHA-256, 02 SHA-384, 03 SHA-512).
 */
import { randomBytes } from 'node:crypto';
import { encodeDhchapSecret } from '../../lib/nvmf/dhchap-secret';

export type DhchapHash = 0 | 1 | 2 | 3;

/** nvme-cli's key lengths: the hash's output size, 32 bytes for an untransformed key. */
const KEY_BYTES: Record<DhchapHash, number> = { 0: 32, 1: 32, 2: 48, 3: 64 };


/** A secret for `hash`, of a random key unless given one. */
export function dhchapSecret(hash: DhchapHash, key: Uint8Array = randomBytes(KEY_BYTES[hash])): string {
  return encodeDhchapSecret(key, hash);
}

/** The base64 part of a secret: what must appear in no output, whatever else is printed. */
export function secretBody(secret: string): string {
  return secret.split(':')[2]!;
}
