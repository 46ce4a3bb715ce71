/**
 * A JSON document kept in one file and replaced atomically: written to a temporary file,
 * fsynced, renamed over the old one, and the directory fsynced, so that a crash leaves
 * either the old state or the new one, never a torn file.
 */
import { readFile } from 'node:fs/promises';
import { writeFileDurably } from '../../durable-file';
import { RdmagateError } from '../../errors';

export class StateFile<T> {
  #chain: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  /** The saved document, or undefined when there is none yet. A corrupt file is an error: volumes must not be forgotten silently. */
  async load(): Promise<T | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new RdmagateError('ERR_CORRUPT_STATE', `${this.path} is not valid JSON (${(e as Error).message}); ` +
        'fix or restore it: the volumes it lists would otherwise be lost');
    }
  }

  /**
   * Writes `doc` (serialised now, so later changes to it are not included). Saves run one
   * after another in call order; each resolves once its own write is durable.
   */
  save(doc: T): Promise<void> {
    const text = JSON.stringify(doc, null, 2) + '\n';
    const next = this.#chain.then(() => this.#write(text));
    // A failed save fails its caller; the next save still runs.
    this.#chain = next.catch(() => undefined);
    return next;
  }

  #write(text: string): Promise<void> {
    return writeFileDurably(this.path, text);
  }
}
