/**
 * The text form NVMe's configured keys share (DH-HMAC-CHAP's DHHC-1, NVMe/TCP's
 * NVMeTLSkey-1): `<prefix><hh>:<base64(key || CRC-32(key), little-endian)>:`, hh a two-digit
 * hash indicator. Native code is the authority on keys; this is for TypeScript that makes
 * them (the CSI driver's derived keys, tests) or checks one before it can call native code.
 */
import * as zlib from 'node:zlib';

let table: Uint32Array | undefined;

/** CRC-32 (IEEE), the key's check value: zlib's where Node has it (20.15 and later), else by table. */
export function crc32(data: Uint8Array): number {
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

/**
 * The hash and key of `text` in the form `form` matches (its groups: the hash digit(s), the
 * base64), where `keyLengthOk(hash, bytes)`; `form` when it is not one, `crc` when its check
 * value does not match its key (whose bytes are then zeroed).
 */
export function decodeKeyText(form: RegExp, text: string, keyLengthOk: (hash: number, bytes: number) => boolean):
  { hash: number; key: Buffer } | 'form' | 'crc' {
  const m = form.exec(text);
  const bytes = m ? Buffer.from(m[2]!, 'base64') : undefined;
  if (!bytes || bytes.toString('base64') !== m![2]) return 'form';
  const hash = Number(m![1]);
  if (!keyLengthOk(hash, bytes.length - 4)) return 'form';
  const key = bytes.subarray(0, bytes.length - 4);
  if (crc32(key) !== bytes.readUInt32LE(bytes.length - 4)) {
    bytes.fill(0);
    return 'crc';
  }
  return { hash, key };
}

/** `key` in the text form, with `prefix` ("DHHC-1:", "NVMeTLSkey-1:") and hash indicator `hash`. */
export function encodeKeyText(prefix: string, hash: number, key: Uint8Array): string {
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32(key));
  return `${prefix}${String(hash).padStart(2, '0')}:${Buffer.concat([key, crc]).toString('base64')}:`;
}
