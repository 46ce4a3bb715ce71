/**
 * One controller over several paths (DESIGN: multipath belongs to the host): each path is
 * a Controller of its own, connected to one gateway or port of the same subsystem, and
 * each command goes down one of them. A command that fails for its path (the connection
 * lost, a path status such as ANA Inaccessible) is sent again down another; one that
 * fails for the command itself (LBA out of range, a media error) is not. A path that
 * drops keeps reconnecting by itself and is used again once it is live.
 *
 * Where the subsystem reports ANA, each path's ANA log page says which namespace groups it
 * serves and how well: optimized paths first, non-optimized ones next, inaccessible ones
 * not at all. The page is read at connect, on each ANA change notice, after a reconnect,
 * and after a path status.
 *
 * Not yet: multipath for the native perf engine and the gateway's backends.
 */
import type { IoBuffer } from '../../buffers/io-buffer';
import { InvalidArgumentError, RdmagateError } from '../../errors';
import { NvmeDisconnectedError, NvmeError, NvmeTimeoutError, NvmeTransportError } from '../errors';
import * as v from '../../validate';
import { connect, type Controller } from './controller';
import type { AnaGroupState } from './ana';
import type { ControllerIdentity, NamespaceIdentity } from './identify';
import type { ConnectOptions } from './options';
import type { QueuePair } from './queue-pair';

/** SCT 3: the status is about the path, not the command; another path may serve it. */
const SCT_PATH = 3;
/**
 * Generic status 0x08, Command Aborted due to SQ Deletion: the target tore the controller
 * down under the command (a gateway stopping) and did not run it. That is a path failure,
 * as a lost connection is: the native host's retry mode resends these on reconnect, and
 * since multipath's paths run in fail mode, it is resent here, on another path.
 */
const SCT_GENERIC = 0;
const SC_SQ_DELETION = 0x08;
/** How long a path that answered a path status is passed over before it is tried again. */
const PATH_STATUS_BACKOFF_MS = 1000;
const NO_PATH_POLL_MS = 20;
/** A command's tried paths are a bit each in a 32-bit number. */
const MAX_PATHS = 32;
/** No namespace is in an ANA group: every live path ranks first (for admin commands). */
const ANY_NAMESPACE = 0;

export type MultipathPolicy = 'failover' | 'round-robin' | 'queue-depth';

/**
 * SPDK's names for the policies (bdev_nvme_set_multipath_policy's --policy), which the
 * command line takes: round-robin is SPDK's active_active with its round_robin selector,
 * queue-depth the same with its queue_depth selector (SPDK_MULTIPATH_SELECTORS).
 */
export const SPDK_MULTIPATH_POLICIES: Readonly<Record<'active_passive' | 'active_active', MultipathPolicy>> = {
  active_passive: 'failover',
  active_active: 'round-robin',
};

/** SPDK's selectors for active_active (bdev_nvme_set_multipath_policy's --selector). */
export const SPDK_MULTIPATH_SELECTORS: Readonly<Record<'round_robin' | 'queue_depth', MultipathPolicy>> = {
  round_robin: 'round-robin',
  queue_depth: 'queue-depth',
};

export interface MultipathOptions {
  /** One entry per path, as connect() takes it; every path must reach the same subsystem. */
  paths: ConnectOptions[];
  /**
   * failover (default): the first path in `paths` that is usable takes every command (active-passive).
   * round-robin: commands take turns over the usable paths (active-active).
   * queue-depth: each command goes down the usable path with the fewest commands outstanding
   * (active-active; a slower path gets fewer).
   */
  policy?: MultipathPolicy;
  /** While no path is usable, commands wait this long for one to come back (ms). Default 30000. */
  noPathTimeoutMs?: number;
}

/** What multipath knows of one path. */
export interface PathInfo {
  traddr: string;
  trsvcid: number;
  transport: string;
  /** The path's controller state; 'failed' when it never connected. */
  state: string;
  /** Commands sent down it again elsewhere because it failed them for the path. */
  failovers: number;
  /** Each ANA group's state through it, as its ANA log page last said; empty without ANA. */
  ana: Record<number, AnaGroupState>;
}

interface Path {
  readonly options: ConnectOptions;
  readonly controller: Controller | undefined;
  passedOverUntil: number;
  failovers: number;
  /** Commands sent down it and not ended: what the queue-depth policy compares. */
  outstanding: number;
  /** Each ANA group's state through this path, from its ANA log page; empty without ANA. */
  ana: Map<number, AnaGroupState>;
}

/**
 * A path's rank for a namespace: 0 optimized (or no ANA), 1 non-optimized, undefined not to
 * be used, as a path that does not have the namespace now (a restarted gateway before it
 * re-adds it).
 */
function rank(path: Path, nsid: number): number | undefined {
  if (nsid === ANY_NAMESPACE) return 0;
  const ns = path.controller!.namespace(nsid);
  if (!ns) return undefined;
  const state = ns.anagrpid ? path.ana.get(ns.anagrpid) : undefined;
  if (state === undefined || state === 'optimized') return 0;
  return state === 'non_optimized' ? 1 : undefined;
}

/** Reads the path's ANA log page again; a path that cannot answer keeps what it had. */
async function readAna(path: Path): Promise<void> {
  try {
    path.ana = (await path.controller!.anaLog()).groups;
  } catch {
    // The path is down or going: its state says so, and a reconnect reads the page again.
  }
}

function isPathError(e: unknown): boolean {
  if (e instanceof NvmeDisconnectedError || e instanceof NvmeTransportError || e instanceof NvmeTimeoutError) return true;
  return e instanceof NvmeError && (e.sct === SCT_PATH || (e.sct === SCT_GENERIC && e.sc === SC_SQ_DELETION && !e.dnr));
}

/**
 * Connects every path; paths that cannot connect now are left out (and reported as failed),
 * but at least one must connect. Throws RdmagateError ERR_MULTIPATH_MISMATCH when the
 * paths reach different subsystems or show a namespace with different identifiers.
 */
export async function connectMultipath(options: MultipathOptions): Promise<MultipathController> {
  const o = v.object<MultipathOptions>(options, 'options');
  const list = o.paths;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_PATHS) {
    throw new InvalidArgumentError(`paths must be an array of 1 to ${MAX_PATHS} connect options`);
  }
  const policy = v.oneOf(o.policy, 'policy', ['failover', 'round-robin', 'queue-depth'] as const, 'failover');
  const noPathTimeoutMs = v.optionalInteger(o.noPathTimeoutMs, 'noPathTimeoutMs', 0, 3_600_000, 30_000);
  // Failed at once rather than held through a reconnect: another path may serve it now.
  const settled = await Promise.allSettled(list.map((p) => connect({ ctrlLossTmo: -1, ...p, ioFailureMode: 'fail' })));
  const paths: Path[] = settled.map((s, i) => ({ options: list[i]!, controller: s.status === 'fulfilled' ? s.value : undefined,
    passedOverUntil: 0, failovers: 0, outstanding: 0, ana: new Map() }));
  const live = paths.filter((p) => p.controller);
  if (live.length === 0) throw (settled[0] as PromiseRejectedResult).reason;
  try {
    checkSamePaths(live.map((p) => p.controller!));
  } catch (e) {
    await Promise.all(live.map((p) => p.controller!.close()));
    throw e;
  }
  await Promise.all(live.map(readAna));
  for (const p of live) {
    p.controller!.on('anaChanged', () => void readAna(p));
    p.controller!.on('reconnect', () => void readAna(p));
  }
  return new MultipathController(paths, policy, noPathTimeoutMs);
}

function checkSamePaths(controllers: Controller[]): void {
  const [first, ...rest] = controllers;
  for (const c of rest) {
    if (c.identity.subnqn !== first!.identity.subnqn) {
      throw new RdmagateError('ERR_MULTIPATH_MISMATCH', `paths reach different subsystems: ${first!.identity.subnqn} and ${c.identity.subnqn}`);
    }
    for (const ns of c.namespaces) {
      const other = first!.namespaces.find((n) => n.nsid === ns.nsid);
      if (other && (other.nguid !== ns.nguid || other.uuid !== ns.uuid)) {
        throw new RdmagateError('ERR_MULTIPATH_MISMATCH', `namespace ${ns.nsid} has other identifiers on another path: not one namespace`);
      }
    }
  }
}

export class MultipathController {
  readonly #paths: Path[];
  readonly #policy: MultipathPolicy;
  readonly #noPathTimeoutMs: number;
  readonly #queuePairs: MultipathQueuePair[];
  #turn = 0;

  /** @internal */
  constructor(paths: Path[], policy: MultipathPolicy, noPathTimeoutMs: number) {
    this.#paths = paths;
    this.#policy = policy;
    this.#noPathTimeoutMs = noPathTimeoutMs;
    const queues = Math.min(...paths.filter((p) => p.controller).map((p) => p.controller!.queuePairs.length));
    this.#queuePairs = Array.from({ length: queues }, (_, i) => new MultipathQueuePair(this, i));
  }

  get queuePairs(): readonly MultipathQueuePair[] {
    return this.#queuePairs;
  }

  get identity(): ControllerIdentity {
    return this.#connected()[0]!.identity;
  }

  get namespaces(): readonly NamespaceIdentity[] {
    return this.#connected()[0]!.namespaces;
  }

  get subnqn(): string {
    return this.identity.subnqn;
  }

  /** The I/O queue depth every path allows: the smallest of theirs. */
  get queueSize(): number {
    return Math.min(...this.#connected().map((c) => c.queueSize));
  }

  /** The largest transfer every path takes (bytes): the smallest of their limits; 0 when none sets one. */
  get maxTransfer(): number {
    const limits = this.#connected().map((c) => c.maxTransfer).filter((m) => m > 0);
    return limits.length === 0 ? 0 : Math.min(...limits);
  }

  /** Reads Identify Controller through a usable path (another if that one fails for the path). */
  identify(): Promise<ControllerIdentity> {
    return this.#route(ANY_NAMESPACE, (c) => c.identify());
  }

  /** Reads Identify Namespace `nsid` through a usable path (another if that one fails for the path). */
  identifyNamespace(nsid: number): Promise<NamespaceIdentity> {
    // Admin commands are served whatever a path's ANA state: any live path will do.
    return this.#route(ANY_NAMESPACE, (c) => c.identifyNamespace(nsid));
  }

  paths(): PathInfo[] {
    return this.#paths.map((p) => ({ traddr: p.options.traddr, trsvcid: p.options.trsvcid ?? 4420, transport: p.options.transport ?? 'tcp',
      state: p.controller?.state ?? 'failed', failovers: p.failovers, ana: Object.fromEntries(p.ana) }));
  }

  async close(): Promise<void> {
    await Promise.all(this.#connected().map((c) => c.close()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** @internal Runs `op` on queue `index` of a usable path for `nsid`, and again on another if the path fails it. */
  run(index: number, nsid: number, op: (qp: QueuePair) => Promise<void>): Promise<void> {
    return this.#route(nsid, (c) => op(c.queuePairs[index]!));
  }

  /** Runs `op` on the controller of a usable path for `nsid`, and again on another if the path fails it. */
  async #route<T>(nsid: number, op: (c: Controller) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.#noPathTimeoutMs;
    for (;;) {
      let tried = 0;  // a bit per path: no allocation per command
      let lastError: unknown;
      for (let i = this.#pick(tried, nsid); i >= 0; i = this.#pick(tried, nsid)) {
        tried |= 1 << i;
        const path = this.#paths[i]!;
        path.outstanding++;
        try {
          return await op(path.controller!);
        } catch (e) {
          if (!isPathError(e)) throw e;
          lastError = e;
          path.failovers++;
          if (e instanceof NvmeError) {
            // A path status: the page says what changed, and until it is read the path waits.
            path.passedOverUntil = Date.now() + PATH_STATUS_BACKOFF_MS;
            void readAna(path).then(() => { path.passedOverUntil = 0; });
          }
        } finally {
          path.outstanding--;
        }
      }
      // No usable path now: wait for one to come back (reconnected, or its backoff over), or
      // for the namespace on one (a gateway that restarted adds it after its listener is up).
      if (Date.now() >= deadline || this.#connected().every((c) => c.state === 'closed' || c.state === 'removed')) {
        throw lastError ?? new NvmeDisconnectedError(`no path to ${this.#paths[0]!.options.subnqn} is usable`);
      }
      if (nsid !== ANY_NAMESPACE && lastError === undefined &&
          !this.#connected().some((c) => c.state === 'reconnecting' || c.namespace(nsid) !== undefined)) {
        throw new InvalidArgumentError(`namespace ${nsid} is not active on any path to ${this.#paths[0]!.options.subnqn}`);
      }
      await new Promise((r) => setTimeout(r, NO_PATH_POLL_MS));
    }
  }

  /** The index of the next path to try for `nsid` that `tried` (a bit per path) leaves: the best ANA rank, then the policy; -1: none. */
  #pick(tried: number, nsid: number): number {
    const now = Date.now();
    const rankOf = (i: number): number | undefined => {
      const p = this.#paths[i]!;
      if (p.controller?.state !== 'live' || tried & (1 << i) || p.passedOverUntil > now) return undefined;
      return rank(p, nsid);
    };
    let best = Infinity;
    let count = 0;
    for (let i = 0; i < this.#paths.length; i++) {
      const r = rankOf(i);
      if (r === undefined || r > best) continue;
      count = r < best ? 1 : count + 1;
      best = r;
    }
    if (count === 0) return -1;
    if (this.#policy === 'queue-depth') {
      let pick = -1;
      for (let i = 0; i < this.#paths.length; i++) {
        if (rankOf(i) === best && (pick < 0 || this.#paths[i]!.outstanding < this.#paths[pick]!.outstanding)) pick = i;
      }
      return pick;
    }
    let nth = this.#policy === 'failover' ? 0 : this.#turn++ % count;
    for (let i = 0; i < this.#paths.length; i++) {
      if (rankOf(i) === best && nth-- === 0) return i;
    }
    return -1;
  }

  #connected(): Controller[] {
    return this.#paths.flatMap((p) => (p.controller ? [p.controller] : []));
  }
}

/** Queue `index` of every path, as one: the QueuePair calls, each down a usable path. */
export class MultipathQueuePair {
  /** @internal */
  constructor(private readonly controller: MultipathController, readonly index: number) {}

  read(nsid: number, lba: number | bigint, blocks: number, buffer: IoBuffer, offset = 0): Promise<void> {
    return this.controller.run(this.index, nsid, (q) => q.read(nsid, lba, blocks, buffer, offset));
  }

  write(nsid: number, lba: number | bigint, blocks: number, buffer: IoBuffer, offset = 0): Promise<void> {
    return this.controller.run(this.index, nsid, (q) => q.write(nsid, lba, blocks, buffer, offset));
  }

  flush(nsid: number): Promise<void> {
    return this.controller.run(this.index, nsid, (q) => q.flush(nsid));
  }

  writeZeroes(nsid: number, lba: number | bigint, blocks: number): Promise<void> {
    return this.controller.run(this.index, nsid, (q) => q.writeZeroes(nsid, lba, blocks));
  }

  deallocate(nsid: number, lba: number | bigint, blocks: number): Promise<void> {
    return this.controller.run(this.index, nsid, (q) => q.deallocate(nsid, lba, blocks));
  }
}
