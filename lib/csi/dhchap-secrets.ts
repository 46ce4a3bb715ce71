/**
 * The DH-HMAC-CHAP secrets of a volume that requires authentication (StorageClass parameter
 * `dhchap`), from the CSI `secrets` the CO hands ControllerPublishVolume and NodeStageVolume:
 * the Kubernetes Secret the StorageClass names with csi.storage.k8s.io/controller-publish-secret-
 * {name,namespace} and csi.storage.k8s.io/node-stage-secret-{name,namespace}. Its keys are
 * named after nvme-cli's flags:
 *
 *   dhchap-secret         the host's secret as given: DHHC-1:0X:<base64>:, as `nvme gen-dhchap-key`
 *                         writes it;
 *   dhchap-ctrl-secret    the controller's secret as given (bidirectional only): the host checks
 *                         the gateway too;
 *   dhchap-master-secret  instead of those two: any string of at least 32 bytes, from which each
 *                         volume's keys for each host are derived (below).
 *
 * Surrounding whitespace (a file's trailing newline, with `kubectl create secret --from-file`)
 * is dropped. With given secrets every volume and node of the class shares them; a master
 * secret gives each volume and host keys of their own, so that one key leaked from a node
 * reveals no other volume's or node's key. The derivation, which the controller and the node
 * compute independently and must agree on:
 *
 *   host key = HMAC-SHA-256(master, "rdmagate dhchap host" || volume_id || 0x00 || hostnqn)
 *   ctrl key = HMAC-SHA-256(master, "rdmagate dhchap ctrl" || volume_id || 0x00 || hostnqn)
 *
 * every string in UTF-8 (a volume_id holds no NUL: CSI bans control characters), each 32-byte
 * result as an untransformed secret, DHHC-1:00:<base64(key || CRC-32(key), little-endian)>:.
 * HMAC-SHA-256 is a pseudo-random function: no number of derived keys tells the master or
 * another key. The host NQN is the node_id (the controller) or the node's own (the node), which
 * are the same string.
 *
 * Every check here runs before anything is changed, and no message repeats a secret: a
 * malformed one may be a real one with a typo.
 */
import { createHmac } from 'node:crypto';
import { decodeDhchapSecret, encodeDhchapSecret } from '../nvmf/dhchap-secret';
import { invalidArgument } from './errors';
import type { DhchapMode } from './parameters';
import type { StringMap } from './types';

/** The keys of the Kubernetes Secret, as nvme-cli names its flags. */
export const DHCHAP_SECRET_KEY = 'dhchap-secret';
export const DHCHAP_CTRL_SECRET_KEY = 'dhchap-ctrl-secret';
export const DHCHAP_MASTER_SECRET_KEY = 'dhchap-master-secret';

/** The shortest master secret: as many bytes as a derived key has. */
export const MIN_MASTER_SECRET_BYTES = 32;

const HOST_LABEL = 'rdmagate dhchap host';
const CTRL_LABEL = 'rdmagate dhchap ctrl';

/** A host's DH-HMAC-CHAP secrets for one volume, as nvme-cli and the gateway's keyring take them. */
export interface DhchapSecrets {
  /** The host's: --dhchap-secret, the gateway's dhchap_key. */
  dhchapKey: string;
  /** The controller's (bidirectional): --dhchap-ctrl-secret, the gateway's dhchap_ctrlr_key. */
  dhchapCtrlrKey?: string;
}

/** Where a volume's secrets come from: the Secret's own, or derived from its master secret. */
export type DhchapSecretSource =
  | { kind: 'given'; secrets: DhchapSecrets }
  | { kind: 'master'; master: string };

/** Which CSI call the secrets came with, for messages that say which StorageClass parameters feed it. */
export type SecretsCall = 'ControllerPublishVolume' | 'NodeStageVolume';

export const SECRET_PARAMETER: Record<SecretsCall, string> = {
  ControllerPublishVolume: 'csi.storage.k8s.io/controller-publish-secret-name and -namespace',
  NodeStageVolume: 'csi.storage.k8s.io/node-stage-secret-name and -namespace',
};

/**
 * The secrets' source for a volume of `mode`, checked whole: INVALID_ARGUMENT when they are
 * missing, malformed, ambiguous, or (bidirectional) the controller's is missing or equal to the
 * host's, which would let a gateway that reflects the host's own answer pass for one that knows.
 */
export function dhchapSecretSource(secrets: StringMap | undefined, mode: DhchapMode, volumeId: string, call: SecretsCall): DhchapSecretSource {
  const get = (k: string) => secretValue(secrets, k);
  const master = get(DHCHAP_MASTER_SECRET_KEY);
  const host = get(DHCHAP_SECRET_KEY);
  const ctrl = get(DHCHAP_CTRL_SECRET_KEY);
  const needs = `volume ${volumeId} requires DH-HMAC-CHAP (dhchap: ${mode})`;
  if (master !== undefined) {
    if (host !== undefined || ctrl !== undefined) {
      throw invalidArgument(`${needs}, and the secrets of ${call} hold both ${DHCHAP_MASTER_SECRET_KEY} and ` +
        `${host !== undefined ? DHCHAP_SECRET_KEY : DHCHAP_CTRL_SECRET_KEY}: give one or the other`);
    }
    checkMasterSecret(master, DHCHAP_MASTER_SECRET_KEY, needs);
    return { kind: 'master', master };
  }
  if (host === undefined) {
    throw invalidArgument(`${needs}, and the secrets of ${call} hold neither ${DHCHAP_SECRET_KEY} nor ${DHCHAP_MASTER_SECRET_KEY}: ` +
      `name a Secret with them in the StorageClass (${SECRET_PARAMETER[call]})`);
  }
  checkDhchapSecret(host, DHCHAP_SECRET_KEY);
  // Unidirectional: a controller secret in a Secret shared with bidirectional classes is not used.
  if (mode === 'unidirectional') return { kind: 'given', secrets: { dhchapKey: host } };
  if (ctrl === undefined) {
    throw invalidArgument(`${needs}, and the secrets of ${call} have no ${DHCHAP_CTRL_SECRET_KEY} (the gateway's secret) ` +
      `beside ${DHCHAP_SECRET_KEY}; or give ${DHCHAP_MASTER_SECRET_KEY} instead of both`);
  }
  checkDhchapSecret(ctrl, DHCHAP_CTRL_SECRET_KEY);
  if (keyBytes(ctrl).equals(keyBytes(host))) {
    throw invalidArgument(`${needs}: ${DHCHAP_CTRL_SECRET_KEY} must differ from ${DHCHAP_SECRET_KEY}`);
  }
  return { kind: 'given', secrets: { dhchapKey: host, dhchapCtrlrKey: ctrl } };
}

/** The secrets `hostnqn` uses for volume `volumeId`: the given ones, or those derived for them. */
export function dhchapSecretsFor(source: DhchapSecretSource, mode: DhchapMode, volumeId: string, hostnqn: string): DhchapSecrets {
  if (source.kind === 'given') return source.secrets;
  const dhchapKey = deriveDhchapSecret(source.master, 'host', volumeId, hostnqn);
  return mode === 'bidirectional' ? { dhchapKey, dhchapCtrlrKey: deriveDhchapSecret(source.master, 'ctrl', volumeId, hostnqn) } : { dhchapKey };
}

/** One derived secret (see the top of this file). */
export function deriveDhchapSecret(master: string, role: 'host' | 'ctrl', volumeId: string, hostnqn: string): string {
  return encodeDhchapSecret(deriveVolumeHostKey(master, role === 'host' ? HOST_LABEL : CTRL_LABEL, volumeId, hostnqn));
}

/**
 * The 32 bytes HMAC-SHA-256(master, label || volume_id || 0x00 || hostnqn), every string in
 * UTF-8: one volume's key for one host, under `label` (what it is for). The derivation that
 * DH-HMAC-CHAP's keys and NVMe/TCP's PSKs (tls-secrets.ts) share, each under its own labels.
 */
export function deriveVolumeHostKey(master: string, label: string, volumeId: string, hostnqn: string): Buffer {
  return createHmac('sha256', Buffer.from(master, 'utf8'))
    .update(label, 'utf8')
    .update(volumeId, 'utf8')
    .update(Buffer.of(0))
    .update(hostnqn, 'utf8')
    .digest();
}

/** The Secret's value for `key`, surrounding whitespace dropped; undefined when it is missing or empty. */
export function secretValue(secrets: StringMap | undefined, key: string): string | undefined {
  const v = secrets?.[key]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

/** INVALID_ARGUMENT unless master secret `master` (the Secret's `key`) has at least MIN_MASTER_SECRET_BYTES bytes; `needs` says what asks for it. */
export function checkMasterSecret(master: string, key: string, needs: string): void {
  const bytes = Buffer.byteLength(master, 'utf8');
  if (bytes < MIN_MASTER_SECRET_BYTES) throw invalidArgument(`${needs}: ${key} must be at least ${MIN_MASTER_SECRET_BYTES} bytes, got ${bytes}`);
}

/**
 * Checks a secret's form as the kernel and the target read it: DHHC-1, a key transform 00 to
 * 03, a 32-, 48- or 64-byte key and its CRC-32. INVALID_ARGUMENT names the Secret's key, never the value.
 */
export function checkDhchapSecret(value: string, what: string): void {
  const decoded = decodeDhchapSecret(value);
  if (decoded === 'form') {
    throw invalidArgument(`${what} is not a DH-HMAC-CHAP secret: it must be DHHC-1:0X:<base64 of a 32-, 48- or 64-byte key ` +
      'and its CRC-32>:, as `nvme gen-dhchap-key` writes it');
  }
  if (decoded === 'crc') throw invalidArgument(`${what} is not a DH-HMAC-CHAP secret: its CRC-32 does not match its key`);
}

/** The key bytes of a checked secret. */
function keyBytes(secret: string): Buffer {
  return (decodeDhchapSecret(secret) as { key: Buffer }).key;
}

