/**
 * `rdmagate group check`: whether the gateways of a group (the CSI controller's --gateway
 * members) export alike. Lists each member's subsystems and namespaces, then one line per
 * finding (checkGroup, lib/csi/group-check.ts); exits 1 when there is any. It reads only:
 * the controller's agent is what sets the ANA states and resyncs a member.
 */
import { InvalidArgumentError } from '../errors';
import { checkGroup, parseGatewayMembers, type GroupCheckResult, type SubsystemView } from '../csi';
import { rpcCall } from '../jsonrpc';
import { isTlsEndpoint } from '../jsonrpc/endpoint';
import { stringFlags, type FlagSpec, type ParsedArgs } from './args';
import { RPC_TLS_FLAGS, rpcTlsFromFlags } from './rpc-tls-flags';
import { isJson, OUTPUT_FORMAT_FLAG, type Command } from './command';

const DEFAULT_TIMEOUT_MS = 5000;

const GROUP_FLAGS: FlagSpec[] = [
  { name: 'gateway', value: 'NAME=SOCKET[,tcp=IP:PORT][,rdma=IP:PORT]', list: true, required: true,
    help: 'a member of the group (repeat for each), as the CSI controller is given them; only the socket is used' },
  { name: 'timeout', value: 'MS', help: `how long each member has to answer each call (default ${DEFAULT_TIMEOUT_MS})` },
  ...RPC_TLS_FLAGS,
  OUTPUT_FORMAT_FLAG,
];

async function runGroup(args: ParsedArgs): Promise<number> {
  const [sub, ...extra] = args.positionals;
  if (sub !== 'check') throw new InvalidArgumentError(`group takes check, got ${sub === undefined ? 'nothing' : `'${sub}'`}`);
  if (extra.length > 0) throw new InvalidArgumentError(`unexpected argument '${extra[0]}': group check takes none`);
  const flag = stringFlags(args);
  const timeout = flag('timeout') ?? String(DEFAULT_TIMEOUT_MS);
  if (!/^\d+$/.test(timeout) || Number(timeout) < 1) throw new InvalidArgumentError(`--timeout must be milliseconds, got '${timeout}'`);
  const timeoutMs = Number(timeout);
  const specs = parseGatewayMembers(flag('gateway')!);
  const remote = specs.find((m) => isTlsEndpoint(m.socket));
  const tls = rpcTlsFromFlags(flag, remote ? `--gateway member "${remote.name}" at ${remote.socket}` : undefined);
  const members = specs.map((m) => ({
    name: m.name, socket: m.socket, rpc: { call: (method: string, params?: Parameters<typeof rpcCall>[2]) =>
      rpcCall(m.socket, method, params, { timeoutMs, ...(tls ? { tls } : {}) }) },
  }));
  const result = await checkGroup(members);
  if (isJson(args)) console.log(JSON.stringify(result, null, 2));
  else for (const line of report(result, new Map(members.map((m) => [m.name, m.socket])))) console.log(line);
  return result.ok ? 0 : 1;
}

/** The text report: each member and its subsystems, then each finding. */
function report(r: GroupCheckResult, sockets: Map<string, string>): string[] {
  const lines: string[] = [];
  for (const m of r.members) {
    if (!m.reachable) {
      lines.push(`member ${m.name} (${sockets.get(m.name)}): does not answer`);
      continue;
    }
    lines.push(`member ${m.name} (${sockets.get(m.name)}): ${m.subsystems.length} subsystem${m.subsystems.length === 1 ? '' : 's'}`);
    for (const s of m.subsystems) lines.push(`  ${subsystemLine(s)}`);
  }
  for (const f of r.findings) lines.push(`drift: ${f.kind}: ${f.message}`);
  const subsystems = new Set(r.members.flatMap((m) => m.subsystems.map((s) => s.nqn))).size;
  lines.push(r.ok ? `consistent: ${r.members.length} members, ${subsystems} subsystems`
    : `${r.findings.length} finding${r.findings.length === 1 ? '' : 's'}`);
  return lines;
}

function subsystemLine(s: SubsystemView): string {
  const ns = s.namespaces.map((n) => `ns ${n.nsid} nguid ${n.nguid} uuid ${n.uuid}`).join(', ') || 'no namespaces';
  const listeners = s.listeners.map((l) => `${l.trtype} ${l.traddr}:${l.trsvcid}${l.anaState ? ` ${l.anaState}` : ''}`).join(', ') || 'no listeners';
  const hosts = s.allowAnyHost ? 'any host' : `${s.hosts.length} host${s.hosts.length === 1 ? '' : 's'}`;
  return `${s.nqn}  serial ${s.serialNumber}  model "${s.modelNumber}"  cntlid ${s.cntlid.min}-${s.cntlid.max}${s.anaReporting ? '  ana' : ''}`
    + `  ${ns}  ${hosts}  ${listeners}`;
}

export const GROUP_COMMAND: Command = {
  name: 'group',
  description: 'check that the gateways of a group (the CSI controller\'s --gateway members) export alike\n'
    + 'lists each member\'s subsystems and namespaces, then one line per finding, and exits 1 if any:\n'
    + '  a member that does not answer; a subsystem missing on a member; a serial, model, namespace\n'
    + '  (NSID, NGUID, UUID) or host list that differs; a shared subsystem without ANA reporting;\n'
    + '  overlapping controller ID ranges; a member without a listener; no optimized listener, or several\n'
    + '-o json: the members\' subsystems and the findings, as JSON',
  flags: GROUP_FLAGS,
  operands: 'check',
  run: runGroup,
};
