/** Structured logs: one JSON object per line ({ts, level, msg, ...fields}), to stderr by default. */
import type { JsonValue } from '../jsonrpc/json';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogEntry {
  /** ISO 8601 time. */
  ts: string;
  level: LogLevel;
  msg: string;
  [field: string]: JsonValue;
}

export type LogSink = (entry: LogEntry) => void;

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** JSON lines on stderr, from `minLevel` up: what `rdmagate gateway` and an embedder get unless they pass `log`. */
export function stderrSink(minLevel: LogLevel = 'info'): LogSink {
  return (entry) => {
    if (RANK[entry.level] >= RANK[minLevel]) process.stderr.write(JSON.stringify(entry) + '\n');
  };
}

export class Logger {
  constructor(private readonly sink: LogSink) {}

  debug(msg: string, fields: Record<string, JsonValue> = {}): void { this.#log('debug', msg, fields); }
  info(msg: string, fields: Record<string, JsonValue> = {}): void { this.#log('info', msg, fields); }
  warn(msg: string, fields: Record<string, JsonValue> = {}): void { this.#log('warn', msg, fields); }
  error(msg: string, fields: Record<string, JsonValue> = {}): void { this.#log('error', msg, fields); }

  #log(level: LogLevel, msg: string, fields: Record<string, JsonValue>): void {
    // ts, level and msg lead each line, and a field cannot replace them.
    const entry: LogEntry = { ts: new Date().toISOString(), level, msg };
    for (const [k, v] of Object.entries(fields)) if (!Object.hasOwn(entry, k)) entry[k] = v;
    this.sink(entry);
  }
}
