/**
 * A key directory: the files the gateway's keyring reads its keys from (keyring_file_add_key,
 * as SPDK's keyring_file), one secret each (a DH-HMAC-CHAP secret, an NVMe/TCP TLS PSK), mode
 * 0600, the file's name the key's name in the keyring. The gateway takes keys only from files,
 * so that no secret travels over JSON-RPC or lands in its saved config.
 *
 * The gateway must read the files at the same path, as their owner: its keyring refuses a file
 * that is not its own user's or whose mode gives anyone else anything.
 *
 * A key is named `<prefix><generation>`: the prefix says whose key it is, in its user's scheme
 * (the CSI controller's csi/key-dir.ts, the OPI bridge's opi/keys.ts); the generation is the
 * time it was written in ms, at least one more than any before it under that prefix. A changed
 * secret is a new file, never a rewrite: the gateway read the old one when it added that key,
 * so a new name is the only way it reads the new secret, and a gateway that missed the change
 * still holds a name that says it is stale.
 *
 * Files are written to a temporary name and renamed, so that a name found is a whole secret.
 */
import { timingSafeEqual } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileDurably } from './durable-file';

/** A key file, and the key's name in the gateway's keyring. */
export interface KeyFile {
  name: string;
  path: string;
}

const GENERATION = /^\d{1,16}$/;

export class KeyDir {
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

  /** Every name in the directory; none while there is no directory. */
  async names(): Promise<string[]> {
    try {
      return await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  /** The newest file under `prefix` that holds `secret` already (a change repeated), else a new one. */
  async store(prefix: string, secret: string): Promise<KeyFile> {
    const mine = await this.#generations(prefix);
    for (const { name } of mine) if (await this.holds(name, secret)) return this.file(name);
    return await this.#write(prefix, mine[0]?.generation ?? 0, secret);
  }

  /** A new file under `prefix` holding `secret`, whatever the others hold. */
  async create(prefix: string, secret: string): Promise<KeyFile> {
    return await this.#write(prefix, (await this.#generations(prefix))[0]?.generation ?? 0, secret);
  }

  /** Removes the files of keys `names`; one gone already is fine. */
  async remove(names: Iterable<string>): Promise<void> {
    for (const name of names) await rm(join(this.dir, name), { force: true });
  }

  /** The keys named `<prefix><generation>`, newest first. */
  async #generations(prefix: string): Promise<{ name: string; generation: number }[]> {
    return (await this.names())
      .filter((name) => name.startsWith(prefix) && GENERATION.test(name.slice(prefix.length)))
      .map((name) => ({ name, generation: Number(name.slice(prefix.length)) }))
      .sort((a, b) => b.generation - a.generation);
  }

  /** Writes a new file (durably, 0600) under `prefix`, a generation after `newest`. */
  async #write(prefix: string, newest: number, secret: string): Promise<KeyFile> {
    const name = `${prefix}${Math.max(Date.now(), newest + 1)}`;
    // Made here, on the first key written: a user that needs no keys needs no directory.
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileDurably(join(this.dir, name), `${secret}\n`);
    return this.file(name);
  }
}
