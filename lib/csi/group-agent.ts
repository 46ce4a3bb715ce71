/**
 * The CSI controller's watch over its gateway group: the one place that decides which
 * member's listener is optimized for each volume. Each round (check(), every
 * --group-health-interval when started):
 *
 * 1. every member is probed (rpc_get_methods, with a timeout); one that does not answer is
 *    down and stale, one that answers again is up (still stale);
 * 2. a stale member that answers is resynced from a reference: the first member up that is
 *    not stale. Its volume exports are made the reference's (exports it missed are applied
 *    again, ones removed meanwhile are taken off, hosts aligned), and it is fresh again.
 *    When every member is stale (each was lost at some point) and all answer, they are
 *    merged instead: each gets what any other has (nothing is taken off), and all are fresh;
 * 3. when a member went or came back, or a member was resynced (and on the first round),
 *    every volume's ANA states are set again: the first member up in the volume's ranking
 *    that is not stale is optimized, the others non-optimized. So a volume whose optimized
 *    member is lost is optimized on a survivor, and goes back to its preferred member once
 *    that one is back and resynced.
 *
 * The agent cannot reach a lost member, so its listeners keep whatever they had; hosts
 * that still reach it see two optimized paths until it is back, which the backend makes
 * safe (it orders the writes of both gateways). Nothing here is a quorum: the controller
 * is the only decision maker; which members are stale is kept in its state file
 * (GatewayGroup), the rest is in memory.
 *
 * Without timers for tests: check() does one round; the clock and the probe are options.
 */
import type { CsiLogger } from './log';
import type { GatewayGroup, GroupMember } from './gateway-group';
import type { AnaMove, ExportSpecLookup, GroupExporter, ResyncResult } from './group-exporter';

export interface GroupAgentOptions {
  exporter: GroupExporter;
  log: CsiLogger;
  /** The volumes the controller knows, for a member that missed them (ControllerService.exportSpec). */
  lookup: ExportSpecLookup;
  /** Whether a member answers; default: rpc_get_methods through its rpc within probeTimeoutMs. */
  probe?: (member: GroupMember) => Promise<boolean>;
  /** Default 1000 ms. */
  probeTimeoutMs?: number;
  /** Default Date.now. */
  now?: () => number;
}

/** What one round saw and did. */
export interface GroupRound {
  /** When it began (the clock's ms). */
  at: number;
  /** Members that stopped answering in this round. */
  lost: string[];
  /** Members that answer again. */
  returned: string[];
  /** Members resynced (and fresh again). */
  resynced: ResyncResult[];
  /** Members that answer but stay stale (no reference, or their resync failed). */
  stale: string[];
  /** Optimized listeners that moved. */
  moves: AnaMove[];
}

export interface MemberStatus {
  name: string;
  up: boolean;
  stale: boolean;
  /** When it was last seen down (the clock's ms), while it is down. */
  downSince?: number;
}

export class GroupAgent {
  readonly #exporter: GroupExporter;
  readonly #group: GatewayGroup;
  readonly #log: CsiLogger;
  readonly #lookup: ExportSpecLookup;
  readonly #probe: (member: GroupMember) => Promise<boolean>;
  readonly #now: () => number;
  readonly #downSince = new Map<string, number>();
  /** The last resync error logged per member, so that a member failing each round is logged once per reason. */
  readonly #lastError = new Map<string, string>();
  #first = true;
  #round: Promise<GroupRound> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: GroupAgentOptions) {
    this.#exporter = options.exporter;
    this.#group = options.exporter.group;
    this.#log = options.log;
    this.#lookup = options.lookup;
    const timeoutMs = options.probeTimeoutMs ?? 1000;
    this.#probe = options.probe ?? ((m) => answers(m, timeoutMs));
    this.#now = options.now ?? Date.now;
  }

  /** One round; a call while one runs gets that one. */
  check(): Promise<GroupRound> {
    this.#round ??= this.#check().finally(() => { this.#round = undefined; });
    return this.#round;
  }

  /** A round every `intervalMs` (the first `intervalMs` from now; check() does one at once), until stop(). */
  start(intervalMs: number): void {
    this.#stopped = false;
    const schedule = () => {
      if (!this.#stopped) this.#timer = setTimeout(next, intervalMs).unref();
    };
    const next = () => {
      if (this.#stopped) return;
      this.check().catch((e: unknown) => this.#log.error('gateway group check failed', { error: (e as Error).message })).finally(schedule);
    };
    schedule();
  }

  /** Stops the rounds; resolves when the one running has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#round?.catch(() => undefined);
  }

  status(): MemberStatus[] {
    return this.#group.members.map((m) => {
      const since = this.#downSince.get(m.name);
      return { name: m.name, up: this.#group.isUp(m.name), stale: this.#group.isStale(m.name), ...(since !== undefined ? { downSince: since } : {}) };
    });
  }

  async #check(): Promise<GroupRound> {
    const at = this.#now();
    const round: GroupRound = { at, lost: [], returned: [], resynced: [], stale: [], moves: [] };
    const group = this.#group;
    const answered = await Promise.all(group.members.map((m) => this.#probe(m).catch(() => false)));
    group.members.forEach((m, i) => {
      // Lost by the agent's own last round, not by the group's state: a publish that could not
      // reach the member marked it down already, and its volumes must move all the same.
      const seenDown = this.#downSince.has(m.name);
      if (!answered[i]) {
        group.markDown(m.name);
        if (seenDown) return;
        this.#downSince.set(m.name, at);
        round.lost.push(m.name);
        this.#log.warn('gateway group member lost', { member: m.name });
      } else if (seenDown || !group.isUp(m.name)) {
        group.markUp(m.name);
        this.#downSince.delete(m.name);
        round.returned.push(m.name);
        this.#log.info('gateway group member answers again', { member: m.name });
      }
    });
    await this.#resync(round);
    if (this.#first || round.lost.length > 0 || round.returned.length > 0 || round.resynced.length > 0) {
      round.moves = await this.#exporter.balanceAll();
      for (const mv of round.moves) this.#log.info('volume optimized on another gateway', { volume: mv.volumeId, from: mv.from ?? null, to: mv.to });
      this.#first = false;
    }
    round.stale = group.up().filter((m) => group.isStale(m.name)).map((m) => m.name);
    return round;
  }

  async #resync(round: GroupRound): Promise<void> {
    const group = this.#group;
    const up = group.up();
    const stale = up.filter((m) => group.isStale(m.name));
    if (stale.length === 0) return;
    const reference = up.find((m) => !group.isStale(m.name));
    if (reference) {
      for (const m of stale) {
        const r = await this.#attempt(m.name, () => this.#exporter.resync(m.name, reference.name, this.#lookup));
        if (r) this.#resynced(round, r, [m.name]);
      }
      return;
    }
    // Every member missed something, and no one knows what all of them should have: once
    // all answer, each gets the union of what they have, and nothing is taken off.
    if (up.length < group.members.length) return;
    const results: ResyncResult[] = [];
    for (const m of up) {
      for (const other of up) {
        if (other === m) continue;
        const r = await this.#attempt(m.name, () => this.#exporter.resync(m.name, other.name, this.#lookup, { remove: false }));
        if (!r) return;
        results.push(r);
      }
    }
    this.#log.warn('every gateway group member had missed changes: merged what each has (run `rdmagate group check`)', {
      members: up.map((m) => m.name) });
    for (const r of results) this.#resynced(round, r, []);
    for (const m of up) group.markFresh(m.name);
  }

  #resynced(round: GroupRound, r: ResyncResult, fresh: string[]): void {
    for (const name of fresh) this.#group.markFresh(name);
    this.#lastError.delete(r.member);
    round.resynced.push(r);
    this.#log.info('gateway group member resynced', { member: r.member, from: r.reference, exported: r.exported, unexported: r.unexported,
      hosts: r.hosts, ...(r.unknown.length > 0 ? { unknown: r.unknown } : {}) });
  }

  /** Runs a resync; a failure leaves the member stale, to retry next round, and is logged once per reason. */
  async #attempt(name: string, fn: () => Promise<ResyncResult>): Promise<ResyncResult | undefined> {
    try {
      return await fn();
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (this.#lastError.get(name) !== message) {
        this.#lastError.set(name, message);
        this.#log.warn('cannot resync a gateway group member; it is retried each round', { member: name, error: message });
      }
      return undefined;
    }
  }
}

/** Whether the member's gateway answers rpc_get_methods within `timeoutMs`. */
async function answers(m: GroupMember, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); });
  try {
    return await Promise.race([m.rpc.call('rpc_get_methods').then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
