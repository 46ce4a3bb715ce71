/**
 * TLS PSKs for tests: a configured PSK in its interchange form (`NVMeTLSkey-1:0X:...:`), as
 * `nvme gen-tls-key` writes it, of a random key; and the TLS PSK a host and a subsystem derive
 * from one, identity version 0, as libnvme 1.x derives it (native/tls/psk.cc is the
 * implementation; this is the test's own, to offer a PSK under an identity of the test's choosing).
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { encodeTlsPsk } from '../../lib/nvmf';

/** A configured PSK of a random key: 32 bytes for hash 1 (SHA-256), 48 for hash 2 (SHA-384). */
export function tlsPsk(hash: 1 | 2 = 1): string {
  return encodeTlsPsk(randomBytes(hash === 2 ? 48 : 32), hash);
}

function expandLabel(hash: string, ikm: Buffer, label: string, context: string, len: number): Buffer {
  // libnvme's HkdfLabel: the length little-endian, "tls13 " label context, no length bytes.
  const info = Buffer.concat([Buffer.from([len & 0xff, len >> 8]), Buffer.from(`tls13 ${label}${context}`)]);
  return Buffer.from(hkdfSync(hash, ikm, Buffer.alloc(0), info, len));
}

export function tlsPskV0(interchange: string, hostnqn: string, subnqn: string): { identity: string; psk: Buffer } {
  const [, , hh, body] = /^(NVMeTLSkey-1):(\d\d):([^:]+):$/.exec(interchange) ?? [];
  const raw = Buffer.from(body!, 'base64');
  const key = raw.subarray(0, raw.length - 4);
  const hmac = Number(hh);
  const hash = hmac === 2 || (hmac === 0 && key.length === 48) ? 'sha384' : 'sha256';
  const retained = hmac === 0 ? key : expandLabel(hash, key, 'HostNQN', hostnqn, key.length);
  const identity = `NVMe0R0${hash === 'sha384' ? 2 : 1} ${hostnqn} ${subnqn}`;
  return { identity, psk: expandLabel(hash, retained, 'nvme-tls-psk', identity, key.length) };
}
