/**
 * The NVMe/TCP TLS PSK of a volume that requires TLS (StorageClass parameter `tls: "true"`),
 * from the CSI `secrets` the CO hands ControllerPublishVolume and NodeStageVolume: the same
 * Kubernetes Secret mechanism as DH-HMAC-CHAP's (dhchap-secrets.ts), and it may be the same
 * Secret. Its keys:
 *
 *   tls-psk            the PSK as given, in the interchange form `nvme gen-tls-key` writes:
 *                      NVMeTLSkey-1:0X:<base64(key || CRC-32(key))>: (X: 0 none, 1 SHA-256 with
 *                      a 32-byte key, 2 SHA-384 with a 48-byte key);
 *   tls-master-secret  instead: any string of at least 32 bytes, from which each volume's PSK
 *                      for each host is derived (below).
 *
 * Surrounding whitespace is dropped. A given PSK is every volume's and node's of the class; a
 * master secret gives each volume and host a PSK of their own, so that a PSK taken from one
 * node opens no other volume or node's connection. The derivation, which the controller and
 * the node compute independently, as for DH-HMAC-CHAP's keys (deriveVolumeHostKey):
 *
 *   psk = HMAC-SHA-256(master, "rdmagate tls psk" || volume_id || 0x00 || hostnqn)
 *
 * the 32 bytes in the interchange form with hash indicator 01 (SHA-256, as `nvme gen-tls-key`
 * makes them by default): NVMeTLSkey-1:01:<base64(psk || CRC-32(psk), little-endian)>:. The
 * label differs from DH-HMAC-CHAP's, so one master secret in both keys gives unrelated keys.
 *
 * Every check here runs before anything is changed, and no message repeats a key.
 */
import { checkTlsPskForm, encodeTlsPsk } from '../nvmf/tls';
import { checkMasterSecret, SECRET_PARAMETER, secretValue, deriveVolumeHostKey, type SecretsCall } from './dhchap-secrets';
import { invalidArgument } from './errors';
import type { StringMap } from './types';

/** The keys of the Kubernetes Secret. */
export const TLS_PSK_KEY = 'tls-psk';
export const TLS_MASTER_SECRET_KEY = 'tls-master-secret';

const PSK_LABEL = 'rdmagate tls psk';

/** Where a volume's PSK comes from: the Secret's own, or derived from its master secret. */
export type TlsPskSource =
  | { kind: 'given'; psk: string }
  | { kind: 'master'; master: string };

/**
 * The PSK's source for a volume that requires TLS, checked whole: INVALID_ARGUMENT when it is
 * missing, malformed or ambiguous (both keys given).
 */
export function tlsPskSource(secrets: StringMap | undefined, volumeId: string, call: SecretsCall): TlsPskSource {
  const master = secretValue(secrets, TLS_MASTER_SECRET_KEY);
  const psk = secretValue(secrets, TLS_PSK_KEY);
  const needs = `volume ${volumeId} requires NVMe/TCP TLS (tls: "true")`;
  if (master !== undefined) {
    if (psk !== undefined) {
      throw invalidArgument(`${needs}, and the secrets of ${call} hold both ${TLS_MASTER_SECRET_KEY} and ${TLS_PSK_KEY}: give one or the other`);
    }
    checkMasterSecret(master, TLS_MASTER_SECRET_KEY, needs);
    return { kind: 'master', master };
  }
  if (psk === undefined) {
    throw invalidArgument(`${needs}, and the secrets of ${call} hold neither ${TLS_PSK_KEY} nor ${TLS_MASTER_SECRET_KEY}: ` +
      `name a Secret with one in the StorageClass (${SECRET_PARAMETER[call]})`);
  }
  checkTlsPsk(psk, TLS_PSK_KEY);
  return { kind: 'given', psk };
}

/** The PSK `hostnqn` uses for volume `volumeId`: the given one, or the one derived for them. */
export function tlsPskFor(source: TlsPskSource, volumeId: string, hostnqn: string): string {
  return source.kind === 'given' ? source.psk : deriveTlsPsk(source.master, volumeId, hostnqn);
}

/** One derived PSK (see the top of this file). */
export function deriveTlsPsk(master: string, volumeId: string, hostnqn: string): string {
  return encodeTlsPsk(deriveVolumeHostKey(master, PSK_LABEL, volumeId, hostnqn), 1);
}

/**
 * Checks a PSK's form as native code and the kernel read it: NVMeTLSkey-1, hash 00 to 02, a
 * 32- or 48-byte key that fits the hash, and its CRC-32. INVALID_ARGUMENT names `what` (the
 * Secret's key), never the value.
 */
export function checkTlsPsk(value: string, what: string): void {
  checkTlsPskForm(value, what, invalidArgument);
}
