/**
 * DH-HMAC-CHAP (NVMe in-band authentication), as the host's connect options and the
 * target's hosts name it: the secrets, and the digests and DH groups a target accepts.
 * The secrets' form is native code's to check (ERR_INVALID_KEY); here only what must hold
 * before native code is called, with messages that never repeat a secret.
 */
import { InvalidArgumentError } from '../errors';
import type { NativeDhchapKeys } from '../native';

/**
 * A host's DH-HMAC-CHAP secrets, each in the `DHHC-1:0X:<base64>:` form that
 * `nvme gen-dhchap-key` writes (X: 0 none, 1 SHA-256, 2 SHA-384, 3 SHA-512 key transform).
 */
export interface DhchapKeys {
  /** The host's secret: the host proves that it knows it. */
  dhchapKey?: string;
  /** The controller's secret: the host checks the controller too (bidirectional). Needs dhchapKey. */
  dhchapCtrlrKey?: string;
}

/** The hash functions DH-HMAC-CHAP may use (SPDK's and nvme-cli's names). */
export const DHCHAP_DIGESTS = ['sha256', 'sha384', 'sha512'] as const;
export type DhchapDigest = (typeof DHCHAP_DIGESTS)[number];

/** The Diffie-Hellman groups DH-HMAC-CHAP may use; 'null': none (no DH exchange). */
export const DHCHAP_DHGROUPS = ['null', 'ffdhe2048', 'ffdhe3072', 'ffdhe4096', 'ffdhe6144', 'ffdhe8192'] as const;
export type DhchapDhgroup = (typeof DHCHAP_DHGROUPS)[number];

/**
 * What a target accepts until told otherwise: every digest and DH group, strongest first. A
 * target's lists are in the order it prefers them, as SPDK's are.
 */
export const DHCHAP_DEFAULT_DIGESTS: readonly DhchapDigest[] = ['sha512', 'sha384', 'sha256'];
export const DHCHAP_DEFAULT_DHGROUPS: readonly DhchapDhgroup[] = ['ffdhe8192', 'ffdhe6144', 'ffdhe4096', 'ffdhe3072', 'ffdhe2048', 'null'];

function secret(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  // The value itself stays out of the message: it may be a secret with a typo.
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidArgumentError(`${name} must be a non-empty string (a DHHC-1 secret), got ${typeof value === 'string' ? 'an empty string' : typeof value}`);
  }
  return value;
}

/**
 * The secrets of `o` as native code takes them: only those given, so that an options
 * object without keys is what it was before authentication existed.
 */
export function dhchapKeys(o: DhchapKeys, prefix = ''): NativeDhchapKeys {
  const dhchapKey = secret(o.dhchapKey, `${prefix}dhchapKey`);
  const dhchapCtrlrKey = secret(o.dhchapCtrlrKey, `${prefix}dhchapCtrlrKey`);
  if (dhchapCtrlrKey !== undefined && dhchapKey === undefined) {
    // The controller authenticates itself only within a transaction the host's key opens.
    throw new InvalidArgumentError(`${prefix}dhchapCtrlrKey needs ${prefix}dhchapKey: bidirectional authentication authenticates the host too`);
  }
  return { ...(dhchapKey !== undefined ? { dhchapKey } : {}), ...(dhchapCtrlrKey !== undefined ? { dhchapCtrlrKey } : {}) };
}
