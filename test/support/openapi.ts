/**
 * Checks HTTP exchanges against an OpenAPI 3.0 document: the request's path and method
 * must be one of its operations, path and query parameters and the JSON body must match
 * their schemas, and the response's body the schema of its status. The schema validator
 * covers the subset the Mayastor v0 spec uses (type, format, enum, required, properties,
 * additionalProperties, minProperties, items, minimum/maximum, $ref, allOf, oneOf,
 * anyOf, nullable) and refuses any other keyword, so that nothing goes unchecked silently.
 */
import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';

export type Schema = Record<string, unknown>;

interface Parameter {
  in: 'path' | 'query' | 'header' | 'cookie';
  name: string;
  required?: boolean;
  schema?: Schema;
}

interface Operation {
  operationId?: string;
  /** Parameter objects, or $refs to them. */
  parameters?: Schema[];
  requestBody?: Schema;
  responses: Record<string, Schema>;
}

interface Document {
  servers?: { url: string }[];
  paths: Record<string, Record<string, unknown>>;
  components?: Record<string, Record<string, Schema>>;
}

export interface MatchedOperation {
  method: string;
  /** The spec's path template, e.g. /volumes/{volume_id}. */
  template: string;
  operationId: string;
  operation: Operation;
  pathParams: Record<string, string>;
}

/** Keywords the validator checks, and those that only document. */
const CHECKED = new Set(['type', 'format', 'enum', 'required', 'properties', 'additionalProperties', 'minProperties', 'items',
  'minimum', 'maximum', '$ref', 'allOf', 'oneOf', 'anyOf', 'nullable']);
const ANNOTATIONS = new Set(['description', 'example', 'default', 'title', 'readOnly', 'writeOnly', 'deprecated']);
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;
const INT_RANGE: Record<string, [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1], uint8: [0, 255], uint16: [0, 65535], uint32: [0, 2 ** 32 - 1],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], uint64: [0, Number.MAX_SAFE_INTEGER],
};

export class OpenApi {
  readonly basePath: string;
  readonly #doc: Document;
  readonly #routes: { template: string; regex: RegExp; names: string[]; literal: number }[];

  constructor(doc: Document) {
    this.#doc = doc;
    const server = doc.servers?.[0]?.url ?? '';
    this.basePath = server.startsWith('/') ? server.replace(/\/$/, '') : server ? new URL(server).pathname.replace(/\/$/, '') : '';
    this.#routes = Object.keys(doc.paths).map((template) => {
      const names: string[] = [];
      const parts = template.split(/\{([^}]+)\}/);
      let source = '^';
      let literal = 0;
      parts.forEach((p, i) => {
        if (i % 2 === 1) {
          names.push(p);
          source += '([^/]+)';
        } else {
          literal += p.length;
          source += p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        }
      });
      return { template, regex: new RegExp(source + '$'), names, literal };
    });
  }

  static load(path: string): OpenApi {
    return new OpenApi(load(readFileSync(path, 'utf8')) as Document);
  }

  /** The operations the document defines, by operationId. */
  operationIds(): string[] {
    return Object.values(this.#doc.paths).flatMap((item) => METHODS.filter((m) => m in item)
      .map((m) => (item[m] as Operation).operationId ?? '')).filter((x) => x);
  }

  /**
   * The operation a request is for: concrete path segments are preferred to templated
   * ones (OpenAPI's rule), so /volumes/snapshots is not /volumes/{volume_id}.
   */
  match(method: string, pathname: string): MatchedOperation | string {
    if (!pathname.startsWith(this.basePath + '/')) return `${pathname} is not under the server's base path ${this.basePath}`;
    const rel = pathname.slice(this.basePath.length);
    const candidates = this.#routes.map((r) => ({ r, m: r.regex.exec(rel) })).filter((x) => x.m !== null)
      .sort((a, b) => b.r.literal - a.r.literal);
    if (candidates.length === 0) return `no path of the spec matches ${rel}`;
    const m = method.toLowerCase();
    for (const { r, m: found } of candidates) {
      const item = this.#doc.paths[r.template];
      const op = item[m] as Operation | undefined;
      if (!op) continue;
      const pathParams: Record<string, string> = {};
      r.names.forEach((n, i) => { pathParams[n] = decodeURIComponent(found![i + 1]); });
      return { method: m, template: r.template, operationId: op.operationId ?? `${m} ${r.template}`, operation: op, pathParams };
    }
    return `the spec has no ${method} for ${rel} (${candidates.map((c) => c.r.template).join(', ')})`;
  }

  /** What is wrong with a request for `op` (path and query parameters, body): empty when nothing. */
  checkRequest(op: MatchedOperation, query: URLSearchParams, body: unknown): string[] {
    const errors: string[] = [];
    const params = (op.operation.parameters ?? []).map((p) => this.#resolve(p) as unknown as Parameter);
    for (const p of params) {
      const raw = p.in === 'path' ? op.pathParams[p.name] : p.in === 'query' ? query.get(p.name) ?? undefined : undefined;
      if (p.in !== 'path' && p.in !== 'query') continue;
      if (raw === undefined) {
        if (p.required) errors.push(`${p.in} parameter ${p.name} is required`);
        continue;
      }
      if (p.schema) errors.push(...this.validate(p.schema, this.#coerce(p.schema, raw), `${p.in} parameter ${p.name}`));
    }
    for (const k of new Set(query.keys())) {
      if (!params.some((p) => p.in === 'query' && p.name === k)) errors.push(`query parameter ${k} is not in the spec`);
    }
    const rb = op.operation.requestBody ? this.#resolve(op.operation.requestBody) : undefined;
    if (!rb) {
      if (body !== undefined) errors.push('the operation takes no body, and one was sent');
    } else if (body === undefined) {
      if (rb.required) errors.push('the request body is required');
    } else {
      const schema = ((rb.content as Record<string, { schema?: Schema }> | undefined)?.['application/json'])?.schema;
      if (!schema) errors.push('the operation has no application/json body');
      else errors.push(...this.validate(schema, body, 'request body'));
    }
    return errors;
  }

  /** What is wrong with a response of `op` with this status and body. */
  checkResponse(op: MatchedOperation, status: number, body: unknown): string[] {
    const r = op.operation.responses;
    const decl = r[String(status)] ?? r[`${String(status)[0]}XX`] ?? r.default;
    if (!decl) return [`status ${status} is not among the responses of ${op.operationId} (${Object.keys(r).join(', ')})`];
    const resolved = this.#resolve(decl);
    const schema = ((resolved.content as Record<string, { schema?: Schema }> | undefined)?.['application/json'])?.schema;
    if (!schema) return body === undefined ? [] : [`${op.operationId} ${status} has no body in the spec, and one was sent`];
    if (body === undefined) return [`${op.operationId} ${status} must have a body`];
    return this.validate(schema, body, `response ${status}`);
  }

  /** What is wrong with `value` under `schema`: empty when nothing. */
  validate(schema: Schema, value: unknown, at = '$'): string[] {
    const s = this.#resolve(schema);
    for (const k of Object.keys(s)) {
      if (!CHECKED.has(k) && !ANNOTATIONS.has(k) && !k.startsWith('x-')) throw new Error(`${at}: schema keyword "${k}" is not supported by this validator`);
    }
    if (value === null) return s.nullable === true ? [] : [`${at}: null is not allowed`];
    const errors: string[] = [];
    const type = s.type as string | undefined;
    if (type !== undefined && !hasType(value, type)) return [`${at}: expected ${type}, got ${describe(value)}`];
    if (Array.isArray(s.enum) && !s.enum.includes(value)) errors.push(`${at}: ${JSON.stringify(value)} is not one of ${s.enum.join(', ')}`);
    if (typeof value === 'string' && s.format === 'uuid' && !UUID.test(value)) errors.push(`${at}: "${value}" is not a uuid`);
    if (typeof value === 'string' && s.format === 'date-time' && !DATE_TIME.test(value)) errors.push(`${at}: "${value}" is not a date-time`);
    if (typeof value === 'number') {
      const range = typeof s.format === 'string' ? INT_RANGE[s.format] : undefined;
      if (range && (!Number.isInteger(value) || value < range[0] || value > range[1])) errors.push(`${at}: ${value} is not a ${s.format}`);
      if (typeof s.minimum === 'number' && value < s.minimum) errors.push(`${at}: ${value} is below the minimum ${s.minimum}`);
      if (typeof s.maximum === 'number' && value > s.maximum) errors.push(`${at}: ${value} is above the maximum ${s.maximum}`);
    }
    if (Array.isArray(value) && s.items) value.forEach((v, i) => errors.push(...this.validate(s.items as Schema, v, `${at}[${i}]`)));
    if (isObject(value)) {
      const props = (s.properties ?? {}) as Record<string, Schema>;
      for (const r of (s.required as string[] | undefined) ?? []) if (!(r in value)) errors.push(`${at}: ${r} is required`);
      if (typeof s.minProperties === 'number' && Object.keys(value).length < s.minProperties) {
        errors.push(`${at}: at least ${s.minProperties} properties are required`);
      }
      for (const [k, v] of Object.entries(value)) {
        if (props[k]) errors.push(...this.validate(props[k], v, `${at}.${k}`));
        else if (s.additionalProperties === false) errors.push(`${at}: property ${k} is not allowed`);
        else if (isObject(s.additionalProperties)) errors.push(...this.validate(s.additionalProperties as Schema, v, `${at}.${k}`));
      }
    }
    for (const sub of (s.allOf as Schema[] | undefined) ?? []) errors.push(...this.validate(sub, value, at));
    if (Array.isArray(s.oneOf)) {
      const passing = (s.oneOf as Schema[]).filter((sub) => this.validate(sub, value, at).length === 0).length;
      if (passing !== 1) errors.push(`${at}: matches ${passing} of the oneOf schemas, not exactly one`);
    }
    if (Array.isArray(s.anyOf) && !(s.anyOf as Schema[]).some((sub) => this.validate(sub, value, at).length === 0)) {
      errors.push(`${at}: matches none of the anyOf schemas`);
    }
    return errors;
  }

  /** A $ref'd object, followed (JSON pointers within this document only). */
  #resolve(s: Schema): Schema {
    let cur = s;
    for (let i = 0; typeof cur.$ref === 'string'; i++) {
      if (i > 32) throw new Error(`$ref loop at ${String(s.$ref)}`);
      const ref = cur.$ref;
      if (!ref.startsWith('#/')) throw new Error(`only local $refs are supported, got ${ref}`);
      let node: unknown = this.#doc;
      for (const part of ref.slice(2).split('/')) node = (node as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
      if (!isObject(node)) throw new Error(`$ref ${ref} does not resolve`);
      cur = node as Schema;
    }
    return cur;
  }

  /** A path or query parameter as the type its schema says (they arrive as text). */
  #coerce(schema: Schema, raw: string): unknown {
    const type = this.#resolve(schema).type;
    if (type === 'integer' || type === 'number') return /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
    if (type === 'boolean') return raw === 'true' ? true : raw === 'false' ? false : raw;
    return raw;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function hasType(v: unknown, type: string): boolean {
  switch (type) {
    case 'object': return isObject(v);
    case 'array': return Array.isArray(v);
    case 'string': return typeof v === 'string';
    case 'integer': return typeof v === 'number' && Number.isInteger(v);
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'boolean': return typeof v === 'boolean';
    default: throw new Error(`schema type "${type}" is not supported by this validator`);
  }
}

function describe(v: unknown): string {
  return Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v;
}
