/**
 * The gateway's durable config: save_config's JSON in one file, replaced atomically after
 * each change (a temporary file in the same directory, fsync, rename, fsync of the
 * directory), so a crash leaves either the old file or the new one, never a torn one.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeFileDurably } from '../durable-file';
import { InvalidArgumentError, RdmagateError } from '../errors';
import type { JsonValue } from '../jsonrpc/json';

export class ConfigStore {
  /** Writes in order, one at a time: a later write never lands before an earlier one. */
  #chain: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  /**
   * Creates the directory (mode 0700), so that a start fails early where saving would fail,
   * and removes the temporary files of writes that a killed process left behind (those of
   * a process still running may be in flight, and stay).
   */
  async prepare(): Promise<void> {
    const dir = dirname(this.path);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const prefix = `.${basename(this.path)}.`;
      for (const name of await readdir(dir)) {
        const pid = name.startsWith(prefix) && name.endsWith('.tmp') ? Number(name.slice(prefix.length).split('.')[0]) : NaN;
        if (Number.isInteger(pid) && pid > 0 && !alive(pid)) await rm(join(dir, name), { force: true });
      }
    } catch (e) {
      throw writeError(this.path, e);
    }
  }

  /** The saved config, or undefined when there is no file yet. */
  async load(): Promise<unknown> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new RdmagateError('ERR_CONFIG_READ', `cannot read config ${this.path}: ${(e as Error).message}`);
    }
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new InvalidArgumentError(`config ${this.path} is not valid JSON: ${(e as Error).message}`);
    }
  }

  /**
   * Queues a write of `snapshot()`. The snapshot is taken when the write starts, so a write
   * queued behind others carries every change made before it.
   */
  save(snapshot: () => JsonValue): Promise<void> {
    const run = this.#chain.then(() => this.#write(JSON.stringify(snapshot(), null, 2) + '\n'));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** Resolves when every queued write has finished. */
  idle(): Promise<void> {
    return this.#chain;
  }

  async #write(text: string): Promise<void> {
    try {
      await writeFileDurably(this.path, text);
    } catch (e) {
      throw writeError(this.path, e);
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';  // someone else's process
  }
}

function writeError(path: string, e: unknown): RdmagateError {
  return new RdmagateError('ERR_CONFIG_WRITE', `cannot save config ${path}: ${(e as Error).message}`);
}
