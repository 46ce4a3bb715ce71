/**
 * A gateway group: gateways that each export every volume alike, so that a node connected
 * to all of them (Linux native multipath, or nvmf.connectMultipath) keeps its I/O when one
 * goes. The members are listed in a fixed order: a member's place in that order is its
 * controller ID range (CNTLID_SLOT IDs each, so that two members never hand a host the
 * same controller ID, and appending a member changes no one else's range), and each
 * volume ranks the members by a hash of its id (rendezvous hashing), so that the volumes'
 * optimized paths spread over the members and move as little as possible when one is lost.
 *
 * The group also holds what the controller believes of each member: down (it did not
 * answer the last call or health check) and stale (it missed a change, so it must be
 * resynced before its exports are trusted). Stale is kept in a state file where one is
 * given (the controller's: gateway-group.json in its pool directory), so that a controller
 * restarted before a member's resync still resyncs it, instead of trusting exports that
 * missed an unpublish (a host still allowed there).
 *
 * `--gateway NAME=SOCKET,tcp=IP:PORT[,rdma=IP:PORT][,tls=IP:PORT]` declares a member; the flag
 * may be repeated, and since a repeated flag's values are joined with commas, a list of members
 * parses the same: a `NAME=SOCKET` item starts a member, `tcp=`, `rdma=` and `tls=` items
 * belong to the member before them.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../errors';
import { StateFile } from './plugins/state-file';
import { isTlsEndpoint, parseRpcEndpoint } from '../jsonrpc/endpoint';
import type { CntlidRange, GatewayRpc, ListenAddress } from './export';

/** The most members a group may have. */
export const MAX_GROUP_MEMBERS = 16;
/** Controller IDs per member: member i (from 0) has [i * CNTLID_SLOT + 1, (i + 1) * CNTLID_SLOT]. */
export const CNTLID_SLOT = 4094;

/** A member as declared: its name, its JSON-RPC socket (or tls://HOST:PORT) and where nodes reach it. */
export interface GroupMemberSpec {
  name: string;
  socket: string;
  /** Required by the CSI controller; `group check` needs only the socket. */
  tcp?: ListenAddress;
  rdma?: ListenAddress;
  /** Its NVMe/TCP TLS address (secure-channel listeners); default: tcp's address, the next port. */
  tls?: ListenAddress;
}

export interface GroupMember {
  readonly name: string;
  /** Its place in the group, from 0: its controller ID range. */
  readonly index: number;
  readonly rpc: GatewayRpc;
  readonly tcp?: ListenAddress;
  readonly rdma?: ListenAddress;
  readonly tls?: ListenAddress;
}

export interface GatewayGroupOptions {
  members: readonly (Omit<GroupMember, 'index'>)[];
  /** Publish fails (UNAVAILABLE) unless at least this many members took the export. Default 1. */
  minMembers?: number;
  /** Where the stale members are kept across restarts (load() reads it); none: in memory only. */
  statePath?: string;
}

/** The state file's document. */
interface GroupStateDoc {
  version: 1;
  stale: string[];
}

/** Member `index`'s controller IDs. */
export function cntlidRange(index: number): CntlidRange {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_GROUP_MEMBERS) {
    throw new InvalidArgumentError(`a group member's index must be in [0, ${MAX_GROUP_MEMBERS - 1}], got ${index}`);
  }
  return { min: index * CNTLID_SLOT + 1, max: (index + 1) * CNTLID_SLOT };
}

/** The members' names ranked for a volume: the first is its preferred (optimized) member. */
export function rankMembers(volumeId: string, names: readonly string[]): string[] {
  const score = (name: string) => createHash('sha256').update(`${volumeId}\0${name}`).digest().readUInt32BE(0);
  return names.map((n) => ({ n, s: score(n) })).sort((a, b) => b.s - a.s || (a.n < b.n ? -1 : 1)).map((x) => x.n);
}

export class GatewayGroup {
  readonly members: readonly GroupMember[];
  readonly minMembers: number;
  readonly #down = new Set<string>();
  readonly #stale = new Set<string>();
  readonly #state: StateFile<GroupStateDoc> | undefined;
  #saved: Promise<void> = Promise.resolve();

  constructor(options: GatewayGroupOptions) {
    const list = options.members;
    if (!Array.isArray(list) || list.length === 0) throw new InvalidArgumentError('a gateway group needs at least one member');
    if (list.length > MAX_GROUP_MEMBERS) throw new InvalidArgumentError(`a gateway group has at most ${MAX_GROUP_MEMBERS} members, got ${list.length}`);
    const names = new Set<string>();
    for (const m of list) {
      checkName(m.name);
      if (names.has(m.name)) throw new InvalidArgumentError(`gateway group member "${m.name}" is named twice`);
      names.add(m.name);
    }
    this.members = list.map((m, index) => ({ ...m, index }));
    const min = options.minMembers ?? 1;
    if (!Number.isInteger(min) || min < 1 || min > list.length) {
      throw new InvalidArgumentError(`the group's minimum members must be in [1, ${list.length}], got ${min}`);
    }
    this.minMembers = min;
    this.#state = options.statePath === undefined ? undefined : new StateFile<GroupStateDoc>(options.statePath);
  }

  /** Takes the stale members from the state file, if any (a corrupt one is ERR_CORRUPT_STATE); names no longer members are dropped. */
  async load(): Promise<void> {
    const doc = await this.#state?.load();
    if (!doc) return;
    if (doc.version !== 1 || !Array.isArray(doc.stale)) {
      throw new InvalidArgumentError(`${this.#state!.path}: not a gateway group state of version 1`);
    }
    for (const name of doc.stale) if (this.member(name)) this.#stale.add(name);
  }

  /** Resolves once the stale members as they are now are in the state file (a change awaits it before it answers). */
  saved(): Promise<void> {
    return this.#saved;
  }

  #setStale(name: string, stale: boolean): void {
    if (this.#stale.has(name) === stale) return;
    if (stale) this.#stale.add(name);
    else this.#stale.delete(name);
    if (!this.#state) return;
    const save = this.#state.save({ version: 1, stale: [...this.#stale].sort() });
    save.catch(() => undefined);  // observed by saved(), where a change waits for it
    this.#saved = save;
  }

  member(name: string): GroupMember | undefined {
    return this.members.find((m) => m.name === name);
  }

  /** The members ranked for `volumeId`: its preferred one first. */
  ranking(volumeId: string): GroupMember[] {
    return rankMembers(volumeId, this.members.map((m) => m.name)).map((n) => this.member(n)!);
  }

  /**
   * The member to be optimized for `volumeId` among `holders` (default: every member up):
   * the first in its ranking that is up and not stale, else the first that is up.
   */
  optimizedFor(volumeId: string, holders?: readonly string[]): GroupMember | undefined {
    const among = this.ranking(volumeId).filter((m) => (holders ? holders.includes(m.name) : true) && this.isUp(m.name));
    return among.find((m) => !this.isStale(m.name)) ?? among[0];
  }

  isUp(name: string): boolean {
    return !this.#down.has(name);
  }

  isStale(name: string): boolean {
    return this.#stale.has(name);
  }

  /** It did not answer: it is down, and it has missed whatever the group does meanwhile. */
  markDown(name: string): void {
    this.#down.add(name);
    this.#setStale(name, true);
  }

  /** It answers again (it stays stale until resynced). */
  markUp(name: string): void {
    this.#down.delete(name);
  }

  /** It missed a change (or answered one with an error), and must be resynced. */
  markStale(name: string): void {
    this.#setStale(name, true);
  }

  /** It has what the group has. */
  markFresh(name: string): void {
    this.#setStale(name, false);
  }

  /** The members up, in group order. */
  up(): GroupMember[] {
    return this.members.filter((m) => this.isUp(m.name));
  }
}

function checkName(name: string): void {
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name) || name === 'tcp' || name === 'rdma' || name === 'tls') {
    throw new InvalidArgumentError(`a gateway group member's name must be 1 to 63 letters, digits, '.', '_' or '-' (not tcp, rdma or tls), got "${name}"`);
  }
}

/**
 * `--gateway` values (repeated ones joined with commas): `NAME=SOCKET,tcp=IP:PORT[,rdma=IP:PORT][,tls=IP:PORT]`
 * per member. With `requireTcp`, each member must have its tcp address (the CSI controller).
 */
export function parseGatewayMembers(text: string, options: { requireTcp?: boolean } = {}): GroupMemberSpec[] {
  const out: GroupMemberSpec[] = [];
  for (const item of text.split(',')) {
    const eq = item.indexOf('=');
    const key = eq > 0 ? item.slice(0, eq) : '';
    const value = eq > 0 ? item.slice(eq + 1) : '';
    if (!key || !value) throw new InvalidArgumentError(`--gateway: "${item}" is neither NAME=SOCKET nor tcp=, rdma= or tls=IP:PORT`);
    if (key === 'tcp' || key === 'rdma' || key === 'tls') {
      const m = out[out.length - 1];
      if (!m) throw new InvalidArgumentError(`--gateway: ${key}= must follow the member's NAME=SOCKET`);
      if (m[key]) throw new InvalidArgumentError(`--gateway: member "${m.name}" has ${key}= twice`);
      m[key] = parseListenAddress(value, `--gateway ${m.name} ${key}=`);
      continue;
    }
    checkName(key);
    // A member on another machine is reached by JSON-RPC over TLS (its gateway's --rpc-listen).
    if (isTlsEndpoint(value)) parseRpcEndpoint(value, `--gateway: member "${key}"'s endpoint`);
    else if (!value.startsWith('/')) {
      throw new InvalidArgumentError(`--gateway: member "${key}"'s socket must be an absolute path or tls://HOST:PORT, got "${value}"`);
    }
    out.push({ name: key, socket: value });
  }
  if (options.requireTcp) {
    for (const m of out) if (!m.tcp) throw new InvalidArgumentError(`--gateway: member "${m.name}" needs tcp=IP:PORT, where nodes reach it over NVMe/TCP`);
  }
  return out;
}

/** IP:PORT, with IPv6 addresses in brackets ([fd00::1]:4420). */
export function parseListenAddress(text: string, what: string): ListenAddress {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m || isIP(m[1]) === 0) throw new InvalidArgumentError(`${what} must be IP:PORT (IPv6 in brackets), got '${text}'`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new InvalidArgumentError(`${what}: port ${port} is not in [1, 65535]`);
  return { traddr: m[1], trsvcid: port };
}
