/**
 * A client for the part of the Mayastor control plane's REST API v0 the CSI plugin uses:
 * pools (for capacity), volumes (create, get, list, delete, resize), the volume target
 * (publish over NVMe-oF, unpublish), snapshots (create, get, list, delete) and volumes
 * restored from a snapshot. Paths, verbs and field names are the v0 spec's.
 *
 * Every failure is a CsiError: an answer that is not a success is a MayastorApiError
 * (its code from the RestJsonError kind), a control plane that cannot be reached is
 * UNAVAILABLE, one that does not answer in time DEADLINE_EXCEEDED.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { internal, invalidArgument } from '../../errors';
import type {
  CreateVolumeBody, Pool, PublishVolumeBody, RestJsonError, Volume, Volumes, VolumeSnapshot, VolumeSnapshots,
} from './api';
import { MayastorApiError, MayastorUnreachableError } from './errors';

/** The spec's `servers` entry: every path is under it. */
const BASE_PATH = '/v0';
const PAGE_SIZE = 256;
const MAX_BODY_BYTES = 64 << 20;
// A connection per request: CSI calls are few, and a kept-alive socket the server has
// closed meanwhile would fail the next request with ECONNRESET (Node's global agents keep alive).
const HTTP_AGENT = new HttpAgent({ keepAlive: false });
const HTTPS_AGENT = new HttpsAgent({ keepAlive: false });

export interface MayastorClientOptions {
  /** http(s)://host:port of the REST service, with or without the /v0 base path. */
  endpoint: string;
  /** Per request; default 30 s. */
  timeoutMs?: number;
  /** A bearer token, where the REST service requires JWT authentication. */
  token?: string;
}

type Query = Record<string, string | number | boolean | undefined>;

export class MayastorClient {
  readonly endpoint: string;
  readonly #base: URL;
  readonly #timeoutMs: number;
  readonly #token: string | undefined;

  constructor(options: MayastorClientOptions) {
    let url: URL;
    try {
      url = new URL(options.endpoint);
    } catch {
      throw invalidArgument(`the Mayastor endpoint must be an http(s) URL, got ${JSON.stringify(options.endpoint)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw invalidArgument(`the Mayastor endpoint must be an http(s) URL, got ${JSON.stringify(options.endpoint)}`);
    }
    const path = url.pathname.replace(/\/+$/, '');
    url.pathname = path.endsWith(BASE_PATH) ? path : path + BASE_PATH;
    url.search = '';
    url.hash = '';
    this.#base = url;
    this.endpoint = url.origin;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#token = options.token;
  }

  /** GET /pools. */
  async pools(): Promise<Pool[]> {
    const list = await this.#json<Pool[]>('GET', '/pools');
    if (!Array.isArray(list)) throw unexpected('GET /pools', 'an array of pools');
    return list;
  }

  /** GET /volumes/{volume_id}. */
  async volume(id: string): Promise<Volume> {
    return checkVolume(await this.#json<Volume>('GET', `/volumes/${seg(id)}`), `GET /volumes/${id}`);
  }

  /** GET /volumes, every page. */
  async volumes(): Promise<Volume[]> {
    return this.#allPages<Volume, Volumes>('/volumes', {});
  }

  /** PUT /volumes/{volume_id}. */
  async createVolume(id: string, body: CreateVolumeBody): Promise<Volume> {
    return checkVolume(await this.#json<Volume>('PUT', `/volumes/${seg(id)}`, { body }), `PUT /volumes/${id}`);
  }

  /** DELETE /volumes/{volume_id}. */
  async deleteVolume(id: string): Promise<void> {
    await this.#call('DELETE', `/volumes/${seg(id)}`);
  }

  /** PUT /volumes/{volume_id}/size. */
  async resizeVolume(id: string, size: number): Promise<Volume> {
    return checkVolume(await this.#json<Volume>('PUT', `/volumes/${seg(id)}/size`, { body: { size } }), `PUT /volumes/${id}/size`);
  }

  /** PUT /volumes/{volume_id}/target: makes the volume's nexus and shares it. */
  async publishVolume(id: string, body: PublishVolumeBody): Promise<Volume> {
    return checkVolume(await this.#json<Volume>('PUT', `/volumes/${seg(id)}/target`, { body }), `PUT /volumes/${id}/target`);
  }

  /** DELETE /volumes/{volume_id}/target. */
  async unpublishVolume(id: string, force = false): Promise<Volume> {
    const query = force ? { force: true } : {};
    return checkVolume(await this.#json<Volume>('DELETE', `/volumes/${seg(id)}/target`, { query }), `DELETE /volumes/${id}/target`);
  }

  /** PUT /volumes/{volume_id}/snapshots/{snapshot_id}. */
  async createSnapshot(volumeId: string, snapshotId: string): Promise<VolumeSnapshot> {
    const path = `/volumes/${seg(volumeId)}/snapshots/${seg(snapshotId)}`;
    return checkSnapshot(await this.#json<VolumeSnapshot>('PUT', path), `PUT ${path}`);
  }

  /** GET /volumes/snapshots/{snapshot_id}. */
  async snapshot(snapshotId: string): Promise<VolumeSnapshot> {
    const path = `/volumes/snapshots/${seg(snapshotId)}`;
    return checkSnapshot(await this.#json<VolumeSnapshot>('GET', path), `GET ${path}`);
  }

  /** GET /volumes/snapshots, every page; of one source volume when given. */
  async snapshots(volumeId?: string): Promise<VolumeSnapshot[]> {
    return this.#allPages<VolumeSnapshot, VolumeSnapshots>('/volumes/snapshots', { volume_id: volumeId });
  }

  /** DELETE /volumes/snapshots/{snapshot_id}. */
  async deleteSnapshot(snapshotId: string): Promise<void> {
    await this.#call('DELETE', `/volumes/snapshots/${seg(snapshotId)}`);
  }

  /** PUT /snapshots/{snapshot_id}/volumes/{volume_id}: a new volume with the snapshot's content. */
  async restoreSnapshot(snapshotId: string, volumeId: string, body: CreateVolumeBody): Promise<Volume> {
    const path = `/snapshots/${seg(snapshotId)}/volumes/${seg(volumeId)}`;
    return checkVolume(await this.#json<Volume>('PUT', path, { body }), `PUT ${path}`);
  }

  /** The list endpoints page with max_entries and next_token/starting_token. */
  async #allPages<T, P extends { entries: T[]; next_token?: number }>(path: string, query: Query): Promise<T[]> {
    const out: T[] = [];
    let token: number | undefined;
    for (;;) {
      const page = await this.#json<P>('GET', path, { query: { ...query, max_entries: PAGE_SIZE, starting_token: token } });
      if (!page || !Array.isArray(page.entries)) throw unexpected(`GET ${path}`, 'a page with entries');
      out.push(...page.entries);
      const next = page.next_token;
      if (next === undefined || next === null || page.entries.length === 0) return out;
      // A token that does not move on would page forever.
      if (!Number.isInteger(next) || (token !== undefined && next <= token)) throw unexpected(`GET ${path}`, 'a next_token past the last one');
      token = next;
    }
  }

  async #json<T>(method: string, path: string, opts: { query?: Query; body?: object } = {}): Promise<T> {
    const res = await this.#call(method, path, opts);
    if (res === undefined) throw unexpected(`${method} ${path}`, 'a JSON body');
    return res as T;
  }

  /** One request; resolves with the parsed body, or undefined for an empty one (204). */
  #call(method: string, path: string, opts: { query?: Query; body?: object } = {}): Promise<unknown> {
    const url = new URL(this.#base.href.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    const https = url.protocol === 'https:';
    const send = https ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      let timedOut = false;
      const req = send(url, { method, headers, agent: https ? HTTPS_AGENT : HTTP_AGENT }, (res) => {
        readBody(res).then((text) => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            if (text.trim() === '') return resolve(undefined);
            try {
              resolve(JSON.parse(text));
            } catch {
              reject(unexpected(`${method} ${path}`, `JSON, got ${JSON.stringify(text.slice(0, 128))}`));
            }
            return;
          }
          reject(new MayastorApiError(method, path, status, restError(text), text));
        }, (e: Error) => reject(new MayastorUnreachableError(method, path, this.endpoint, e.message, timedOut)));
      });
      req.setTimeout(this.#timeoutMs, () => {
        timedOut = true;
        req.destroy(new Error(`no answer in ${this.#timeoutMs} ms`));
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        reject(new MayastorUnreachableError(method, path, this.endpoint, e.code ? `${e.code}: ${e.message}` : e.message, timedOut));
      });
      req.end(payload);
    });
  }
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) res.destroy(new Error(`the answer is larger than ${MAX_BODY_BYTES} bytes`));
      else chunks.push(c);
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('the connection closed mid-answer')));
  });
}

/** The body as a RestJsonError, if it is one. */
function restError(text: string): RestJsonError | undefined {
  try {
    const v = JSON.parse(text) as Partial<RestJsonError> | null;
    if (v && typeof v === 'object' && typeof v.kind === 'string') {
      return { kind: v.kind, details: typeof v.details === 'string' ? v.details : '', message: typeof v.message === 'string' ? v.message : '' };
    }
  } catch {
    // Not JSON (a proxy's error page): the status decides.
  }
  return undefined;
}

/** One path segment: ids are UUIDs, but nothing unescaped goes into a path. */
function seg(s: string): string {
  return encodeURIComponent(s);
}

function unexpected(what: string, expected: string) {
  return internal(`mayastor ${what}: expected ${expected}`);
}

/** The fields the plugin relies on: a body without them is a bug, not a volume. */
function checkVolume(v: Volume, what: string): Volume {
  if (typeof v?.spec?.uuid !== 'string' || typeof v.spec.size !== 'number' || typeof v.state !== 'object' || v.state === null) {
    throw unexpected(what, 'a Volume with spec.uuid, spec.size and state');
  }
  return v;
}

function checkSnapshot(s: VolumeSnapshot, what: string): VolumeSnapshot {
  if (typeof s?.definition?.spec?.uuid !== 'string' || typeof s.definition.metadata?.size !== 'number' || typeof s.state !== 'object') {
    throw unexpected(what, 'a VolumeSnapshot with definition.spec.uuid, definition.metadata.size and state');
  }
  return s;
}
