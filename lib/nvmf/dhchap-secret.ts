/**
 * The DHHC-1 representation of a DH-HMAC-CHAP secret, as `nvme gen-dhchap-key` writes it
 * and Linux, SPDK and native code read it: `DHHC-1:<hh>:<base64(key || CRC-32(key), little-
 * endian)>:`, hh naming the hash that transforms the key (00 none, 01 SHA-256, 02 SHA-384,
 * 03 SHA-512), the key 32, 48 or 64 bytes. Native code is the authority on secrets; this is
 * for TypeScript that makes secrets (the CSI driver's derived keys) or must check one before
 * it can call native code (before writing a key file).
 */
import * as zlib from 'node:zlib';

export type DhchapKeyHash = 0 | 1 | 2 | 3;

const FORM = /^DHHC-1:0([0-3]):([A-Za-z0-9+/]+={0,2}):$/;
const KEY_BYTES = new Set([32, 48, 64]);

let table: Uint32Array | undefined;

/** CRC-32 (IEEE), the secret's check value: zlib's where Node has it (20.15 and later), else by table. */
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

/** `key` (32, 48 or 64 bytes) in the DHHC-1 form, to be transformed with `hash`. */
export function encodeDhchapSecret(key: Uint8Array, hash: DhchapKeyHash = 0): string {
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32(key));
  return `DHHC-1:0${hash}:${Buffer.concat([key, crc]).toString('base64')}:`;
}

/**
 * The hash and key of a secret in the DHHC-1 form; `form` when it is not one (its prefix,
 * hash, base64 or key length), `crc` when its check value does not match its key.
 */
export function decodeDhchapSecret(secret: string): { hash: DhchapKeyHash; key: Buffer } | 'form' | 'crc' {
  const m = FORM.exec(secret);
  const bytes = m ? Buffer.from(m[2]!, 'base64') : undefined;
  if (!bytes || bytes.toString('base64') !== m![2] || !KEY_BYTES.has(bytes.length - 4)) return 'form';
  const key = bytes.subarray(0, bytes.length - 4);
  if (crc32(key) !== bytes.readUInt32LE(bytes.length - 4)) return 'crc';
  return { hash: Number(m![1]) as DhchapKeyHash, key };
}
