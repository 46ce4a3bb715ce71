/**
 * `rdmagate csi`: the Kubernetes CSI driver. Role `controller` serves Identity and
 * Controller (volumes in a local pool, and in Mayastor when given its REST endpoint,
 * exported through the gateway's JSON-RPC socket); roles `default`, `host` and `dpu`
 * serve Identity and Node. `controller,<node role>` (e.g. `controller,default`) serves all
 * three on one socket, for single-node clusters and conformance tools, and takes both
 * parts' flags. A `dpu` node exposes volumes to its host through the
 * host-facing subsystem of the gateway on the DPU (--dpu-subsystem, --dpu-rpc-socket);
 * its --connection-mode is the default for StorageClasses that set no connectionMode.
 * A `host` node with --dpu-endpoint drives its DPU's OPI bridge itself (DpuBridgeAttacher):
 * the CO calls only the host's node plugin.
 * With --gateway (repeated), the controller exports every volume on each gateway of a
 * group (GroupExporter) and watches them (GroupAgent): see README, "Gateway groups".
 * --key-dir is where the controller writes the DH-HMAC-CHAP keys of volumes that require
 * authentication, and the TLS PSKs of volumes that require TLS, for the gateway's keyring to
 * read: the gateway must see it at the same path and run as the same user (deploy/controller.yaml:
 * the state directory both containers mount). --tls-listen (a member's tls=) is where nodes reach
 * the gateway over NVMe/TCP with TLS: a port of its own, default the TCP address's next port.
 * Runs until SIGINT or SIGTERM.
 */
import { isAbsolute, join } from 'node:path';
import { InvalidArgumentError } from '../errors';
import { attacherFor, checkGroup, CONNECTION_MODES, ControllerService, CSI_ROLES, CsiError, CsiLogger, CsiServer, DpuAttacher, DpuBridgeAttacher,
  GatewayDpuFrontend, GatewayGroup, GrpcStatus, GroupAgent, GroupExporter, IdentityService, LocalPlugin, MayastorPlugin, NodeService, NvmfExporter,
  parseCsiRoles, parseGatewayMembers, parseListenAddress, socketGatewayRpc, type ConnectionMode, type CsiServerOptions, type GroupMemberSpec,
  type ListenAddress, type NodeRole, type StoragePlugin, type VolumeAttacher } from '../csi';
import { DEFAULT_SOCKET_PATH, rpcCall } from '../jsonrpc';
import { stderrSink } from '../log/logger';
import { opiClient } from '../opi/client';
import { LOG_LEVELS, logLevelFlag, stringFlags, type FlagSpec, type ParsedArgs } from './args';
import { type Command } from './command';
import { isTlsEndpoint, type RpcTlsCredentials } from '../jsonrpc/endpoint';
import { RPC_TLS_FLAGS, rpcTlsFromFlags } from './rpc-tls-flags';

const DEFAULT_POOL_DIR = '/var/lib/rdmagate/csi';
const DEFAULT_KEY_DIR = '/var/lib/rdmagate/keys';
const DEFAULT_ENDPOINT = 'unix:///csi/csi.sock';

type Flag = (name: string) => string | undefined;

const CSI_FLAGS: FlagSpec[] = [
  { name: 'role', value: CSI_ROLES.join('|'), required: true, list: true,
    help: 'controller: Identity and Controller; default, host, dpu: Identity and Node; the controller and one node role '
      + '(controller,default, or --role twice): all three on one socket, for single-node clusters and conformance tools' },
  { name: 'endpoint', value: 'unix:///PATH', help: `the CSI socket (default $CSI_ENDPOINT, else ${DEFAULT_ENDPOINT})` },
  { name: 'log-level', value: LOG_LEVELS.join('|'), help: 'JSON lines to stderr from this level up (default info)' },
  { name: 'pool-dir', value: 'DIR', help: `controller: the local pool's volumes (default ${DEFAULT_POOL_DIR})` },
  { name: 'gateway-socket', value: 'PATH', help: `controller: the gateway's JSON-RPC socket (default ${DEFAULT_SOCKET_PATH})` },
  { name: 'key-dir', value: 'DIR', help: 'controller: where the DH-HMAC-CHAP keys and TLS PSKs of volumes with a dhchap or tls parameter '
    + `are written, 0600, for the gateway's keyring, which must see them at this path as their owner (default ${DEFAULT_KEY_DIR}; made on first use)` },
  { name: 'tcp-listen', value: 'IP:PORT', help: 'controller, required: where nodes reach the gateway over NVMe/TCP' },
  { name: 'tls-listen', value: 'IP:PORT', help: 'controller: where nodes reach the gateway over NVMe/TCP with TLS, for volumes with tls: "true" '
    + '(a secure-channel listener: another port than --tcp-listen\'s; default --tcp-listen\'s address, its port + 1)' },
  { name: 'rdma-listen', value: 'IP:PORT', help: 'controller: where nodes reach the gateway over NVMe/RDMA' },
  { name: 'gateway', value: 'NAME=SOCKET,tcp=IP:PORT[,rdma=IP:PORT][,tls=IP:PORT]', list: true,
    help: 'controller: a member of the gateway group that exports every volume, each member once, in a fixed order (a member\'s '
      + 'place is its controller ID range: append, do not reorder); instead of --gateway-socket, --tcp-listen, --rdma-listen and --tls-listen' },
  ...RPC_TLS_FLAGS.map((f) => ({ ...f, help: `controller, with --gateway members at tls://HOST:PORT (gateways on other machines, `
    + `their --rpc-listen): ${f.help}` })),
  { name: 'group-min-members', value: 'N', help: 'controller, with --gateway: a publish or unpublish fails (UNAVAILABLE) unless at '
    + 'least N members took it (default 1); the others are resynced when they answer again' },
  { name: 'group-health-interval', value: 'SECONDS', help: 'controller, with --gateway: how often each member is probed; the volumes of '
    + 'a lost member are made optimized on a survivor, and a member back is resynced (default 2)' },
  { name: 'mayastor-endpoint', value: 'http://HOST:PORT', help: 'controller: Mayastor\'s REST API (or $MAYASTOR_ENDPOINT): adds plugin mayastor' },
  { name: 'node-id', value: 'HOSTNQN', help: 'node roles: the node\'s id, its host NQN (with --role dpu, that of its host)' },
  { name: 'dpu-endpoint', value: 'HOST:PORT', help: 'host: the DPU\'s OPI bridge (rdmagate dpu), asked to attach each volume '
    + 'behind the host function, connected at start' },
  { name: 'dpu-function', value: 'ID', help: 'host, with --dpu-endpoint: the DPU\'s host function' },
  { name: 'dpu-subsystem', value: 'NQN', help: 'dpu, required for aio: the DPU gateway\'s host-facing subsystem, where each volume '
    + 'becomes a namespace' },
  { name: 'dpu-rpc-socket', value: 'PATH', help: `dpu: the DPU gateway's JSON-RPC socket (default ${DEFAULT_SOCKET_PATH})` },
  { name: 'connection-mode', value: CONNECTION_MODES.join('|'), help: 'dpu (default aio) or host with --dpu-endpoint (default nvmf): how volumes '
    + 'reach the host, for StorageClasses that set no connectionMode' },
];

/** One gateway, or a group of them. */
type GatewayFlags =
  | { kind: 'single'; tcp: ListenAddress; rdma?: ListenAddress; tls?: ListenAddress; socket: string }
  | { kind: 'group'; members: GroupMemberSpec[]; minMembers: number; healthIntervalMs: number; tls?: RpcTlsCredentials };

/** What the controller part needs from its flags, checked before anything starts. */
interface ControllerFlags {
  gateways: GatewayFlags;
  poolDir: string;
  keyDir: string;
  mayastor?: string;
}

/** A started part of the driver: its service handlers and its share of Probe. */
interface Part {
  services: CsiServerOptions['services'];
  probe: () => Promise<void>;
  /** Stops what it runs in the background. */
  close?: () => Promise<void>;
}

/** Where a group controller keeps its stale members, in its pool directory. */
const GROUP_STATE_FILE = 'gateway-group.json';
/** The default of --group-health-interval, in seconds. */
const DEFAULT_HEALTH_INTERVAL_S = 2;
/** How long a group member has to answer one call of a publish or unpublish. */
const GROUP_RPC_TIMEOUT_MS = 10_000;

async function runCsi(args: ParsedArgs): Promise<number> {
  const flag = stringFlags(args);
  const roles = parseCsiRoles(flag('role') ?? '');
  const level = logLevelFlag(flag('log-level'));
  const log = new CsiLogger(stderrSink(level));
  const endpoint = flag('endpoint') ?? process.env.CSI_ENDPOINT ?? DEFAULT_ENDPOINT;

  checkNodeFlags(roles.node, flag);
  const controllerFlags = roles.controller ? parseControllerFlags(flag) : undefined;
  // The node part first: a node id that is no host NQN is refused before the controller opens its pool.
  const node = roles.node ? await startNode(roles.node, flag, log) : undefined;
  const controller = controllerFlags ? await startController(controllerFlags, log) : undefined;
  // Probe asks the controller's gateway first, then the node's attacher.
  const parts = [controller, node].filter((p): p is Part => p !== undefined);
  const identity = new IdentityService({ controller: roles.controller, manifest: { role: roles.label }, probe: async () => {
    for (const p of parts) await p.probe();
  } });
  const services: CsiServerOptions['services'] = { Identity: identity.handlers() };
  for (const p of parts) Object.assign(services, p.services);
  const server = await CsiServer.start({ endpoint, log, services });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  for (const p of parts) await p.close?.();
  return 0;
}

/** The node roles' flags, each for the role that takes it (undefined: no node role). */
function checkNodeFlags(role: NodeRole | undefined, flag: Flag): void {
  for (const f of ['dpu-subsystem', 'dpu-rpc-socket']) {
    if (role !== 'dpu' && flag(f) !== undefined) throw new InvalidArgumentError(`--${f} is for --role dpu only`);
  }
  for (const f of ['dpu-endpoint', 'dpu-function']) {
    if (role !== 'host' && flag(f) !== undefined) throw new InvalidArgumentError(`--${f} is for --role host only`);
  }
  if (flag('dpu-function') !== undefined && flag('dpu-endpoint') === undefined) throw new InvalidArgumentError('--dpu-function needs --dpu-endpoint');
  if (flag('connection-mode') !== undefined && role !== 'dpu' && !(role === 'host' && flag('dpu-endpoint'))) {
    throw new InvalidArgumentError('--connection-mode is for --role dpu, or --role host with --dpu-endpoint');
  }
}

function parseControllerFlags(flag: Flag): ControllerFlags {
  // StorageClasses pick it with `plugin: mayastor`; its records live beside the local pool's.
  const mayastor = flag('mayastor-endpoint') ?? process.env.MAYASTOR_ENDPOINT;
  const keyDir = flag('key-dir') ?? DEFAULT_KEY_DIR;
  // The gateway opens it by this path: a relative one would be relative to another process's directory.
  if (!isAbsolute(keyDir)) throw new InvalidArgumentError(`--key-dir must be an absolute path, got '${keyDir}'`);
  return { gateways: parseGatewayFlags(flag), poolDir: flag('pool-dir') ?? DEFAULT_POOL_DIR, keyDir, ...(mayastor ? { mayastor } : {}) };
}

/** --gateway-socket, --tcp-listen and --rdma-listen (one gateway), or --gateway and the --group-* flags. */
function parseGatewayFlags(flag: Flag): GatewayFlags {
  const members = flag('gateway');
  if (members === undefined) {
    for (const f of ['group-min-members', 'group-health-interval', ...RPC_TLS_FLAGS.map((t) => t.name)]) {
      if (flag(f) !== undefined) throw new InvalidArgumentError(`--${f} is for a gateway group (--gateway)`);
    }
    const tcp = flag('tcp-listen');
    if (!tcp) throw new InvalidArgumentError('--tcp-listen IP:PORT is required: where nodes reach the gateway over NVMe/TCP');
    const rdma = flag('rdma-listen');
    const tls = flag('tls-listen');
    return { kind: 'single', tcp: parseListenAddress(tcp, '--tcp-listen'), ...(rdma ? { rdma: parseListenAddress(rdma, '--rdma-listen') } : {}),
      ...(tls ? { tls: parseListenAddress(tls, '--tls-listen') } : {}), socket: flag('gateway-socket') ?? DEFAULT_SOCKET_PATH };
  }
  for (const f of ['gateway-socket', 'tcp-listen', 'rdma-listen', 'tls-listen']) {
    if (flag(f) !== undefined) throw new InvalidArgumentError(`--${f} is for one gateway: with --gateway, each member says its own`);
  }
  const specs = parseGatewayMembers(members, { requireTcp: true });
  const withRdma = specs.filter((m) => m.rdma).length;
  if (withRdma !== 0 && withRdma !== specs.length) {
    throw new InvalidArgumentError('--gateway: either every member has an rdma= address or none has: a volume is exported alike on each');
  }
  const min = flag('group-min-members') ?? '1';
  if (!/^\d+$/.test(min) || Number(min) < 1 || Number(min) > specs.length) {
    throw new InvalidArgumentError(`--group-min-members must be a number in [1, ${specs.length}] (the members given), got '${min}'`);
  }
  const interval = flag('group-health-interval') ?? String(DEFAULT_HEALTH_INTERVAL_S);
  if (!/^\d+(\.\d+)?$/.test(interval) || Number(interval) < 0.1 || Number(interval) > 3600) {
    throw new InvalidArgumentError(`--group-health-interval must be seconds in [0.1, 3600], got '${interval}'`);
  }
  const remote = specs.find((m) => isTlsEndpoint(m.socket));
  const tls = rpcTlsFromFlags(flag, remote ? `--gateway member "${remote.name}" at ${remote.socket}` : undefined);
  return { kind: 'group', members: specs, minMembers: Number(min), healthIntervalMs: Math.round(Number(interval) * 1000), ...(tls ? { tls } : {}) };
}

/** The Controller service over its plugins; healthy means the gateway answers: without it nothing can be published. */
async function startController(f: ControllerFlags, log: CsiLogger): Promise<Part> {
  const plugins: StoragePlugin[] = [new LocalPlugin({ poolDir: f.poolDir, log })];
  if (f.mayastor) plugins.push(new MayastorPlugin({ endpoint: f.mayastor, stateDir: join(f.poolDir, 'mayastor'), log }));
  for (const p of plugins) await p.open();
  const g = f.gateways;
  if (g.kind === 'single') {
    const rpc = socketGatewayRpc(g.socket);
    const exporter = new NvmfExporter({ rpc, tcp: g.tcp, ...(g.rdma ? { rdma: g.rdma } : {}), ...(g.tls ? { tls: g.tls } : {}) });
    const controller = new ControllerService({ plugins, exporter, log, keyDir: f.keyDir });
    return { services: { Controller: controller.handlers() }, probe: async () => { await rpc.call('nvmf_get_transports'); } };
  }
  return startGroupController(g, plugins, log, f.keyDir, f.poolDir);
}

/**
 * The Controller service over a gateway group, and the agent that watches the group: one
 * round before serving (members down are known, ANA states set), drift between the members
 * logged, then a round every --group-health-interval. Healthy means that enough members
 * answer to publish.
 */
async function startGroupController(g: Extract<GatewayFlags, { kind: 'group' }>, plugins: StoragePlugin[], log: CsiLogger,
  keyDir: string, poolDir: string): Promise<Part> {
  const sockets = new Map(g.members.map((m) => [m.name, m.socket]));
  const group = new GatewayGroup({
    members: g.members.map((m) => ({ name: m.name, rpc: socketGatewayRpc(m.socket, GROUP_RPC_TIMEOUT_MS, g.tls), tcp: m.tcp,
      ...(m.rdma ? { rdma: m.rdma } : {}), ...(m.tls ? { tls: m.tls } : {}) })),
    minMembers: g.minMembers,
    statePath: join(poolDir, GROUP_STATE_FILE),
  });
  await group.load();
  const exporter = new GroupExporter({ group, log });
  const controller = new ControllerService({ plugins, exporter, log, keyDir });
  const probeTimeoutMs = Math.min(g.healthIntervalMs, 1000);
  const agent = new GroupAgent({
    exporter, log, lookup: (id) => controller.exportSpec(id),
    probe: (m) => rpcCall(sockets.get(m.name)!, 'rpc_get_methods', undefined, { timeoutMs: probeTimeoutMs, retries: 0,
      ...(g.tls ? { tls: g.tls } : {}) }).then(() => true, () => false),
  });
  await agent.check();
  const drift = await checkGroup(group.members);
  for (const d of drift.findings) log.warn('gateway group drift', { kind: d.kind, nqn: d.nqn ?? null, members: d.members, message: d.message });
  log.info('gateway group', { members: agent.status(), minMembers: group.minMembers, healthIntervalMs: g.healthIntervalMs });
  agent.start(g.healthIntervalMs);
  return {
    services: { Controller: controller.handlers() },
    probe: async () => {
      const answers = await Promise.all(group.members.map((m) => m.rpc.call('nvmf_get_transports').then(() => true, () => false)));
      const up = answers.filter((a) => a).length;
      if (up < group.minMembers) {
        throw new CsiError(GrpcStatus.UNAVAILABLE, `${up} of ${group.members.length} gateway group members answer, and publishing needs ${group.minMembers}`);
      }
    },
    close: () => agent.stop(),
  };
}

/** The Node service of `role`, with that role's attacher. */
async function startNode(role: NodeRole, flag: Flag, log: CsiLogger): Promise<Part> {
  const dpuEndpoint = flag('dpu-endpoint');
  const attacher = role === 'dpu' ? dpuAttacher(flag)
    : dpuEndpoint ? await dpuBridgeAttacher(dpuEndpoint, flag, log) : attacherFor(role, { log });
  const nodeId = flag('node-id');
  const node = new NodeService({ role, log, attacher, ...(nodeId ? { nodeId } : {}) });
  return { services: { Node: node.handlers() }, probe: () => node.probe() };
}

/** --connection-mode's value, or `fallback` without one. */
function connectionModeFlag(value: string | undefined, fallback: ConnectionMode): ConnectionMode {
  const mode = value ?? fallback;
  if (!(CONNECTION_MODES as readonly string[]).includes(mode)) {
    throw new InvalidArgumentError(`--connection-mode must be one of ${CONNECTION_MODES.join(', ')}, got '${mode}'`);
  }
  return mode as ConnectionMode;
}

/** The dpu role's attacher: AIO through the DPU gateway's host-facing subsystem (NVMe-oF is the host role's). */
function dpuAttacher(flag: Flag): VolumeAttacher {
  const mode = connectionModeFlag(flag('connection-mode'), 'aio');
  const subsystem = flag('dpu-subsystem');
  if (subsystem === undefined && mode === 'aio') {
    throw new InvalidArgumentError('--dpu-subsystem NQN is required for --role dpu: the host-facing subsystem volumes are exposed on');
  }
  if (subsystem !== undefined && !subsystem.startsWith('nqn.')) throw new InvalidArgumentError(`--dpu-subsystem must be an NQN, got '${subsystem}'`);
  const aio = subsystem === undefined ? undefined
    : new GatewayDpuFrontend({ rpc: socketGatewayRpc(flag('dpu-rpc-socket') ?? DEFAULT_SOCKET_PATH), subsystem });
  return new DpuAttacher({ defaultMode: mode, ...(aio ? { aio } : {}) });
}

/**
 * The host role driving its DPU's OPI bridge. The host's kernel connects to the DPU's host
 * function now, once, as a PCIe function would simply be there; a DPU not up yet is logged
 * and retried by Probe and by each stage.
 */
async function dpuBridgeAttacher(endpoint: string, flag: Flag, log: CsiLogger): Promise<VolumeAttacher> {
  const mode = connectionModeFlag(flag('connection-mode'), 'nvmf');
  const fn = flag('dpu-function');
  const attacher = new DpuBridgeAttacher({ opi: opiClient(endpoint), defaultMode: mode, log, ...(fn ? { subsystemId: fn } : {}) });
  try {
    const f = await attacher.connectHostFunction();
    log.info('connected to the DPU host function', { dpu: endpoint, nqn: f.nqn, transport: f.transport, traddr: f.traddr, trsvcid: f.trsvcid });
  } catch (e) {
    log.warn('cannot connect to the DPU host function yet', { dpu: endpoint, error: (e as Error).message });
  }
  return attacher;
}


export const CSI_COMMAND: Command = {
  name: 'csi',
  description: 'the Kubernetes CSI driver (rdmagate.csi.io) on a unix socket; runs until SIGINT or SIGTERM\n'
    + 'controller: volumes in a local pool (and in Mayastor), exported through the gateway\'s JSON-RPC,\n'
    + '      or on every gateway of a group (--gateway, repeated), one of them optimized per volume\n'
    + 'host: waits for the disk its DPU exposes (by NGUID/UUID or serial), formats and mounts it;\n'
    + '      with --dpu-endpoint it drives the DPU\'s OPI bridge itself, in nvmf mode (default) or aio mode\n'
    + 'dpu:  connects to the gateway and exposes each volume as a namespace of the DPU gateway\'s\n'
    + '      host-facing subsystem (aio; nvmf is staged by the host role); --node-id: its host\'s NQN\n'
    + 'controller,default (or another node role): Identity, Controller and Node on one socket, with both parts\' flags',
  flags: CSI_FLAGS,
  run: runCsi,
};
