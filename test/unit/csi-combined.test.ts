/**
 * `rdmagate csi --role controller,default` (issue 20 item 11): Identity, Controller and Node
 * on one socket, as a single-node cluster or a conformance tool (csi-sanity) uses it, run as
 * a process against an in-process gateway and a local pool. Over gRPC: the capabilities of
 * both parts, a volume's controller lifecycle with the node's own id (CreateVolume,
 * ControllerPublishVolume, NodeGetInfo and NodeGetCapabilities, ControllerUnpublishVolume,
 * DeleteVolume), and the conformance orderings of items 12 to 14 against this socket.
 * Staging and publishing on the node need root and the kernel's NVMe-oF host:
 * test/lab/csi-lifecycle.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway } from '../../lib';
import { CsiClient, GrpcStatus, NvmfExporter, RDMA_TOPOLOGY_KEY, volumeNqn } from '../../lib/csi';
import { isHostNqn } from '../../lib/csi/nqn';
import { publishChecksFieldsFirst, rejectsOverGrpc } from '../support/csi-assert';
import { CLI_MAIN, runCsi, stopCsi, waitForCsi, type CsiProcess } from '../support/csi-cli';

const NODE_ID = `nqn.2014-08.org.nvmexpress:uuid:${randomUUID()}`;
const MiB = 1 << 20;
const MOUNT = { mount: { fs_type: 'ext4' }, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
const BLOCK_SHARED = { block: {}, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } };
/** The node role's capabilities, as NodeGetCapabilities answers them without a controller (csi-node.test.ts). */
const NODE_CAPABILITIES = ['STAGE_UNSTAGE_VOLUME', 'GET_VOLUME_STATS', 'EXPAND_VOLUME', 'VOLUME_CONDITION', 'SINGLE_NODE_MULTI_WRITER'];

// Below Linux's ephemeral range (32768-60999), where outgoing connections take their ports.
const PORT = 10000 + Math.floor(Math.random() * 10000);

type Vol = { volume: { volume_id: string; capacity_bytes: string; volume_context: Record<string, string>; accessible_topology: unknown[] } };
type Pub = { publish_context: Record<string, string> };
type Info = { node_id: string; max_volumes_per_node: string; accessible_topology: { segments: Record<string, string> } };

/** `rdmagate csi ARGS...` run to its end: its exit status and stderr. */
function csiExit(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [CLI_MAIN, 'csi', ...args], { encoding: 'utf8', timeout: 10000 });
  return { status: r.status, stderr: r.stderr };
}

describe('rdmagate csi --role controller,default (one socket: Identity, Controller and Node)', function () {
  this.timeout(30000);
  let dir: string;
  let gateway: Gateway;
  let driver: CsiProcess | undefined;
  let client: CsiClient;
  let sock: string;

  /** The combined driver's flags: the controller's and the node's on one command line. */
  const combinedArgs = (endpoint: string, pool: string, gatewaySocket: string) => ['--role', 'controller,default', '--endpoint', `unix://${endpoint}`,
    '--pool-dir', pool, '--gateway-socket', gatewaySocket, '--tcp-listen', `127.0.0.1:${PORT}`, '--node-id', NODE_ID];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-csi-combined-'));
    gateway = new Gateway({ socketPath: join(dir, 'gw.sock'), configPath: null, log: () => undefined });
    await gateway.start();
    sock = join(dir, 'csi.sock');
    driver = runCsi(combinedArgs(sock, join(dir, 'pool'), join(dir, 'gw.sock')));
    await waitForCsi(sock, driver.child, driver.stderr);
    client = new CsiClient(`unix://${sock}`);
  });

  after(async () => {
    client?.close();
    if (driver) await stopCsi(driver.child);
    await gateway?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const ctl = <T = Record<string, unknown>>(method: string, req: object = {}) => client.call<T>('Controller', method, req);
  const node = <T = Record<string, unknown>>(method: string, req: object = {}) => client.call<T>('Node', method, req);
  const create = (name: string, extra: object = {}) =>
    ctl<Vol>('CreateVolume', { name, volume_capabilities: [MOUNT], capacity_range: { required_bytes: 16 * MiB }, ...extra });
  const publish = (id: string, nodeId = NODE_ID, cap: object = MOUNT) =>
    ctl<Pub>('ControllerPublishVolume', { volume_id: id, node_id: nodeId, volume_capability: cap });
  /** Which of these volumes have a subsystem on the gateway. */
  const exported = async (...ids: string[]) => ((await gateway.rpc('nvmf_get_subsystems')) as { nqn: string }[])
    .map((s) => s.nqn).filter((n) => ids.some((id) => n === volumeNqn(id)));

  it('says it serves all three services, and advertises CONTROLLER_SERVICE with the node\'s capabilities', async () => {
    const listening = driver!.stderr().trim().split('\n').map((l) => JSON.parse(l) as { msg: string; services?: string[] })
      .find((l) => l.msg === 'csi listening');
    assert.deepEqual(listening?.services, ['Identity', 'Controller', 'Node']);
    const info = await client.call<{ name: string; manifest: Record<string, string> }>('Identity', 'GetPluginInfo');
    assert.equal(info.name, 'rdmagate.csi.io');
    assert.equal(info.manifest.role, 'controller,default');
    type PluginCaps = { capabilities: { service?: { type: string }; volume_expansion?: { type: string } }[] };
    const pc = await client.call<PluginCaps>('Identity', 'GetPluginCapabilities');
    assert.deepEqual(pc.capabilities.flatMap((c) => (c.service ? [c.service.type] : [])), ['CONTROLLER_SERVICE', 'VOLUME_ACCESSIBILITY_CONSTRAINTS']);
    assert.ok(pc.capabilities.some((c) => c.volume_expansion?.type === 'ONLINE'));
    const cc = await ctl<{ capabilities: { rpc: { type: string } }[] }>('ControllerGetCapabilities');
    for (const t of ['CREATE_DELETE_VOLUME', 'PUBLISH_UNPUBLISH_VOLUME', 'CREATE_DELETE_SNAPSHOT', 'EXPAND_VOLUME']) {
      assert.ok(cc.capabilities.some((c) => c.rpc.type === t), t);
    }
    // The node part answers as the default role does on its own.
    const nc = await node<{ capabilities: { rpc: { type: string } }[] }>('NodeGetCapabilities');
    assert.deepEqual(nc.capabilities.map((c) => c.rpc.type), NODE_CAPABILITIES);
  });

  it('Probe asks both parts: the gateway, then the node\'s kernel host (nvme-cli)', async () => {
    const nvmeCli = spawnSync('nvme', ['version']).status === 0;
    if (nvmeCli) assert.deepEqual(await client.call('Identity', 'Probe'), { ready: { value: true } });
    else await rejectsOverGrpc(client.call('Identity', 'Probe'), GrpcStatus.FAILED_PRECONDITION, /nvme-cli is not installed/);
    // A second combined driver whose gateway is not there: the controller's part answers first.
    const other = join(dir, 'no-gateway.sock');
    const p = runCsi(combinedArgs(other, join(dir, 'other-pool'), join(dir, 'absent-gw.sock')));
    try {
      await waitForCsi(other, p.child, p.stderr);
      const c = new CsiClient(`unix://${other}`);
      try {
        await rejectsOverGrpc(c.call('Identity', 'Probe'), GrpcStatus.UNAVAILABLE, /gateway/);
      } finally {
        c.close();
      }
    } finally {
      assert.equal(await stopCsi(p.child), 0, p.stderr());
    }
  });

  it('CreateVolume, ControllerPublishVolume to the node\'s own id, NodeGetInfo and NodeGetCapabilities, ControllerUnpublishVolume, DeleteVolume', async () => {
    // The CO learns the node's id and topology first (the node-driver-registrar's NodeGetInfo).
    const info = await node<Info>('NodeGetInfo');
    assert.equal(info.node_id, NODE_ID);
    assert.ok(isHostNqn(info.node_id));
    assert.deepEqual(Object.keys(info.accessible_topology.segments), [RDMA_TOPOLOGY_KEY]);

    const v = (await create('combined', { accessibility_requirements: { requisite: [info.accessible_topology],
      preferred: [info.accessible_topology] } })).volume;
    const id = v.volume_id;
    assert.equal(v.capacity_bytes, String(16 * MiB));
    // No RDMA listener on this gateway: transport=auto made it a TCP volume, reachable from anywhere.
    assert.equal(v.volume_context.transport, 'tcp');
    assert.ok(existsSync(join(dir, 'pool', 'volumes', `${id}.img`)), 'the volume file is in the pool');

    const ctx = (await publish(id, info.node_id)).publish_context;
    assert.equal(ctx.transport, 'tcp');
    assert.equal(ctx.traddr, '127.0.0.1');
    assert.equal(ctx.trsvcid, String(PORT));
    assert.equal(ctx.subnqn, volumeNqn(id));
    const [sub] = (await gateway.rpc('nvmf_get_subsystems', { nqn: volumeNqn(id) })) as { hosts: { nqn: string }[] }[];
    assert.deepEqual(sub.hosts, [{ nqn: NODE_ID }], 'the node\'s id is the host NQN the volume allows');
    // Idempotent, as the CO's retries need.
    assert.deepEqual((await publish(id, info.node_id)).publish_context, ctx);
    const list = await ctl<{ entries: { volume: { volume_id: string }; status: { published_node_ids: string[] } }[] }>('ListVolumes');
    assert.deepEqual(list.entries.find((e) => e.volume.volume_id === id)?.status.published_node_ids, [NODE_ID]);

    // The node would stage now (STAGE_UNSTAGE_VOLUME: root and the kernel host, test/lab/csi-lifecycle.test.ts).
    const nc = await node<{ capabilities: { rpc: { type: string } }[] }>('NodeGetCapabilities');
    assert.ok(nc.capabilities.some((c) => c.rpc.type === 'STAGE_UNSTAGE_VOLUME'));
    // Published by the controller is not staged on the node: the node keeps no record of its own.
    await rejectsOverGrpc(node('NodeGetVolumeStats', { volume_id: id, volume_path: '/' }), GrpcStatus.NOT_FOUND, /not staged/);

    await rejectsOverGrpc(ctl('DeleteVolume', { volume_id: id }), GrpcStatus.FAILED_PRECONDITION, /still published/);
    await ctl('ControllerUnpublishVolume', { volume_id: id, node_id: info.node_id });
    await assert.rejects(gateway.rpc('nvmf_get_subsystems', { nqn: volumeNqn(id) }), /No such device/);
    assert.ok(!gateway.target.bdevs().some((b) => b.name === NvmfExporter.bdevName(id)), 'the bdev is gone too');
    await ctl('ControllerUnpublishVolume', { volume_id: id, node_id: info.node_id });
    await ctl('DeleteVolume', { volume_id: id });
    assert.ok(!existsSync(join(dir, 'pool', 'volumes', `${id}.img`)), 'the volume file is gone');
    await ctl('DeleteVolume', { volume_id: id });
  });

  it('item 12: a missing or malformed field is INVALID_ARGUMENT before anything is NOT_FOUND', async () => {
    const id = (await create('order')).volume.volume_id;
    const unknown = randomUUID();
    await publishChecksFieldsFirst(ctl, publish, MOUNT, id, unknown);
    await rejectsOverGrpc(ctl('ControllerExpandVolume', { volume_id: unknown, capacity_range: {} }), GrpcStatus.INVALID_ARGUMENT,
      /required_bytes or limit_bytes/);
    await rejectsOverGrpc(ctl('ValidateVolumeCapabilities', { volume_id: unknown, volume_capabilities: [MOUNT], parameters: { colour: 'blue' } }),
      GrpcStatus.INVALID_ARGUMENT, /unknown parameter "colour"/);
    await rejectsOverGrpc(ctl('ControllerExpandVolume', { volume_id: unknown, capacity_range: { required_bytes: MiB } }), GrpcStatus.NOT_FOUND);
    await rejectsOverGrpc(ctl('ValidateVolumeCapabilities', { volume_id: unknown, volume_capabilities: [MOUNT] }), GrpcStatus.NOT_FOUND);
    // The node's RPCs on the same socket check their fields before they touch anything.
    const stage = (r: object) => node('NodeStageVolume', { volume_id: id, staging_target_path: join(dir, 's'), volume_capability: MOUNT,
      publish_context: { transport: 'tcp', traddr: '127.0.0.1', trsvcid: String(PORT), subnqn: volumeNqn(id), uuid: id }, ...r });
    await rejectsOverGrpc(stage({ volume_id: '' }), GrpcStatus.INVALID_ARGUMENT, /volume_id/);
    await rejectsOverGrpc(stage({ staging_target_path: 'relative/path' }), GrpcStatus.INVALID_ARGUMENT, /absolute/);
    await rejectsOverGrpc(stage({ volume_capability: null }), GrpcStatus.INVALID_ARGUMENT, /volume_capability/);
    await rejectsOverGrpc(stage({ publish_context: {} }), GrpcStatus.INVALID_ARGUMENT, /publish_context.transport is missing/);
    await rejectsOverGrpc(node('NodePublishVolume', { volume_id: id, target_path: join(dir, 't'), volume_capability: MOUNT }),
      GrpcStatus.INVALID_ARGUMENT, /staging_target_path/);
    assert.deepEqual(await exported(id, unknown), [], 'nothing was exported');
    assert.ok(!existsSync(join(dir, 's')), 'nothing was made on the node');
    await ctl('DeleteVolume', { volume_id: id });
  });

  it('item 13: NodeGetVolumeStats and NodeExpandVolume are NOT_FOUND unless the volume is at that path', async () => {
    const id = randomUUID();
    mkdirSync(join(dir, 'empty'), { recursive: true });
    // csi-sanity's paths: "some/path" (relative, so no volume can be there), one that does not exist, one with "..".
    for (const path of ['some/path', join(dir, 'missing'), '/a/../b']) {
      await rejectsOverGrpc(node('NodeGetVolumeStats', { volume_id: id, volume_path: path }), GrpcStatus.NOT_FOUND);
      await rejectsOverGrpc(node('NodeExpandVolume', { volume_id: id, volume_path: path }), GrpcStatus.NOT_FOUND);
    }
    // Paths that exist, a mount point and a plain directory, of no volume of this node.
    for (const path of ['/', join(dir, 'empty')]) {
      await rejectsOverGrpc(node('NodeGetVolumeStats', { volume_id: id, volume_path: path }), GrpcStatus.NOT_FOUND, /not staged/);
      await rejectsOverGrpc(node('NodeExpandVolume', { volume_id: id, volume_path: path }), GrpcStatus.NOT_FOUND, /not attached/);
    }
    // A missing field is still INVALID_ARGUMENT.
    await rejectsOverGrpc(node('NodeGetVolumeStats', { volume_id: '', volume_path: '/' }), GrpcStatus.INVALID_ARGUMENT, /volume_id/);
    await rejectsOverGrpc(node('NodeGetVolumeStats', { volume_id: id }), GrpcStatus.INVALID_ARGUMENT, /volume_path/);
    await rejectsOverGrpc(node('NodeExpandVolume', { volume_id: id }), GrpcStatus.INVALID_ARGUMENT, /volume_path/);
  });

  it('item 14: node ids are host NQNs by the NVMe grammar, the node\'s own and those the controller allows', async () => {
    assert.ok(isHostNqn((await node<Info>('NodeGetInfo')).node_id));
    const id = (await create('nqn-grammar', { volume_capabilities: [BLOCK_SHARED] })).volume.volume_id;
    for (const bad of ['worker-1', 'nqn.', 'nqn.2014-13.org.example:host', 'nqn.2014-08.org.nvmexpress:uuid:not-a-uuid', 'nqn.2014-08.example:host',
      'nqn.2014-08.org.example:', 'nqn.2014-08.org.example:host\u0001', 'nqn.2014-08.org.nvmexpress.discovery']) {
      await rejectsOverGrpc(publish(id, bad, BLOCK_SHARED), GrpcStatus.NOT_FOUND, /not a host NQN/);
    }
    const good = [NODE_ID, 'nqn.2019-06.io.example.nodes:worker 1', `nqn.2014-08.org.nvmexpress:uuid:${randomUUID().toUpperCase()}`];
    for (const n of good) await publish(id, n, BLOCK_SHARED);
    const [sub] = (await gateway.rpc('nvmf_get_subsystems', { nqn: volumeNqn(id) })) as { hosts: { nqn: string }[] }[];
    assert.deepEqual(sub.hosts.map((h) => h.nqn).sort(), [...good].sort());
    await ctl('ControllerUnpublishVolume', { volume_id: id });
    assert.deepEqual(await exported(id), [], 'unpublished from every node');
    await ctl('DeleteVolume', { volume_id: id });
  });

  it('refuses, in one line, a role list it cannot serve, flags of a role it does not serve, and a node id that is no NQN', () => {
    const pool = join(dir, 'refused-pool');
    const endpoint = `unix://${join(dir, 'refused.sock')}`;
    const base = ['--endpoint', endpoint, '--pool-dir', pool, '--tcp-listen', `127.0.0.1:${PORT}`];
    for (const [args, message] of [
      [['--role', 'controller,controller'], /--role 'controller,controller' names controller twice \(ERR_CSI_ROLE\)$/],
      [['--role', 'controller', '--role', 'controller'], /names controller twice \(ERR_CSI_ROLE\)$/],
      [['--role', 'host,dpu'], /names node roles host and dpu: one process serves one node role .*\(ERR_CSI_ROLE\)$/],
      [['--role', 'controller,default,host'], /names node roles default and host.*\(ERR_CSI_ROLE\)$/],
      [['--role', 'controller,'], /has an empty role.*\(ERR_CSI_ROLE\)$/],
      [['--role', 'controller,worker'], /--role must be one of controller, default, host, dpu.*'worker' is none of them \(ERR_CSI_ROLE\)$/],
      // Each part's flags, checked as for that role alone.
      [['--role', 'controller,default', '--dpu-subsystem', 'nqn.2026-11.io.rdmagate:dpu'], /--dpu-subsystem is for --role dpu only/],
      [['--role', 'controller,dpu'], /--dpu-subsystem NQN is required/],
      [['--role', 'controller,default', '--node-id', 'worker-1'], /the node id must be the node's host NQN/],
    ] as const) {
      const r = csiExit([...args, ...base]);
      assert.equal(r.status, 1, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /^rdmagate: /);
      assert.match(lines[0], message);
    }
    // The controller's --tcp-listen is required in combined mode too.
    const r = csiExit(['--role', 'default,controller', '--endpoint', endpoint, '--pool-dir', pool]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--tcp-listen IP:PORT is required/);
    // The node's flags were refused before the controller opened its pool.
    assert.ok(!existsSync(pool), 'no pool was made');
  });
});
