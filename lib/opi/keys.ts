/**
 * The bridge's key directory (a KeyDir: lib/key-dir.ts): the NVMe/TCP TLS PSKs that OPI
 * requests carry (a remote controller's tcp.psk, a subsystem's spec.psk), one file each, which
 * the gateway's keyring reads; the bridge's state file keeps only the key's name. The gateway
 * reads the directory at the same path, as the files' owner (one user for both; `rdmagate dpu`
 * runs them in one process).
 *
 * A key is `<dir>/opi_<owner>_<id>_psk_<generation>`: owner `rc` (a remote controller) or `ss`
 * (a subsystem). A PSK changed is always a new file: the caller has compared it with the one it
 * recorded (holds). Files no record names are removed (prune), after the change that stopped
 * using them.
 */
import { KeyDir, type KeyFile } from '../key-dir';

export type KeyOwner = 'rc' | 'ss';

const NAME = /^opi_(rc|ss)_([a-z0-9-]+)_psk_(\d{1,16})$/;

export class OpiKeyDir {
  readonly #files: KeyDir;

  constructor(dir: string) {
    this.#files = new KeyDir(dir);
  }

  get dir(): string {
    return this.#files.dir;
  }

  /** The file of key `name`. */
  file(name: string): KeyFile {
    return this.#files.file(name);
  }

  /** Whether key `name`'s file holds `secret` (compared in constant time); false for a file gone. */
  async holds(name: string, secret: string): Promise<boolean> {
    return await this.#files.holds(name, secret);
  }

  /** A new file holding `secret` as the PSK of `owner` `id`. */
  async store(owner: KeyOwner, id: string, secret: string): Promise<KeyFile> {
    return await this.#files.create(`opi_${owner}_${id}_psk_`, secret);
  }

  /** Removes the key files whose names are not in `keep`; resolves with those removed. */
  async prune(keep: ReadonlySet<string>): Promise<string[]> {
    const gone = (await this.#files.names()).filter((n) => NAME.test(n) && !keep.has(n));
    await this.#files.remove(gone);
    return gone;
  }
}
