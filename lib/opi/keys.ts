/**
 * The bridge's key directory: the NVMe/TCP TLS PSKs that OPI requests carry (a remote
 * controller's tcp.psk, a subsystem's spec.psk), one file each, mode 0600, which the gateway's
 * keyring reads (keyring_file_add_key, as SPDK's keyring_file): the PSK never travels over
 * JSON-RPC, and the bridge's state file keeps only the key's name. So the gateway must read the
 * directory at the same path, as the files' owner (one user for both; `rdmagate dpu` runs them
 * in one process).
 *
 * A key is `<dir>/opi_<owner>_psk_<generation>`: owner `rc_<id>` (a remote controller) or
 * `ss_<id>` (a subsystem), generation the time it was written in ms, at least one more than any
 * before it. A changed PSK is a new file and name, never a rewrite: the gateway read the old
 * file when it added that key. Files no record names are removed (prune), after the change
 * that stopped using them.
 */
import { timingSafeEqual } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileDurably } from '../durable-file';

/** A key file, and the key's name in the gateway's keyring. */
export interface KeyFile {
  name: string;
  path: string;
}

export type KeyOwner = 'rc' | 'ss';

const NAME = /^opi_(rc|ss)_([a-z0-9-]+)_psk_(\d{1,16})$/;

export class OpiKeyDir {
  readonly dir: string;

  constructor(dir: string) {
    // The gateway opens the files by this path: never one relative to another process's directory.
    this.dir = resolve(dir);
  }

  /** The file of key `name`. */
  file(name: string): KeyFile {
    return { name, path: join(this.dir, name) };
  }

  /** Whether key `name`'s file holds `secret` (compared in constant time); false for a file gone. */
  async holds(name: string, secret: string): Promise<boolean> {
    const have = Buffer.from((await readFile(join(this.dir, name), 'utf8').catch(() => '')).trim(), 'utf8');
    const want = Buffer.from(secret, 'utf8');
    return have.length === want.length && timingSafeEqual(have, want);
  }

  /** A new file holding `secret` as the PSK of `owner` `id`. */
  async store(owner: KeyOwner, id: string, secret: string): Promise<KeyFile> {
    const prefix = `opi_${owner}_${id}_psk_`;
    let newest = 0;
    for (const n of await this.#names()) if (n.startsWith(prefix)) newest = Math.max(newest, Number(n.slice(prefix.length)));
    const name = `${prefix}${Math.max(Date.now(), newest + 1)}`;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileDurably(join(this.dir, name), `${secret}\n`);
    return this.file(name);
  }

  /** Removes the key files whose names are not in `keep`; resolves with those removed. */
  async prune(keep: ReadonlySet<string>): Promise<string[]> {
    const gone: string[] = [];
    for (const n of await this.#names()) {
      if (keep.has(n)) continue;
      await rm(join(this.dir, n), { force: true });
      gone.push(n);
    }
    return gone;
  }

  async #names(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((n) => NAME.test(n));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }
}
