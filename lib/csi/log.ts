/**
 * Logging for the CSI services: the gateway's structured JSON lines, with every `secrets`
 * field replaced before anything is written. CSI marks those fields csi_secret: the CO
 * hands us credentials there and the spec forbids logging them.
 */
import type { JsonValue } from '../jsonrpc';
import { Logger, type LogSink } from '../log/logger';

export const REDACTED = '***REDACTED***';

/**
 * A JSON copy of `value` with each `secrets` field, at any depth, replaced by REDACTED.
 * Values JSON cannot hold (functions, undefined) are dropped; bigints become strings.
 */
export function redactSecrets(value: unknown): JsonValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (typeof value === 'object') {
    const out: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'function' || v === undefined) continue;
      out[k] = k === 'secrets' ? REDACTED : redactSecrets(v);
    }
    return out;
  }
  return null;
}

/** A Logger whose fields are always redacted. */
export class CsiLogger {
  readonly #log: Logger;
  constructor(sink: LogSink) {
    this.#log = new Logger(sink);
  }

  debug(msg: string, fields: Record<string, unknown> = {}): void { this.#log.debug(msg, redactFields(fields)); }
  info(msg: string, fields: Record<string, unknown> = {}): void { this.#log.info(msg, redactFields(fields)); }
  warn(msg: string, fields: Record<string, unknown> = {}): void { this.#log.warn(msg, redactFields(fields)); }
  error(msg: string, fields: Record<string, unknown> = {}): void { this.#log.error(msg, redactFields(fields)); }
}

function redactFields(fields: Record<string, unknown>): Record<string, JsonValue> {
  return redactSecrets(fields) as Record<string, JsonValue>;
}
