/**
 * Splits a byte stream into JSON values written back to back, as SPDK's rpc.py and
 * JSON-RPC server do: no length prefix and no delimiter, only optional whitespace. The
 * scan keeps its state across chunks, so a value split over many reads costs one pass.
 */
import { StringDecoder } from 'node:string_decoder';

export type JsonStreamItem = { ok: true; value: unknown } | { ok: false; message: string };

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);
/** Characters that end a bare top-level scalar (number, true, false, null). */
const SCALAR_END = new Set([' ', '\t', '\n', '\r', '{', '}', '[', ']', '"', ',', ':']);

export class JsonStreamParser {
  readonly #decoder = new StringDecoder('utf8');
  readonly #maxValueLength: number;
  #buf = '';
  #pos = 0;
  /** Where the value being scanned starts in #buf; -1 between values. */
  #start = -1;
  #depth = 0;
  #inString = false;
  #escape = false;
  #scalar = false;
  #failed = false;

  /** `maxValueLength`: the largest value, in characters, before the stream is declared bad. */
  constructor(maxValueLength = 16 * 1024 * 1024) {
    this.#maxValueLength = maxValueLength;
  }

  /** A value has begun and is not complete yet. */
  get partial(): boolean {
    return !this.#failed && this.#start !== -1;
  }

  /**
   * The values completed by this chunk, in order. An item with ok: false ends the stream:
   * nothing after malformed JSON can be framed again, so later calls return nothing.
   */
  push(chunk: Buffer | string): JsonStreamItem[] {
    if (this.#failed) return [];
    this.#buf += typeof chunk === 'string' ? chunk : this.#decoder.write(chunk);
    return this.#scan();
  }

  /** The end of the stream: completes a pending bare scalar, or reports a truncated value. */
  end(): JsonStreamItem[] {
    if (this.#failed) return [];
    this.#buf += this.#decoder.end();
    const out = this.#scan();
    if (this.#failed) return out;
    if (this.#scalar) {
      out.push(this.#emit(this.#buf.length));
    } else if (this.#start !== -1) {
      out.push(this.#fail('truncated JSON value at the end of the stream'));
    }
    return out;
  }

  #scan(): JsonStreamItem[] {
    const out: JsonStreamItem[] = [];
    const buf = this.#buf;
    let i = this.#pos;
    for (; i < buf.length && !this.#failed; i++) {
      const c = buf[i];
      if (this.#start === -1) {
        if (WHITESPACE.has(c)) continue;
        this.#start = i;
        if (c === '{' || c === '[') this.#depth = 1;
        else if (c === '"') this.#inString = true;
        else if (SCALAR_END.has(c)) out.push(this.#fail(`unexpected '${c}' between JSON values`));
        else this.#scalar = true;
      } else if (this.#scalar) {
        if (SCALAR_END.has(c)) {
          out.push(this.#emit(i));
          i--; // c starts the next value (or is whitespace): look at it again
        }
      } else if (this.#inString) {
        if (this.#escape) this.#escape = false;
        else if (c === '\\') this.#escape = true;
        else if (c === '"') {
          this.#inString = false;
          if (this.#depth === 0) out.push(this.#emit(i + 1));
        }
      } else if (c === '"') {
        this.#inString = true;
      } else if (c === '{' || c === '[') {
        this.#depth++;
      } else if (c === '}' || c === ']') {
        if (--this.#depth === 0) out.push(this.#emit(i + 1));
      }
    }
    if (!this.#failed && this.#start !== -1 && i - this.#start > this.#maxValueLength) {
      out.push(this.#fail(`a JSON value exceeds ${this.#maxValueLength} characters`));
    }
    // Drop what is consumed, so the buffer holds at most the value in progress.
    const keep = this.#start === -1 ? i : this.#start;
    this.#buf = buf.slice(keep);
    this.#pos = i - keep;
    if (this.#start !== -1) this.#start -= keep;
    return out;
  }

  /** Parses #buf[#start, end) and resets the scanner for the next value. */
  #emit(end: number): JsonStreamItem {
    const text = this.#buf.slice(this.#start, end);
    this.#start = -1;
    this.#depth = 0;
    this.#scalar = false;
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch (e) {
      return this.#fail(`invalid JSON: ${(e as Error).message}`);
    }
  }

  #fail(message: string): JsonStreamItem {
    this.#failed = true;
    return { ok: false, message };
  }
}
