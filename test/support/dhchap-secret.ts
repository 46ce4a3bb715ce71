/**
 * DH-HMAC-CHAP secrets for tests, in the form `nvme gen-dhchap-key` writes:
 * `DHHC-1:<hh>:<base64(key || crc32(key) little-endian)>:`, hh naming the hash that
 * transforms the key (00 none, 01 SHA-256, 02 SHA-384, 03 SHA-512).
 */
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';

export type DhchapHash = 0 | 1 | 2 | 3;

/** nvme-cli's key lengths: the hash's output size, 32 bytes for an untransformed key. */
const KEY_BYTES: Record<DhchapHash, number> = { 0: 32, 1: 32, 2: 48, 3: 64 };

let table: Uint32Array | undefined;

/** CRC-32 (IEEE, zlib's): Node's own where it has it (20.15 and later), else a table. */
function crc32(data: Uint8Array): number {
  const native = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
  if (native) return native(data);
  table ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let c = 0xffffffff;
  for (const b of data) c = table[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A secret for `hash`, of a random key unless given one. */
export function dhchapSecret(hash: DhchapHash, key: Uint8Array = randomBytes(KEY_BYTES[hash])): string {
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32(key));
  return `DHHC-1:0${hash}:${Buffer.concat([key, crc]).toString('base64')}:`;
}

/** The base64 part of a secret: what must appear in no output, whatever else is printed. */
export function secretBody(secret: string): string {
  return secret.split(':')[2]!;
}
