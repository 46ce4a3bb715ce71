/**
 * The gateway's keyring, as SPDK's keyring_file module: named secrets, each read from a file
 * that only its owner may read. RPCs name a key (nvmf_subsystem_add_host's dhchap_key and
 * psk, bdev_nvme_attach_controller's), never a secret, so that no secret travels over
 * JSON-RPC or lands in the saved config, which keeps the name and the path only.
 *
 * A key file holds a DH-HMAC-CHAP secret (`DHHC-1:0X:<base64>:`, as nvme gen-dhchap-key
 * writes it) or an NVMe/TCP TLS PSK (`NVMeTLSkey-1:0X:<base64>:`, as nvme gen-tls-key writes
 * it); a PSK's form is checked as it is added, and each key is used only as what it holds.
 *
 * A secret is read once, when its key is added, and kept in a private field: listings, log
 * lines, error messages and the config never reach it; Key.secret() hands it to the Target.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { ConflictError, InvalidArgumentError, NotFoundError, RdmagateError } from '../errors';
import type { DhchapKeys } from '../nvmf/dhchap';
import { checkTlsPskForm, TLS_PSK_PREFIX, type TlsPsk } from '../nvmf/tls';

/** SPDK's name for the module whose keys are files: keyring_get_keys' `module`. */
export const KEYRING_FILE_MODULE = 'keyring_file';

/** A DHHC-1 secret is under 200 characters; a key file far larger is some other file. */
const MAX_KEY_FILE_BYTES = 4096;

const DHCHAP_PREFIX = 'DHHC-1:';

/** What a key file holds: a DH-HMAC-CHAP secret, or an NVMe/TCP TLS pre-shared key. */
export type KeyKind = 'dhchap' | 'tls-psk';

/** How messages name what a key holds, and the form it should have. */
const KIND_TEXT: Record<KeyKind, string> = {
  'dhchap': 'a DH-HMAC-CHAP secret (DHHC-1:0X:<base64>:, as nvme gen-dhchap-key writes it)',
  'tls-psk': 'an NVMe/TCP TLS PSK (NVMeTLSkey-1:0X:<base64>:, as nvme gen-tls-key writes it)',
};

/**
 * One key. Users (a subsystem's host, a backend) hold the object, not the name, so that a key
 * removed and a new one added under its name are two keys, as in SPDK.
 */
export class Key {
  readonly #secret: string;
  #removed = false;

  /** @internal */
  constructor(readonly name: string, readonly path: string, secret: string, readonly kind: KeyKind) {
    this.#secret = secret;
  }

  /** Removed from the keyring (keyring_file_remove_key); its users may still hold it. */
  get removed(): boolean {
    return this.#removed;
  }

  /** @internal */
  markRemoved(): void {
    this.#removed = true;
  }

  /** The secret, for the Target only: never to be logged, answered or saved. */
  secret(): string {
    return this.#secret;
  }

  /** What a stray log line or JSON.stringify of a key shows: never the secret. */
  toJSON(): { name: string; path: string } {
    return { name: this.name, path: this.path };
  }
}

/** A key as keyring_get_keys reports it, in SPDK's fields. */
export interface KeyInfo {
  name: string;
  module: typeof KEYRING_FILE_MODULE;
  removed: boolean;
  /** SPDK's keys loaded on first use; a file key is always added first. */
  probed: false;
  /** The keyring's own reference while not removed, plus one per user. */
  refcnt: number;
  /** Left out once removed, as SPDK leaves it out. */
  path?: string;
}

/** The keys an object authenticates with (DH-HMAC-CHAP): what a host or a backend holds. */
export interface DhchapKeyRefs {
  dhchapKey?: Key;
  dhchapCtrlrKey?: Key;
}

/** Every key a subsystem host or a backend holds: its DH-HMAC-CHAP keys and its NVMe/TCP TLS PSK. */
export interface KeyRefs extends DhchapKeyRefs {
  psk?: Key;
}

export class Keyring {
  readonly #keys = new Map<string, Key>();
  /** Keys removed while in use: listed (removed: true) until no user holds them, as SPDK lists them. */
  #removed: Key[] = [];

  /**
   * Adds key `name` from the file at `path`, read now. As SPDK's keyring_file: the path is
   * absolute, and the file a regular file of this process's user whose mode gives the group
   * and others nothing (ERR_PERMISSION_DENIED otherwise, like SPDK's -EPERM). A name taken
   * is ERR_ALREADY_EXISTS; a missing file ERR_NOT_FOUND. The file must hold a DHHC-1 secret
   * or a TLS PSK in the interchange form, a PSK's form checked now (ERR_INVALID_ARG, naming
   * the key and its file, never what it holds).
   */
  addFileKey(name: string, path: string): Key {
    if (this.#keys.has(name)) throw new ConflictError('ERR_ALREADY_EXISTS', `key '${name}' already exists in the keyring`);
    if (!isAbsolute(path)) throw new InvalidArgumentError(`key '${name}': path must be absolute, got ${JSON.stringify(path)}`);
    const secret = readKeyFile(name, path);
    const key = new Key(name, path, secret, keyKind(name, path, secret));
    this.#keys.set(name, key);
    return key;
  }

  /**
   * Removes key `name` (ERR_NOT_FOUND if there is none). As in SPDK, new uses cannot name it,
   * and it is listed as removed until none of its users holds it. Unlike SPDK's, those users
   * go on authenticating with it (the Target holds their secrets): to revoke a key, give its
   * hosts other keys first (nvmf_subsystem_set_keys).
   */
  removeKey(name: string): void {
    const key = this.#keys.get(name);
    if (!key) throw new NotFoundError(`No such device: no key '${name}' in the keyring`);
    this.#keys.delete(name);
    key.markRemoved();
    this.#removed.push(key);
  }

  /**
   * The keys `names` name, as SPDK checks them: each in the keyring, and a controller key
   * only with a host key. An unknown name is an InvalidArgumentError that names it.
   */
  dhchapKeys(names: { dhchap_key?: string; dhchap_ctrlr_key?: string }): DhchapKeyRefs {
    if (names.dhchap_ctrlr_key !== undefined && names.dhchap_key === undefined) {
      throw new InvalidArgumentError('dhchap_ctrlr_key needs dhchap_key: bidirectional authentication authenticates the host too');
    }
    const dhchapKey = this.#get(names.dhchap_key, 'dhchap_key', 'dhchap');
    const dhchapCtrlrKey = this.#get(names.dhchap_ctrlr_key, 'dhchap_ctrlr_key', 'dhchap');
    return { ...(dhchapKey ? { dhchapKey } : {}), ...(dhchapCtrlrKey ? { dhchapCtrlrKey } : {}) };
  }

  /**
   * The TLS PSK `name` names (SPDK's psk param: a key name), as dhchapKeys checks its keys:
   * in the keyring, and holding a PSK. None named: none.
   */
  tlsPsk(name: string | undefined): { psk?: Key } {
    const psk = this.#get(name, 'psk', 'tls-psk');
    return psk ? { psk } : {};
  }

  /** Key `name` for param `param`, which takes keys of `kind`; an InvalidArgumentError that names it otherwise. */
  #get(name: string | undefined, param: string, kind: KeyKind): Key | undefined {
    if (name === undefined) return undefined;
    const key = this.#keys.get(name);
    if (!key) throw new InvalidArgumentError(`${param}: no key '${name}' in the keyring (add it first with keyring_file_add_key)`);
    if (key.kind !== kind) {
      throw new InvalidArgumentError(`${param}: key '${name}' (${key.path}) holds ${KIND_TEXT[key.kind]}, where ${param} takes ${KIND_TEXT[kind]}`);
    }
    return key;
  }

  /** Every key, removed ones still held included, with `users` (one entry per use) counted. */
  list(users: readonly Key[]): KeyInfo[] {
    const uses = (k: Key) => users.filter((u) => u === k).length;
    this.#removed = this.#removed.filter((k) => uses(k) > 0);
    return [
      ...[...this.#keys.values()].map((k): KeyInfo => ({
        name: k.name, module: KEYRING_FILE_MODULE, removed: false, probed: false, refcnt: 1 + uses(k), path: k.path })),
      ...this.#removed.map((k): KeyInfo => ({ name: k.name, module: KEYRING_FILE_MODULE, removed: true, probed: false, refcnt: uses(k) })),
    ];
  }

  /** The keys in the keyring, in the order added: what save_config recreates. */
  keys(): Key[] {
    return [...this.#keys.values()];
  }
}

/** The secrets of `refs`, for the Target and the host's options: only there do they leave the keyring. */
export function dhchapSecrets(refs: DhchapKeyRefs): DhchapKeys {
  return {
    ...(refs.dhchapKey ? { dhchapKey: refs.dhchapKey.secret() } : {}),
    ...(refs.dhchapCtrlrKey ? { dhchapCtrlrKey: refs.dhchapCtrlrKey.secret() } : {}),
  };
}

/** The PSK of `refs`, for the Target and the host's options: as dhchapSecrets, the only place it leaves the keyring. */
export function pskSecret(refs: KeyRefs): TlsPsk {
  return refs.psk ? { psk: refs.psk.secret() } : {};
}

/** The names of `refs`, as the RPCs' params name them: what save_config and the listings show. */
function dhchapKeyNames(refs: DhchapKeyRefs | undefined): { dhchap_key?: string; dhchap_ctrlr_key?: string } {
  return {
    ...(refs?.dhchapKey ? { dhchap_key: refs.dhchapKey.name } : {}),
    ...(refs?.dhchapCtrlrKey ? { dhchap_ctrlr_key: refs.dhchapCtrlrKey.name } : {}),
  };
}

/** As dhchapKeyNames, with the PSK's name (`psk`, SPDK's param) first. */
export function keyNames(refs: KeyRefs | undefined): { psk?: string; dhchap_key?: string; dhchap_ctrlr_key?: string } {
  return { ...(refs?.psk ? { psk: refs.psk.name } : {}), ...dhchapKeyNames(refs) };
}

/** Native code's words for a TLS PSK it refuses (native/tls/psk.cc), as against a DH-HMAC-CHAP secret. */
const PSK_REFUSAL = /TLS PSK/;

/**
 * `e` with the key names in its message where native code refused a secret (ERR_INVALID_KEY):
 * it cannot say which key file holds it. Native messages never hold the secret.
 */
export function explainInvalidKey(e: unknown, refs: KeyRefs): unknown {
  if (!(e instanceof RdmagateError) || e.code !== 'ERR_INVALID_KEY') return e;
  const kind: KeyKind = refs.psk && PSK_REFUSAL.test(e.message) ? 'tls-psk' : 'dhchap';
  const keys = kind === 'tls-psk' ? [refs.psk] : [refs.dhchapKey, refs.dhchapCtrlrKey];
  const names = keys.filter((k) => k !== undefined).map((k) => `'${k.name}' (${k.path})`);
  return new RdmagateError('ERR_INVALID_KEY', `key ${names.join(' or ')} does not hold ${KIND_TEXT[kind]}: ${e.message}`);
}

/**
 * What the file of key `name` holds, by its prefix; a TLS PSK's form is checked here (native
 * code checks a DH-HMAC-CHAP secret where it is used). Messages name the key and its file only.
 */
function keyKind(name: string, path: string, secret: string): KeyKind {
  if (secret.startsWith(DHCHAP_PREFIX)) return 'dhchap';
  if (secret.startsWith(TLS_PSK_PREFIX)) {
    checkTlsPskForm(secret, `key '${name}': ${path}`, (m) => new InvalidArgumentError(m));
    return 'tls-psk';
  }
  throw new InvalidArgumentError(`key '${name}': ${path} holds neither ${KIND_TEXT.dhchap} nor ${KIND_TEXT['tls-psk']}`);
}

/**
 * The file's secret, its trailing newline dropped. Opened first and checked through the
 * descriptor, so that what is checked is what is read; O_NONBLOCK so that a FIFO named by
 * mistake does not hang the gateway before the check refuses it.
 */
function readKeyFile(name: string, path: string): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') throw new NotFoundError(`key '${name}': no file ${path}`);
    const errno = Math.abs(err.errno ?? 0);  // Node's are negative
    if (err.code === 'EACCES') throw new RdmagateError('ERR_PERMISSION_DENIED', `key '${name}': cannot open ${path}: permission denied`, errno);
    throw new RdmagateError('ERR_SYSTEM', `key '${name}': cannot open ${path}: ${err.code ?? err.message}`, errno);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new InvalidArgumentError(`key '${name}': ${path} is not a regular file`);
    const uid = process.getuid?.();
    if ((st.mode & 0o077) !== 0 || (uid !== undefined && st.uid !== uid)) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new RdmagateError('ERR_PERMISSION_DENIED', `key '${name}': ${path} (mode ${mode}, uid ${st.uid}) must belong to ` +
        `this process's user (uid ${uid}) and give its group and others nothing (chmod 0600)`);
    }
    const tooLarge = () => new InvalidArgumentError(`key '${name}': ${path} is larger than ${MAX_KEY_FILE_BYTES} bytes, too large for a key`);
    if (st.size > MAX_KEY_FILE_BYTES) throw tooLarge();
    const buf = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    let n = 0;
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += r;
    const secret = buf.subarray(0, n).toString('utf8').trim();
    buf.fill(0);  // the string is what the keyring keeps; no second copy lingers
    if (n > MAX_KEY_FILE_BYTES) throw tooLarge();
    if (secret.length === 0) throw new InvalidArgumentError(`key '${name}': ${path} is empty`);
    return secret;
  } finally {
    closeSync(fd);
  }
}
