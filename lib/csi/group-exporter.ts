/**
 * Exports volumes on every member of a gateway group (gateway-group.ts) alike: the same
 * subsystem NQN, namespace NGUID and UUID, serial and model on each, with ANA reporting,
 * the member's own controller ID range, and one listener per member: optimized on the
 * volume's preferred member that is up, non-optimized on the others. The node is given
 * every member's address (publish_context `paths`), the optimized one first.
 *
 * The rule for a change (publish, unpublish, unexport): it succeeds when at least
 * `minMembers` members made it. A member that did not (down, or answering an error) is
 * marked stale, and the group agent (group-agent.ts) resyncs it when it answers again;
 * with fewer than `minMembers`, the call fails: with the error a member answered, else
 * UNAVAILABLE, so that the CO retries it. A member the group already knows is down is not
 * asked (a hung gateway would hold every publish for its RPC timeout).
 *
 * Calls on one volume are serialized here, the agent's included.
 *
 * A volume that requires DH-HMAC-CHAP has its host's keys on every member: each member's keyring
 * reads the same key files (the controller's --key-dir, which each must see at the same path).
 * A member that missed a publish, or a change of a host's keys, is given the host's newest key
 * files on its resync (ExportSpecLookup's `keys`); without them it is not allowed the host at all.
 * A volume that requires TLS is the same with the host's PSK file, on each member's TLS address.
 */
import { RpcTransportError } from '../jsonrpc';
import { invalidArgument, unavailable } from './errors';
import { NvmfExporter, type AnaState, type VolumeExport } from './export';
import { GatewayGroup, cntlidRange, type GroupMember } from './gateway-group';
import type { HostKeys } from './key-dir';
import type { CsiLogger } from './log';
import type { PublishContext, PublishPath, Transport } from './parameters';
import type { ExportOptions, ExportSpec, VolumeExporter } from './volume-exporter';

export interface GroupExporterOptions {
  group: GatewayGroup;
  log?: CsiLogger;
}

/** What a member's part of a change came to. */
type Outcome<T> = { member: GroupMember; ok: true; value: T } | { member: GroupMember; ok: false; error: unknown; down: boolean };

/** An optimized listener that moved from one member to another (from: none before). */
export interface AnaMove {
  volumeId: string;
  from?: string;
  to: string;
}

/** What resyncing a member changed on it. */
export interface ResyncResult {
  member: string;
  reference: string;
  /** Volumes exported on the member again. */
  exported: string[];
  /** Volumes taken off the member (not on the reference). */
  unexported: string[];
  /** Volumes whose allowed hosts were changed. */
  hosts: string[];
  /** Volumes the controller could not say how to export (no record, or a host's keys missing): left as they are. */
  unknown: string[];
}

/** What the controller knows of a volume's export. */
export interface KnownExport {
  spec: ExportSpec;
  transport: Transport;
  /**
   * For a volume that requires DH-HMAC-CHAP or TLS: the keys a host is allowed with (its newest
   * key files), or undefined when any it needs is gone, in which case the host is not allowed at all.
   */
  keys?: (hostnqn: string) => Promise<HostKeys | undefined>;
}

/** The export of a volume as the controller knows it: what a member that missed it gets again. */
export type ExportSpecLookup = (volumeId: string) => Promise<KnownExport | undefined>;

export class GroupExporter implements VolumeExporter {
  readonly group: GatewayGroup;
  readonly #exporters = new Map<string, NvmfExporter>();
  readonly #log: CsiLogger | undefined;
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(options: GroupExporterOptions) {
    this.group = options.group;
    this.#log = options.log;
    const withRdma = this.group.members.filter((m) => m.rdma).length;
    if (withRdma !== 0 && withRdma !== this.group.members.length) {
      throw invalidArgument('either every gateway group member has an rdma= address or none has: a volume is exported alike on each');
    }
    for (const m of this.group.members) {
      if (!m.tcp) throw invalidArgument(`gateway group member "${m.name}" needs a tcp address, where nodes reach it over NVMe/TCP`);
      this.#exporters.set(m.name, new NvmfExporter({ rpc: m.rpc, tcp: m.tcp, ...(m.rdma ? { rdma: m.rdma } : {}), ...(m.tls ? { tls: m.tls } : {}),
        ana: cntlidRange(m.index) }));
    }
  }

  get hasRdma(): boolean {
    return this.group.members.every((m) => m.rdma);
  }

  /** Member `name`'s own exporter. */
  exporter(name: string): NvmfExporter {
    const e = this.#exporters.get(name);
    if (!e) throw invalidArgument(`no gateway group member "${name}"`);
    return e;
  }

  async publish(spec: ExportSpec, hostnqn: string, transport: Transport, options: ExportOptions = {}): Promise<PublishContext> {
    return this.#serial(spec.volumeId, async () => {
      const want = this.group.optimizedFor(spec.volumeId);
      const outcomes = await this.#change(`publish volume ${spec.volumeId}`, (m, e) =>
        e.publish(spec, hostnqn, transport, { ...options, anaState: m.name === want?.name ? 'optimized' : 'non_optimized' }));
      const ok = outcomes.filter((o): o is Extract<Outcome<PublishContext>, { ok: true }> => o.ok);
      const took = ok.map((o) => o.member.name);
      const optimized = this.group.optimizedFor(spec.volumeId, took) ?? ok[0]!.member;
      // The member it meant to make optimized did not take it: another one of those that did is.
      if (optimized.name !== want?.name) await this.#balance(spec.volumeId, took);
      const first = (ok.find((o) => o.member === optimized) ?? ok[0]!).value;
      const order = [optimized, ...this.group.ranking(spec.volumeId).filter((m) => m !== optimized)];
      const paths: PublishPath[] = order.flatMap((m) => {
        // A member with no address for it (a TLS volume, a member whose tcp port is 65535) refused the publish.
        const a = this.exporter(m.name).listenAddress(transport, spec.tls === true);
        return a ? [{ traddr: a.traddr, trsvcid: String(a.trsvcid) }] : [];
      });
      return { ...first, paths };
    });
  }

  async unpublish(volumeId: string, hostnqn: string): Promise<boolean> {
    return this.#serial(volumeId, async () => {
      const outcomes = await this.#change(`unpublish volume ${volumeId}`, (_m, e) => e.unpublish(volumeId, hostnqn));
      return outcomes.every((o) => !o.ok || o.value);
    });
  }

  async unexport(volumeId: string): Promise<void> {
    await this.#serial(volumeId, () => this.#change(`unexport volume ${volumeId}`, (_m, e) => e.unexport(volumeId)));
  }

  /** The union over the members that answer of each volume's hosts. */
  async exports(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const o of await this.#ask('list the exports', (_m, e) => e.exports())) {
      for (const [id, hosts] of o) out.set(id, [...new Set([...(out.get(id) ?? []), ...hosts])].sort());
    }
    return out;
  }

  async grown(volumeId: string): Promise<void> {
    await this.#serial(volumeId, () => this.#ask(`tell the hosts that volume ${volumeId} grew`, (_m, e) => e.grown(volumeId)));
  }

  async isExported(volumeId: string): Promise<boolean> {
    return (await this.#ask(`look up volume ${volumeId}`, (_m, e) => e.isExported(volumeId))).some((x) => x);
  }

  /**
   * Makes the volume's ANA states the group's rule on the members up that export it: the
   * first of them in its ranking (not stale, where one is not) optimized, the others
   * non-optimized; the new optimized one is set before the old one is demoted, so that hosts
   * always have an optimized path. Resolves with the move, if the optimized member changed.
   */
  async balance(volumeId: string, holders: readonly string[]): Promise<AnaMove | undefined> {
    return this.#serial(volumeId, () => this.#balance(volumeId, holders));
  }

  /**
   * Balances every volume exported on the members up (those with ANA reporting); resolves
   * with the optimized listeners that moved. A member that does not answer is marked down.
   */
  async balanceAll(): Promise<AnaMove[]> {
    const holders = new Map<string, string[]>();
    for (const [name, exports] of await this.#volumeExportsByMember()) {
      for (const [id, e] of exports) if (e.anaReporting) holders.set(id, [...(holders.get(id) ?? []), name]);
    }
    const moves: AnaMove[] = [];
    for (const [id, names] of [...holders].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const move = await this.balance(id, names).catch((e: unknown) => {
        this.#log?.warn('cannot set the ANA states of a volume', { volume: id, error: (e as Error).message });
        return undefined;
      });
      if (move) moves.push(move);
    }
    return moves;
  }

  /**
   * Makes member `name`'s volume exports those of member `reference`: volumes missing are
   * exported again (with what `lookup` says of them, the reference's hosts, non-optimized);
   * hosts are added and removed; with `remove` (default true), volumes the reference does not
   * have are taken off. Without it, only what is missing is added (a union of two members).
   */
  async resync(name: string, reference: string, lookup: ExportSpecLookup, options: { remove?: boolean } = {}): Promise<ResyncResult> {
    const remove = options.remove ?? true;
    const member = this.exporter(name);
    const ref = this.exporter(reference);
    const [mine, theirs] = await Promise.all([member.volumeExports(), ref.volumeExports()]);
    const result: ResyncResult = { member: name, reference, exported: [], unexported: [], hosts: [], unknown: [] };
    for (const id of [...new Set([...theirs.keys(), ...(remove ? mine.keys() : [])])].sort()) {
      await this.#serial(id, async () => {
        // Read again under the volume's turn: a publish or unpublish may have run since the lists.
        const [have, want] = await Promise.all([member.volumeExport(id), ref.volumeExport(id)]);
        if (!want) {
          if (have && remove) {
            await member.unexport(id);
            result.unexported.push(id);
          }
          return;
        }
        const missingHosts = want.hosts.filter((h) => !have?.hosts.includes(h));
        const extraHosts = remove ? (have?.hosts ?? []).filter((h) => !want.hosts.includes(h)) : [];
        // A host whose keys changed while the member was away: it still holds the old ones.
        const rekeyed = (have?.hosts ?? []).filter((h) => want.hosts.includes(h) && want.hostKeys[h] !== have?.hostKeys[h]);
        if (missingHosts.length > 0 || rekeyed.length > 0) {
          const known = await lookup(id);
          if (!known) {
            result.unknown.push(id);
            return;
          }
          const transport = want.transports.includes(known.transport) ? known.transport : want.transports[0] ?? known.transport;
          let allowed = 0;
          for (const h of [...missingHosts, ...rekeyed]) {
            const keys = known.keys ? await known.keys(h) : undefined;
            if (known.keys && !keys) continue;  // never allowed without the keys the others ask of it
            await member.publish(known.spec, h, transport, { anaState: 'non_optimized', ...(keys ? { keys } : {}) });
            allowed++;
          }
          if (allowed < missingHosts.length + rekeyed.length) result.unknown.push(id);
          if (allowed > 0) (have ? result.hosts : result.exported).push(id);
        }
        for (const h of extraHosts) await member.removeHost(id, h);
        if (extraHosts.length > 0 && !result.hosts.includes(id)) result.hosts.push(id);
      });
    }
    return result;
  }

  async #balance(volumeId: string, holders: readonly string[]): Promise<AnaMove | undefined> {
    const target = this.group.optimizedFor(volumeId, holders);
    if (!target) return undefined;
    const others = holders.filter((n) => n !== target.name && this.group.isUp(n));
    const states = async (n: string) => this.#member(n, () => this.exporter(n).anaStates(volumeId)).catch(() => undefined);
    const [mine, ...theirs] = await Promise.all([target.name, ...others].map(states));
    const from = others.find((_n, i) => theirs[i]?.includes('optimized'));
    await this.#member(target.name, () => this.exporter(target.name).setAnaState(volumeId, 'optimized'));
    for (const n of others) {
      await this.#member(n, () => this.exporter(n).setAnaState(volumeId, 'non_optimized' satisfies AnaState)).catch((e: unknown) => {
        // Down, or refusing: the agent's next round sets it once it answers.
        this.#log?.warn('cannot make a listener non-optimized', { volume: volumeId, member: n, error: (e as Error).message });
      });
    }
    const wasOptimized = mine !== undefined && mine.length > 0 && mine.every((st) => st === 'optimized');
    return wasOptimized ? undefined : { volumeId, ...(from ? { from } : {}), to: target.name };
  }

  /** A call on one member; a member that does not answer is marked down, and the error thrown on. */
  async #member<T>(name: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof RpcTransportError) this.group.markDown(name);
      throw e;
    }
  }

  /** Runs a change on every member up; applies the group's rule (see the top of this file). */
  async #change<T>(what: string, fn: (m: GroupMember, e: NvmfExporter) => Promise<T>): Promise<Outcome<T>[]> {
    const outcomes = await Promise.all(this.group.members.map(async (m): Promise<Outcome<T>> => {
      if (!this.group.isUp(m.name)) return { member: m, ok: false, error: undefined, down: true };
      try {
        return { member: m, ok: true, value: await fn(m, this.exporter(m.name)) };
      } catch (e) {
        return { member: m, ok: false, error: e, down: e instanceof RpcTransportError };
      }
    }));
    const failed = outcomes.filter((o): o is Extract<Outcome<T>, { ok: false }> => !o.ok);
    for (const o of failed) {
      if (o.down) this.group.markDown(o.member.name);
      else this.group.markStale(o.member.name);
    }
    // A member that missed the change is on record as stale before the change answers.
    await this.group.saved();
    const took = outcomes.length - failed.length;
    if (took < this.group.minMembers) {
      const answered = failed.find((o) => !o.down);
      if (answered) throw answered.error;
      throw unavailable(`cannot ${what}: ${took} of ${outcomes.length} gateway group members took it, and it needs ` +
        `${this.group.minMembers} (${describeFailures(failed)})`);
    }
    if (failed.length > 0) {
      this.#log?.warn('gateway group members missed a change; they are resynced when they answer', {
        change: what, members: failed.map((o) => o.member.name), errors: failed.map((o) => describeFailure(o)),
      });
    }
    return outcomes;
  }

  /** Asks every member up; resolves with the answers. UNAVAILABLE when none answers. */
  async #ask<T>(what: string, fn: (m: GroupMember, e: NvmfExporter) => Promise<T>): Promise<T[]> {
    const up = this.group.up();
    const settled = await Promise.allSettled(up.map((m) => this.#member(m.name, () => fn(m, this.exporter(m.name)))));
    const answers = settled.filter((s): s is PromiseFulfilledResult<Awaited<T>> => s.status === 'fulfilled').map((s) => s.value);
    const answered = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected' && !(s.reason instanceof RpcTransportError));
    if (answered) throw answered.reason;
    if (answers.length === 0) throw unavailable(`cannot ${what}: no gateway group member answers`);
    return answers;
  }

  async #volumeExportsByMember(): Promise<Map<string, Map<string, VolumeExport>>> {
    const out = new Map<string, Map<string, VolumeExport>>();
    await Promise.all(this.group.up().map(async (m) => {
      try {
        out.set(m.name, await this.#member(m.name, () => this.exporter(m.name).volumeExports()));
      } catch (e) {
        this.#log?.warn('cannot list a gateway group member\'s exports', { member: m.name, error: (e as Error).message });
      }
    }));
    return out;
  }

  /** Runs `fn` after every earlier call on the volume has ended. */
  #serial<T>(volumeId: string, fn: () => Promise<T>): Promise<T> {
    const before = this.#queues.get(volumeId) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#queues.set(volumeId, tail);
    void tail.then(() => {
      if (this.#queues.get(volumeId) === tail) this.#queues.delete(volumeId);
    });
    return run;
  }
}

function describeFailure(o: { member: GroupMember; error: unknown; down: boolean }): string {
  if (o.error === undefined) return `${o.member.name}: down`;
  return `${o.member.name}: ${o.error instanceof Error ? o.error.message : String(o.error)}`;
}

function describeFailures(failed: { member: GroupMember; error: unknown; down: boolean }[]): string {
  return failed.map(describeFailure).join('; ') || 'no member failed';
}
