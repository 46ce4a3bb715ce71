/**
 * A fake Mayastor control plane: the REST API v0 routes the CSI plugin uses, over
 * node:http on 127.0.0.1, with pools, volumes, targets and snapshots kept in memory and
 * the control plane's rules for them (a PUT of an existing resource is AlreadyExists,
 * thick replicas take pool space, a restore has the snapshot's size...). Errors are
 * RestJsonError bodies with the HTTP statuses Mayastor's REST service gives each kind.
 *
 * Given an OpenApi (the v0 spec), it checks every exchange against it: a request the spec
 * does not define, parameters or a body that do not match, or a response of ours that
 * does not, are recorded in `violations` (a test fails on any) and the request is
 * answered 400 or 404. Without one, the fake serves the same, unchecked.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MatchedOperation, OpenApi } from './openapi';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

export interface FakePool {
  id: string;
  node: string;
  capacity: number;
  /** Bytes used by other things than this fake's replicas. */
  used?: number;
  status?: 'Online' | 'Degraded' | 'Faulted' | 'Unknown';
  /** A pool whose node is down: it has a spec and no state. */
  offline?: boolean;
}

interface FakeVolume {
  uuid: string;
  size: number;
  replicas: number;
  thin: boolean;
  labels: Record<string, string>;
  /** Pool id of each replica, and the replica's uuid. */
  placement: { pool: string; replica: string }[];
  target?: { node: string; nexus: string };
  source?: { snapshot: string; volume: string };
  snapshots: number;
}

interface FakeSnapshot {
  uuid: string;
  volume: string;
  size: number;
  timestamp: string;
  restores: number;
  replicas: { pool: string; replica: string; snap: string }[];
}

/** What the next matching request gets instead of its answer. */
export interface Injected {
  method?: string;
  path: RegExp;
  /** Without one, the request is answered as usual (after delayMs). */
  status?: number;
  /** A RestJsonError, or raw text (a proxy's page). */
  body?: { kind: string; details: string; message?: string } | string;
  /** Answer after this long (to see client timeouts). */
  delayMs?: number;
}

/** HTTP status of each RestJsonError kind, as Mayastor's REST service answers them. */
const STATUS_OF_KIND: Record<string, number> = {
  NotFound: 404, AlreadyExists: 422, InvalidArgument: 400, ResourceExhausted: 507, FailedPrecondition: 412,
  NotPublished: 412, AlreadyPublished: 412, Conflict: 409, Internal: 500, Unavailable: 503,
};

class RestFailure extends Error {
  constructor(readonly kind: string, readonly details: string) {
    super(details);
  }
}

type Handler = (p: Record<string, string>, q: URLSearchParams, body: unknown) => { status: number; body?: Json };

export class MayastorFakeServer {
  /** What the spec check found wrong: must stay empty. */
  readonly violations: string[] = [];
  /** Every request, in order: "PUT /v0/volumes/…". */
  readonly requests: { method: string; path: string; body: unknown }[] = [];
  /** The operationIds of the exchanges checked against the spec. */
  readonly checkedOperations = new Set<string>();
  readonly pools: FakePool[];
  readonly volumes = new Map<string, FakeVolume>();
  readonly snapshots = new Map<string, FakeSnapshot>();
  /** Where targets listen: the host:port of every device URI. */
  targetAddress = '10.1.0.5:8420';
  /**
   * What stands in for the io-engine's nexus, where one serves the data (a lab's kernel nvmet):
   * told when a volume is published, with the NQN its device URI names, and when it no longer is.
   */
  nexus: { publish(nqn: string, bytes: number): void; unpublish(nqn: string): void } | undefined;
  readonly #server: Server;
  readonly #spec: OpenApi | undefined;
  readonly #injected: Injected[] = [];
  readonly #routes: { method: string; template: string; regex: RegExp; names: string[]; handle: Handler }[] = [];
  #port = 0;

  private constructor(spec: OpenApi | undefined, pools: FakePool[]) {
    this.#spec = spec;
    this.pools = pools;
    this.#server = createServer((req, res) => { void this.#serve(req, res); });
    this.#defineRoutes();
  }

  static async start(options: { spec?: OpenApi; pools?: FakePool[] } = {}): Promise<MayastorFakeServer> {
    const fake = new MayastorFakeServer(options.spec, options.pools ?? [
      { id: 'pool-1', node: 'io-engine-1', capacity: 10 * 2 ** 30 },
      { id: 'pool-2', node: 'io-engine-2', capacity: 10 * 2 ** 30 },
      { id: 'pool-3', node: 'io-engine-3', capacity: 10 * 2 ** 30 },
    ]);
    await new Promise<void>((resolve) => fake.#server.listen(0, '127.0.0.1', resolve));
    fake.#port = (fake.#server.address() as AddressInfo).port;
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** The next request matching `i` is answered with `i`'s status and body instead. */
  inject(i: Injected): void {
    this.#injected.push(i);
  }

  /** The requests made, as "METHOD /path" without the query. */
  calls(): string[] {
    return this.requests.map((r) => `${r.method} ${r.path}`);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const text = await readBody(req);
    let body: unknown;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        return this.#send(res, undefined, 400, rest('Deserialize', `the body is not JSON: ${text.slice(0, 64)}`));
      }
    }
    const method = req.method ?? 'GET';
    this.requests.push({ method, path: url.pathname, body });

    let op: MatchedOperation | undefined;
    if (this.#spec) {
      const m = this.#spec.match(method, url.pathname);
      if (typeof m === 'string') {
        this.violations.push(`${method} ${url.pathname}: ${m}`);
        return this.#send(res, undefined, 404, rest('NotFound', m));
      }
      op = m;
      this.checkedOperations.add(op.operationId);
      const errors = this.#spec.checkRequest(op, url.searchParams, body);
      if (errors.length > 0) {
        this.violations.push(...errors.map((e) => `${method} ${url.pathname}: ${e}`));
        return this.#send(res, op, 400, rest('InvalidArgument', errors.join('; ')));
      }
    }

    const injected = this.#injected.findIndex((i) => (i.method ?? method) === method && i.path.test(url.pathname));
    if (injected >= 0) {
      const i = this.#injected.splice(injected, 1)[0];
      if (i.delayMs) await new Promise((r) => setTimeout(r, i.delayMs));
      if (i.status === undefined) return this.#answer(req.method ?? 'GET', url, body, op, res);
      if (typeof i.body === 'string') {
        res.writeHead(i.status, { 'content-type': 'text/html' });
        res.end(i.body);
        return;
      }
      const b = i.body ?? rest('Internal', 'injected');
      return this.#send(res, op, i.status, { kind: b.kind, details: b.details, message: b.message ?? '' });
    }

    return this.#answer(method, url, body, op, res);
  }

  #answer(method: string, url: URL, body: unknown, op: MatchedOperation | undefined, res: ServerResponse): void {
    const rel = url.pathname.startsWith('/v0/') ? url.pathname.slice(3) : url.pathname;
    for (const r of this.#routes) {
      const m = r.method === method ? r.regex.exec(rel) : null;
      if (!m) continue;
      if (op && op.template !== r.template) this.violations.push(`${method} ${rel}: the spec reads it as ${op.template}, the fake as ${r.template}`);
      const params: Record<string, string> = {};
      r.names.forEach((n, k) => { params[n] = decodeURIComponent(m[k + 1]); });
      try {
        const out = r.handle(params, url.searchParams, body);
        return this.#send(res, op, out.status, out.body);
      } catch (e) {
        if (e instanceof RestFailure) return this.#send(res, op, STATUS_OF_KIND[e.kind] ?? 500, rest(e.kind, e.details));
        return this.#send(res, op, 500, rest('Internal', (e as Error).message));
      }
    }
    return this.#send(res, op, 404, rest('NotFound', `the fake has no route for ${method} ${rel}`));
  }

  #send(res: ServerResponse, op: MatchedOperation | undefined, status: number, body: Json | undefined): void {
    if (op && this.#spec) {
      const errors = this.#spec.checkResponse(op, status, body);
      this.violations.push(...errors.map((e) => `answer to ${op.operationId}: ${e}`));
    }
    if (body === undefined) {
      res.writeHead(status);
      res.end();
    } else {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    }
  }

  #route(method: string, template: string, handle: Handler): void {
    const names: string[] = [];
    const source = template.replace(/\{([^}]+)\}/g, (_m, n: string) => { names.push(n); return '([^/]+)'; });
    this.#routes.push({ method, template, regex: new RegExp(`^${source}$`), names, handle });
  }

  #defineRoutes(): void {
    this.#route('GET', '/pools', () => ({ status: 200, body: this.pools.map((p) => this.#poolJson(p)) }));

    // Concrete paths first: /volumes/snapshots is not a volume.
    this.#route('GET', '/volumes/snapshots', (_p, q) => {
      let all = [...this.snapshots.values()].sort((a, b) => cmp(a.uuid, b.uuid));
      const vid = q.get('volume_id');
      const sid = q.get('snapshot_id');
      if (vid) all = all.filter((s) => s.volume === vid);
      if (sid) all = all.filter((s) => s.uuid === sid);
      return { status: 200, body: page(all.map((s) => this.#snapshotJson(s)), q) };
    });
    this.#route('GET', '/volumes/snapshots/{snapshot_id}', (p) => ({ status: 200, body: this.#snapshotJson(this.#snapshot(p.snapshot_id)) }));
    this.#route('DELETE', '/volumes/snapshots/{snapshot_id}', (p) => {
      this.#deleteSnapshot(p.snapshot_id);
      return { status: 204 };
    });

    this.#route('GET', '/volumes', (_p, q) => {
      let all = [...this.volumes.values()].sort((a, b) => cmp(a.uuid, b.uuid));
      const vid = q.get('volume_id');
      if (vid) all = all.filter((v) => v.uuid === vid);
      return { status: 200, body: page(all.map((v) => this.#volumeJson(v)), q) };
    });
    this.#route('GET', '/volumes/{volume_id}', (p) => ({ status: 200, body: this.#volumeJson(this.#volume(p.volume_id)) }));
    this.#route('PUT', '/volumes/{volume_id}', (p, _q, b) => {
      const body = b as { size: number; replicas: number; thin: boolean; labels?: Record<string, string> };
      if (this.volumes.has(p.volume_id)) throw new RestFailure('AlreadyExists', `Volume '${p.volume_id}' already exists`);
      const v = this.#makeVolume(p.volume_id, body, undefined);
      return { status: 200, body: this.#volumeJson(v) };
    });
    this.#route('DELETE', '/volumes/{volume_id}', (p) => {
      const v = this.#volume(p.volume_id);
      this.volumes.delete(v.uuid);
      return { status: 204 };
    });
    this.#route('PUT', '/volumes/{volume_id}/size', (p, _q, b) => {
      const v = this.#volume(p.volume_id);
      const size = (b as { size: number }).size;
      if (size < v.size) throw new RestFailure('InvalidArgument', `Volume '${v.uuid}' cannot shrink from ${v.size} to ${size}`);
      if (v.target) throw new RestFailure('FailedPrecondition', `Volume '${v.uuid}' is published: only unpublished volumes are resized`);
      if (!v.thin) {
        for (const r of v.placement) {
          if (this.#free(this.#pool(r.pool)) < size - v.size) throw new RestFailure('ResourceExhausted', `pool ${r.pool} has no room to grow to ${size}`);
        }
      }
      v.size = size;
      return { status: 200, body: this.#volumeJson(v) };
    });
    this.#route('PUT', '/volumes/{volume_id}/target', (p, _q, b) => {
      const v = this.#volume(p.volume_id);
      const body = b as { protocol: string; node?: string; reuse_existing?: boolean };
      if (body.protocol !== 'nvmf') throw new RestFailure('InvalidArgument', `protocol ${body.protocol} is not supported`);
      if (v.target) {
        if (!body.reuse_existing) throw new RestFailure('AlreadyPublished', `Volume '${v.uuid}' is already published on ${v.target.node}`);
      } else {
        const node = body.node ?? this.#pool(v.placement[0].pool).node;
        this.nexus?.publish(this.#nexusNqn(v), v.size);
        v.target = { node, nexus: randomUUID() };
      }
      return { status: 200, body: this.#volumeJson(v) };
    });
    this.#route('DELETE', '/volumes/{volume_id}/target', (p) => {
      const v = this.#volume(p.volume_id);
      if (!v.target) throw new RestFailure('NotPublished', `Volume '${v.uuid}' is not published`);
      this.nexus?.unpublish(this.#nexusNqn(v));
      delete v.target;
      return { status: 200, body: this.#volumeJson(v) };
    });
    this.#route('GET', '/volumes/{volume_id}/snapshots/{snapshot_id}', (p) => {
      this.#volume(p.volume_id);
      const s = this.#snapshot(p.snapshot_id);
      if (s.volume !== p.volume_id) throw new RestFailure('NotFound', `Snapshot '${s.uuid}' is not of volume '${p.volume_id}'`);
      return { status: 200, body: this.#snapshotJson(s) };
    });
    this.#route('PUT', '/volumes/{volume_id}/snapshots/{snapshot_id}', (p) => {
      const v = this.#volume(p.volume_id);
      if (this.snapshots.has(p.snapshot_id)) throw new RestFailure('AlreadyExists', `Snapshot '${p.snapshot_id}' already exists`);
      const s: FakeSnapshot = {
        uuid: p.snapshot_id, volume: v.uuid, size: v.size, timestamp: new Date().toISOString(), restores: 0,
        replicas: v.placement.map((r) => ({ ...r, snap: randomUUID() })),
      };
      this.snapshots.set(s.uuid, s);
      v.snapshots++;
      return { status: 200, body: this.#snapshotJson(s) };
    });
    this.#route('DELETE', '/volumes/{volume_id}/snapshots/{snapshot_id}', (p) => {
      this.#deleteSnapshot(p.snapshot_id);
      return { status: 204 };
    });
    this.#route('PUT', '/snapshots/{snapshot_id}/volumes/{volume_id}', (p, _q, b) => {
      const s = this.#snapshot(p.snapshot_id);
      const body = b as { size: number; replicas: number; thin: boolean; labels?: Record<string, string> };
      if (this.volumes.has(p.volume_id)) throw new RestFailure('AlreadyExists', `Volume '${p.volume_id}' already exists`);
      // A restore is the snapshot's image: the control plane takes no other size.
      if (body.size !== s.size) throw new RestFailure('InvalidArgument', `a volume restored from '${s.uuid}' has its size, ${s.size}, not ${body.size}`);
      const v = this.#makeVolume(p.volume_id, body, { snapshot: s.uuid, volume: s.volume });
      s.restores++;
      return { status: 200, body: this.#volumeJson(v) };
    });
  }

  #makeVolume(uuid: string, body: { size: number; replicas: number; thin: boolean; labels?: Record<string, string> },
    source: FakeVolume['source']): FakeVolume {
    if (body.replicas < 1) throw new RestFailure('InvalidArgument', 'a volume needs at least one replica');
    if (body.size <= 0) throw new RestFailure('InvalidArgument', 'a volume needs a size');
    // Replicas on distinct pools, the emptiest first; thick ones need the room now.
    const candidates = this.pools.filter((p) => !p.offline && (p.status ?? 'Online') === 'Online')
      .filter((p) => (body.thin ? p.capacity >= body.size : this.#free(p) >= body.size))
      .sort((a, b) => this.#free(b) - this.#free(a));
    if (candidates.length < body.replicas) {
      throw new RestFailure('ResourceExhausted', `Not enough suitable pools available, ${candidates.length}/${body.replicas}`);
    }
    const v: FakeVolume = {
      uuid, size: body.size, replicas: body.replicas, thin: body.thin, labels: body.labels ?? {},
      placement: candidates.slice(0, body.replicas).map((p) => ({ pool: p.id, replica: randomUUID() })),
      ...(source ? { source } : {}), snapshots: 0,
    };
    this.volumes.set(uuid, v);
    return v;
  }

  #deleteSnapshot(id: string): void {
    const s = this.#snapshot(id);
    this.snapshots.delete(s.uuid);
    const v = this.volumes.get(s.volume);
    if (v) v.snapshots--;
  }

  #volume(id: string): FakeVolume {
    const v = this.volumes.get(id);
    if (!v) throw new RestFailure('NotFound', `Volume '${id}' not found`);
    return v;
  }

  #snapshot(id: string): FakeSnapshot {
    const s = this.snapshots.get(id);
    if (!s) throw new RestFailure('NotFound', `VolumeSnapshot '${id}' not found`);
    return s;
  }

  #pool(id: string): FakePool {
    return this.pools.find((p) => p.id === id)!;
  }

  /** Thick replicas take their whole size; thin ones nothing until written (nothing is, here). */
  #used(p: FakePool): number {
    let used = p.used ?? 0;
    for (const v of this.volumes.values()) if (!v.thin) used += v.placement.filter((r) => r.pool === p.id).length * v.size;
    return used;
  }

  #free(p: FakePool): number {
    return p.capacity - this.#used(p);
  }

  #poolJson(p: FakePool): JsonObject {
    const spec: JsonObject = { disks: [`aio:///dev/nvme0n1`], id: p.id, node: p.node, status: 'Created' };
    if (p.offline) return { id: p.id, spec };
    return {
      id: p.id, spec,
      state: { capacity: p.capacity, disks: [`aio:///dev/nvme0n1?uuid=${uuidOf(p.id)}`], id: p.id, node: p.node,
        status: p.status ?? 'Online', used: this.#used(p), committed: this.#used(p) },
    };
  }

  #nexusNqn(v: FakeVolume): string {
    return `nqn.2019-05.io.openebs:${v.uuid}`;
  }

  #volumeJson(v: FakeVolume): JsonObject {
    const topology: JsonObject = {};
    for (const r of v.placement) topology[r.replica] = { node: this.#pool(r.pool).node, pool: r.pool, state: 'Online' };
    const spec: JsonObject = {
      uuid: v.uuid, size: v.size, num_replicas: v.replicas, status: 'Created', thin: v.thin, policy: { self_heal: true },
      num_snapshots: v.snapshots, labels: v.labels,
      // Required by the spec's VolumeSpec, though not among its properties.
      num_paths: 1, protocol: v.target ? 'nvmf' : 'none',
    };
    if (v.target) spec.target = { node: v.target.node, protocol: 'nvmf' };
    if (v.source) spec.content_source = { snapshot: { snapshot: v.source.snapshot, volume: v.source.volume } };
    const state: JsonObject = { uuid: v.uuid, size: v.size, status: 'Online', replica_topology: topology };
    if (v.target) {
      state.target = {
        uuid: v.target.nexus, node: v.target.node, size: v.size, state: 'Online', rebuilds: 0, protocol: 'nvmf',
        deviceUri: `nvmf://${this.targetAddress}/${this.#nexusNqn(v)}`,
        children: v.placement.map((r) => ({ uri: `bdev:///${r.replica}?uuid=${r.replica}`, state: 'Online' })),
      };
    }
    return { spec, state };
  }

  #snapshotJson(s: FakeSnapshot): JsonObject {
    return {
      definition: {
        metadata: {
          status: 'Created', timestamp: s.timestamp, size: s.size, spec_size: s.size, total_allocated_size: 0, txn_id: '1',
          transactions: { 1: s.replicas.map((r) => ({ uuid: r.snap, source_id: r.replica, status: 'Created' })) },
          num_restores: s.restores, num_snapshot_replicas: s.replicas.length,
        },
        spec: { uuid: s.uuid, source_volume: s.volume },
      },
      state: {
        uuid: s.uuid, allocated_size: 0, source_volume: s.volume, timestamp: s.timestamp, ready_as_source: true,
        replica_snapshots: s.replicas.map((r) => ({
          online: { uuid: r.snap, source_id: r.replica, pool_id: r.pool, pool_uuid: uuidOf(r.pool), timestamp: s.timestamp,
            size: s.size, allocated_size: 0, predecessor_alloc_size: 0 },
        })),
      },
    };
  }
}

function rest(kind: string, details: string): JsonObject {
  return { kind, details, message: '' };
}

/** One page of a list: max_entries 0 means all; next_token is the index the next page starts at. */
function page(all: JsonObject[], q: URLSearchParams): JsonObject {
  const max = Number(q.get('max_entries') ?? 0);
  const start = Number(q.get('starting_token') ?? 0);
  const end = max > 0 ? Math.min(all.length, start + max) : all.length;
  return { entries: all.slice(start, end), ...(end < all.length ? { next_token: end } : {}) };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A stable UUID for a pool id (pools have uuids in the API). */
function uuidOf(s: string): string {
  const h = Buffer.alloc(16);
  Buffer.from(s).copy(h);
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-4${x.slice(13, 16)}-8${x.slice(17, 20)}-${x.slice(20)}`;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
