/**
 * The controller's key directory (--key-dir, a KeyDir: lib/key-dir.ts): the DH-HMAC-CHAP
 * secrets and NVMe/TCP TLS PSKs (tls-secrets.ts) that publishing gives the gateway, one file
 * each, named as here.
 *
 * The controller and the gateway run as one user and share the directory (deploy/controller.yaml:
 * one pod, the state hostPath); every member of a gateway group must see it at the same path too.
 *
 * A file is `<dir>/csi_<volume>_<host>_<role>_<generation>`, mode 0600:
 *   volume      the volume_id where it is a plain name, else `sha256-` and 32 hex digits of it;
 *   host        16 hex digits of SHA-256(host NQN) (NQNs may hold anything but NUL);
 *   role        `key` (the host's secret), `ctrlr_key` (the controller's) or `psk` (the host's
 *               TLS PSK, in the interchange form);
 *   generation  the time it was written in ms, at least one more than any before it (KeyDir's).
 */
import { createHash } from 'node:crypto';
import { KeyDir, type KeyFile } from '../key-dir';
import type { DhchapSecrets } from './dhchap-secrets';

export type { KeyFile } from '../key-dir';

export type KeyRole = 'key' | 'ctrlr_key' | 'psk';

/**
 * The keys a host is allowed on a volume with: the gateway's dhchap_key and dhchap_ctrlr_key
 * (a volume that requires DH-HMAC-CHAP), and psk (one that requires TLS).
 */
export interface HostKeys {
  key?: KeyFile;
  /** Bidirectional only. */
  ctrlrKey?: KeyFile;
  psk?: KeyFile;
}

/** What a host is given on a volume: its DH-HMAC-CHAP secrets, its TLS PSK, or both. */
export interface HostSecrets {
  dhchap?: DhchapSecrets;
  psk?: string;
}

/** The names of `keys`, as the gateway's keyring has them. */
export function hostKeyNames(keys: HostKeys): string[] {
  return [keys.key, keys.ctrlrKey, keys.psk].filter((k): k is KeyFile => k !== undefined).map((k) => k.name);
}

const PLAIN_VOLUME_ID = /^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/;
const HASHED = 'sha256-';

/** The part of a key's name that names the volume: never holds `_`, so that prefixes do not overlap. */
function volumePart(volumeId: string): string {
  if (PLAIN_VOLUME_ID.test(volumeId) && !volumeId.startsWith(HASHED)) return volumeId;
  return HASHED + createHash('sha256').update(volumeId, 'utf8').digest('hex').slice(0, 32);
}

function hostPart(hostnqn: string): string {
  return createHash('sha256').update(hostnqn, 'utf8').digest('hex').slice(0, 16);
}

/** The start of the names of the keys of a volume (all its hosts' without `hostnqn`): keyring and files alike. */
export function keyNamePrefix(volumeId: string, hostnqn?: string): string {
  return `csi_${volumePart(volumeId)}_${hostnqn === undefined ? '' : `${hostPart(hostnqn)}_`}`;
}

/** The role and generation of a key name under `prefix` (a volume's and host's), or undefined for another name. */
function parseName(name: string, prefix: string): { role: KeyRole; generation: number } | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const m = /^(key|ctrlr_key|psk)_(\d{1,16})$/.exec(name.slice(prefix.length));
  return m ? { role: m[1] as KeyRole, generation: Number(m[2]) } : undefined;
}

export class DhchapKeyDir {
  readonly #files: KeyDir;

  constructor(dir: string) {
    this.#files = new KeyDir(dir);
  }

  get dir(): string {
    return this.#files.dir;
  }

  /**
   * The file holding `secret` as volume `volumeId`'s `role` key for `hostnqn`: the newest one
   * that holds it already (a publish repeated), else a new one.
   */
  async store(volumeId: string, hostnqn: string, role: KeyRole, secret: string): Promise<KeyFile> {
    return await this.#files.store(`${keyNamePrefix(volumeId, hostnqn)}${role}_`, secret);
  }

  /** The files of a host's secrets for a volume (store, for each). */
  async storeAll(volumeId: string, hostnqn: string, secrets: HostSecrets): Promise<HostKeys> {
    const d = secrets.dhchap;
    const key = d ? await this.store(volumeId, hostnqn, 'key', d.dhchapKey) : undefined;
    const ctrlrKey = d?.dhchapCtrlrKey === undefined ? undefined : await this.store(volumeId, hostnqn, 'ctrlr_key', d.dhchapCtrlrKey);
    const psk = secrets.psk === undefined ? undefined : await this.store(volumeId, hostnqn, 'psk', secrets.psk);
    return { ...(key ? { key } : {}), ...(ctrlrKey ? { ctrlrKey } : {}), ...(psk ? { psk } : {}) };
  }

  /**
   * The newest files of the volume's keys for `hostnqn` (what a gateway that missed a publish
   * is given), or undefined when there is none; which a volume needs is the caller's to check.
   */
  async current(volumeId: string, hostnqn: string): Promise<HostKeys | undefined> {
    const newest: Partial<Record<KeyRole, KeyFile & { generation: number }>> = {};
    for (const f of await this.#list(keyNamePrefix(volumeId, hostnqn))) {
      if ((newest[f.role]?.generation ?? -1) < f.generation) newest[f.role] = f;
    }
    const file = (f: (KeyFile & { generation: number }) | undefined) => (f ? { name: f.name, path: f.path } : undefined);
    const [key, ctrlrKey, psk] = [file(newest.key), file(newest.ctrlr_key), file(newest.psk)];
    if (!key && !psk) return undefined;
    return { ...(key ? { key } : {}), ...(ctrlrKey ? { ctrlrKey } : {}), ...(psk ? { psk } : {}) };
  }

  /** The volume's key files (for `hostnqn`, or for every host). */
  async files(volumeId: string, hostnqn?: string): Promise<KeyFile[]> {
    return (await this.#list(keyNamePrefix(volumeId, hostnqn))).map((f) => ({ name: f.name, path: f.path }));
  }

  /** Removes the volume's key files (for `hostnqn`, or every host's), but those named in `keep`. */
  async remove(volumeId: string, hostnqn?: string, keep: readonly string[] = []): Promise<string[]> {
    const gone = (await this.files(volumeId, hostnqn)).map((f) => f.name).filter((name) => !keep.includes(name));
    await this.#files.remove(gone);
    return gone;
  }

  async #list(prefix: string): Promise<(KeyFile & { role: KeyRole; generation: number })[]> {
    const out: (KeyFile & { role: KeyRole; generation: number })[] = [];
    for (const name of await this.#files.names()) {
      // A volume's prefix with no host matches each host's names; parse what follows the host part.
      const host = /^csi_[^_]+_[0-9a-f]{16}_/.exec(name)?.[0];
      const parsed = host !== undefined && host.startsWith(prefix) ? parseName(name, host) : undefined;
      if (parsed) out.push({ ...this.#files.file(name), ...parsed });
    }
    return out;
  }
}
