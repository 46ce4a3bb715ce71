/**
 * Parameter checks for RPC methods. SPDK decodes params strictly (an unknown field is an
 * error), and so do we: every method declares its params as a shape built from these
 * checks, and a mismatch is an InvalidArgumentError (-32602) whose message names the param
 * by its path, e.g. "listen_address.trsvcid".
 */
import { InvalidArgumentError } from '../../errors';

/** Checks `value` found at `path`; returns it typed, or throws InvalidArgumentError. */
export type Check<T> = (value: unknown, path: string) => T;
export type OptionalCheck<T> = Check<T | undefined> & { readonly optional: true };
export type Shape = Record<string, Check<unknown>>;
export type Parsed<S extends Shape> = { [K in keyof S]: S[K] extends Check<infer T> ? T : never };

/**
 * What a check says of itself, so that a shape can be read as a schema: a boolean, or an
 * object of fields. Clients type their command lines by it (`rdmagate rpc`'s bare --flag).
 */
interface Described {
  readonly boolean?: true;
  readonly shape?: Shape;
}

export function optional<T>(check: Check<T>): OptionalCheck<T> {
  const c = (value: unknown, path: string): T | undefined => (value === undefined ? undefined : check(value, path));
  const { boolean: isBoolean, shape } = check as Described;
  return Object.assign(c, { optional: true as const }, isBoolean ? { boolean: true } : {}, shape ? { shape } : {});
}

function isOptional(check: Check<unknown>): boolean {
  return (check as Partial<OptionalCheck<unknown>>).optional === true;
}

export function string(opts: { maxLength?: number } = {}): Check<string> {
  return (value, path) => {
    if (typeof value !== 'string' || value.length === 0) throw bad(path, 'a non-empty string', value);
    if (opts.maxLength !== undefined && value.length > opts.maxLength) {
      throw new InvalidArgumentError(`${path} must be at most ${opts.maxLength} characters, got ${value.length}`);
    }
    return value;
  };
}

export function integer(min: number, max: number): Check<number> {
  return (value, path) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw bad(path, `an integer in [${min}, ${max}]`, value);
    }
    return value;
  };
}

export function boolean(): Check<boolean> {
  const check: Check<boolean> = (value, path) => {
    if (typeof value !== 'boolean') throw bad(path, 'true or false', value);
    return value;
  };
  return Object.assign(check, { boolean: true as const });
}

/** One of `values`, compared case-insensitively (SPDK accepts "tcp" and "TCP"); returns the canonical spelling. */
export function oneOf<const T extends string>(values: readonly T[]): Check<T> {
  return (value, path) => {
    const found = typeof value === 'string' ? values.find((v) => v.toLowerCase() === value.toLowerCase()) : undefined;
    if (found === undefined) throw bad(path, `one of ${values.join(', ')}`, value);
    return found;
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function uuid(): Check<string> {
  return (value, path) => {
    if (typeof value !== 'string' || !UUID.test(value)) throw bad(path, 'a UUID (8-4-4-4-12 hex digits)', value);
    return value.toLowerCase();
  };
}

/** A TCP port, as SPDK's trsvcid: a decimal string ("4420"), or a number. */
export function port(): Check<number> {
  return (value, path) => {
    const n = typeof value === 'string' && /^\d{1,5}$/.test(value) ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) throw bad(path, 'a port in [1, 65535]', value);
    return n;
  };
}

/** A port as SPDK's rpc.py sends it, a decimal string, accepting a number too (`--trsvcid 4421` on our CLI). */
export function portText(): Check<string> {
  const check = port();
  return (value, path) => String(check(value, path));
}

export function array<T>(item: Check<T>): Check<T[]> {
  return (value, path) => {
    if (!Array.isArray(value)) throw bad(path, 'an array', value);
    return value.map((v, i) => item(v, `${path}[${i}]`));
  };
}

/** An object with exactly these fields: missing required ones and unknown ones are errors. */
export function object<S extends Shape>(shape: S): Check<Parsed<S>> {
  const check: Check<Parsed<S>> = (value, path) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad(path, 'an object', value);
    const raw = value as Record<string, unknown>;
    const prefix = path === '' ? '' : `${path}.`;
    for (const key of Object.keys(raw)) {
      if (!Object.hasOwn(shape, key)) throw new InvalidArgumentError(`unknown param '${prefix}${key}'`);
    }
    const out: Record<string, unknown> = {};
    for (const [key, check] of Object.entries(shape)) {
      if (raw[key] === undefined && !isOptional(check)) throw new InvalidArgumentError(`missing required param '${prefix}${key}'`);
      out[key] = check(raw[key], `${prefix}${key}`);
    }
    return out as Parsed<S>;
  };
  return Object.assign(check, { shape });
}

/** The boolean params of a shape, by path (`a.b` inside an object param), in the shape's order. */
export function booleanParams(shape: Shape, prefix = ''): string[] {
  return Object.entries(shape).flatMap(([key, check]) => {
    const d = check as Described;
    if (d.boolean) return [`${prefix}${key}`];
    return d.shape ? booleanParams(d.shape, `${prefix}${key}.`) : [];
  });
}

/** A method's params: an object (absent params are {}); by-position params are refused. */
export function params<S extends Shape>(shape: S): Check<Parsed<S>> {
  const check = object(shape);
  return (value) => {
    if (Array.isArray(value)) {
      throw new InvalidArgumentError('params must be an object (by-name); by-position params are not supported');
    }
    if (value !== undefined && (value === null || typeof value !== 'object')) throw bad('params', 'an object', value);
    return check(value ?? {}, '');
  };
}

function bad(path: string, expected: string, value: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`${path} must be ${expected}, got ${describe(value)}`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}
