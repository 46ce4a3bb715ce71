/**
 * Whether a gateway group's members export alike (`rdmagate group check`): each member's
 * subsystems and namespaces as its JSON-RPC reports them, and the drift between them, one
 * finding each: a member that does not answer, a subsystem missing on a member, a serial,
 * model, namespace set (NSID, NGUID, UUID) or host list that differs, a host whose
 * DH-HMAC-CHAP keys or TLS PSK (by keyring name) differ, so that one member would admit it without
 * authentication or with a key the others no longer take, a subsystem shared
 * without ANA reporting, controller ID ranges that overlap, a subsystem with no listener
 * on a member, and a subsystem with no optimized listener or more than one over the group
 * (the group's rule: one member optimized per volume).
 */
import { JsonRpcError, RpcErrorCode } from '../jsonrpc';
import type { AnaState, GatewayRpc } from './export';

export type GroupFindingKind =
  | 'unreachable' | 'missing' | 'serial' | 'model' | 'namespaces' | 'hosts' | 'host-keys' | 'ana-reporting' | 'cntlid-overlap' | 'no-listener'
  | 'optimized';

export interface GroupFinding {
  kind: GroupFindingKind;
  /** The subsystem it is about; none for a member that does not answer. */
  nqn?: string;
  /** The members it is about. */
  members: string[];
  /** One line. */
  message: string;
}

export interface ListenerView {
  trtype: string;
  traddr: string;
  trsvcid: string;
  /** Its namespaces' ANA state; undefined without ANA reporting or without a namespace. */
  anaState?: AnaState;
}

export interface NamespaceView {
  nsid: number;
  nguid: string;
  uuid: string;
}

export interface SubsystemView {
  nqn: string;
  serialNumber: string;
  modelNumber: string;
  anaReporting: boolean;
  cntlid: { min: number; max: number };
  allowAnyHost: boolean;
  hosts: string[];
  /** Each host's DH-HMAC-CHAP keys by keyring name: `key/ctrlr-key`, `-` for none; then ` psk=NAME` where it has a TLS PSK. */
  hostKeys: Record<string, string>;
  namespaces: NamespaceView[];
  listeners: ListenerView[];
}

export interface MemberView {
  name: string;
  reachable: boolean;
  /** Why it could not be read. */
  error?: string;
  subsystems: SubsystemView[];
}

export interface GroupCheckResult {
  /** No finding. */
  ok: boolean;
  members: MemberView[];
  findings: GroupFinding[];
}

export interface CheckMember {
  name: string;
  rpc: GatewayRpc;
}

interface SubsystemJson {
  nqn: string;
  subtype?: string;
  serial_number?: string;
  model_number?: string;
  ana_reporting?: boolean;
  min_cntlid?: number;
  max_cntlid?: number;
  allow_any_host?: boolean;
  hosts?: { nqn: string; dhchap_key?: string; dhchap_ctrlr_key?: string; psk?: string }[];
  namespaces?: { nsid: number; nguid?: string; uuid?: string }[];
  listen_addresses?: { trtype: string; traddr: string; trsvcid: string }[];
}

interface ListenerJson {
  address: { trtype: string; traddr: string; trsvcid: string };
  ana_states?: { ana_group: number; ana_state: AnaState }[];
}

/** Reads every member (at once) and compares them. */
export async function checkGroup(members: readonly CheckMember[]): Promise<GroupCheckResult> {
  const views = await Promise.all(members.map(readMember));
  return { ...compare(views), members: views };
}

/** The findings for members read already; ok when there is none. */
export function compare(views: readonly MemberView[]): { ok: boolean; findings: GroupFinding[] } {
  const findings: GroupFinding[] = [];
  for (const v of views) {
    if (!v.reachable) findings.push({ kind: 'unreachable', members: [v.name], message: `${v.name} does not answer: ${v.error ?? 'no reason given'}` });
  }
  const reachable = views.filter((v) => v.reachable);
  const nqns = [...new Set(reachable.flatMap((v) => v.subsystems.map((s) => s.nqn)))].sort();
  for (const nqn of nqns) {
    const holders = reachable.flatMap((v) => {
      const s = v.subsystems.find((x) => x.nqn === nqn);
      return s ? [{ member: v.name, s }] : [];
    });
    const add = (kind: GroupFindingKind, names: string[], message: string) => findings.push({ kind, nqn, members: names, message: `${nqn}: ${message}` });
    const lacking = reachable.filter((v) => !holders.some((h) => h.member === v.name)).map((v) => v.name);
    if (lacking.length > 0) add('missing', lacking, `on ${list(holders.map((h) => h.member))}, missing on ${list(lacking)}`);
    const differs = (kind: GroupFindingKind, what: string, key: (s: SubsystemView) => string) => {
      const values = new Set(holders.map((h) => key(h.s)));
      if (values.size > 1) add(kind, holders.map((h) => h.member), `${what} differs: ${holders.map((h) => `${h.member} ${key(h.s) || '(none)'}`).join(', ')}`);
    };
    differs('serial', 'serial number', (s) => s.serialNumber);
    differs('model', 'model number', (s) => s.modelNumber);
    differs('namespaces', 'the namespaces', (s) => s.namespaces.map((n) => `${n.nsid}:${n.nguid}/${n.uuid}`).join(' '));
    differs('hosts', 'the allowed hosts', (s) => (s.allowAnyHost ? 'any' : [...s.hosts].sort().join(' ')));
    // Keys of the hosts every member has (a host missing somewhere is the finding above).
    const common = holders.length === 0 ? [] : holders[0]!.s.hosts.filter((h) => holders.every((x) => x.s.hosts.includes(h)));
    for (const host of common) {
      const keys = holders.map((x) => x.s.hostKeys[host] ?? '-/-');
      if (new Set(keys).size > 1) {
        add('host-keys', holders.map((x) => x.member),
          `the ${keys.some((k) => k.includes(' psk=')) ? 'keys (DH-HMAC-CHAP, TLS PSK)' : 'DH-HMAC-CHAP keys'} of ${host} differ: ` +
          `${holders.map((x, i) => `${x.member} ${keys[i]}`).join(', ')}`);
      }
    }
    if (holders.length > 1) {
      const without = holders.filter((h) => !h.s.anaReporting).map((h) => h.member);
      if (without.length > 0) add('ana-reporting', without, `exported by ${holders.length} members, without ANA reporting on ${list(without)}`);
      for (let i = 0; i < holders.length; i++) {
        for (let j = i + 1; j < holders.length; j++) {
          const [a, b] = [holders[i]!, holders[j]!];
          if (a.s.cntlid.min <= b.s.cntlid.max && b.s.cntlid.min <= a.s.cntlid.max) {
            add('cntlid-overlap', [a.member, b.member], `controller IDs overlap: ${a.member} ${range(a.s)}, ${b.member} ${range(b.s)}`);
          }
        }
      }
    }
    const noListener = holders.filter((h) => h.s.listeners.length === 0).map((h) => h.member);
    if (noListener.length > 0) add('no-listener', noListener, `no listener on ${list(noListener)}`);
    const ana = holders.filter((h) => h.s.anaReporting && h.s.listeners.length > 0);
    if (ana.length > 0 && ana.every((h) => h.s.listeners.every((l) => l.anaState !== undefined))) {
      const optimized = ana.filter((h) => h.s.listeners.some((l) => l.anaState === 'optimized')).map((h) => h.member);
      const count = ana.reduce((n, h) => n + h.s.listeners.filter((l) => l.anaState === 'optimized').length, 0);
      if (count === 0) add('optimized', ana.map((h) => h.member), 'no optimized listener on any member');
      else if (count > 1) add('optimized', optimized, `${count} optimized listeners (${list(optimized)}), not one`);
    }
  }
  return { ok: findings.length === 0, findings };
}

async function readMember(m: CheckMember): Promise<MemberView> {
  try {
    const list = (await m.rpc.call('nvmf_get_subsystems')) as unknown as SubsystemJson[];
    const subsystems: SubsystemView[] = [];
    for (const s of list) {
      if (s.subtype === 'Discovery') continue;
      const states = s.ana_reporting ? await listenerStates(m.rpc, s.nqn) : new Map<string, AnaState>();
      subsystems.push({
        nqn: s.nqn,
        serialNumber: s.serial_number ?? '',
        modelNumber: s.model_number ?? '',
        anaReporting: s.ana_reporting === true,
        cntlid: { min: s.min_cntlid ?? 1, max: s.max_cntlid ?? 0xffef },
        allowAnyHost: s.allow_any_host === true,
        hosts: (s.hosts ?? []).map((h) => h.nqn).sort(),
        hostKeys: Object.fromEntries((s.hosts ?? []).map((h) => [h.nqn,
          `${h.dhchap_key ?? '-'}/${h.dhchap_ctrlr_key ?? '-'}${h.psk ? ` psk=${h.psk}` : ''}`])),
        namespaces: (s.namespaces ?? []).map((n) => ({ nsid: n.nsid, nguid: (n.nguid ?? '').toLowerCase(), uuid: (n.uuid ?? '').toLowerCase() }))
          .sort((a, b) => a.nsid - b.nsid),
        listeners: (s.listen_addresses ?? []).map((l) => {
          const anaState = states.get(addressKey(l));
          return { trtype: l.trtype, traddr: l.traddr, trsvcid: l.trsvcid, ...(anaState ? { anaState } : {}) };
        }),
      });
    }
    return { name: m.name, reachable: true, subsystems: subsystems.sort((a, b) => (a.nqn < b.nqn ? -1 : a.nqn > b.nqn ? 1 : 0)) };
  } catch (e) {
    return { name: m.name, reachable: false, error: e instanceof Error ? e.message : String(e), subsystems: [] };
  }
}

/** Each listener's state (its first ANA group's: every group's, for a volume), by address. */
async function listenerStates(rpc: GatewayRpc, nqn: string): Promise<Map<string, AnaState>> {
  let list: ListenerJson[];
  try {
    list = (await rpc.call('nvmf_subsystem_get_listeners', { nqn })) as unknown as ListenerJson[];
  } catch (e) {
    // Deleted in between, or a gateway without ANA: no states to compare.
    if (e instanceof JsonRpcError && (e.rpcCode === RpcErrorCode.ENODEV || e.rpcCode === RpcErrorCode.METHOD_NOT_FOUND)) return new Map();
    throw e;
  }
  return new Map(list.flatMap((l) => (l.ana_states?.[0] ? [[addressKey(l.address), l.ana_states[0].ana_state] as const] : [])));
}

function addressKey(a: { trtype: string; traddr: string; trsvcid: string }): string {
  return `${a.trtype.toUpperCase()} ${a.traddr} ${a.trsvcid}`;
}

function range(s: SubsystemView): string {
  return `${s.cntlid.min}-${s.cntlid.max}`;
}

function list(names: string[]): string {
  return names.length === 0 ? 'none' : names.join(', ');
}
