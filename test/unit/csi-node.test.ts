/**
 * The CSI Node service over gRPC, for what runs without root or a kernel NVMe-oF host:
 * NodeGetInfo and the host NQN, capabilities, argument checks, the host and dpu roles'
 * identity (their attach paths: csi-node-roles.test.ts), stats (of a mounted volume only as root, with a
 * tmpfs; skipped otherwise), idempotent unpublish and unstage, and the mountinfo parser. Staging through the kernel (nvme connect, mkfs, mount) is
 * test/lab/csi-lifecycle.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CsiClient, CsiLogger, CsiServer, GrpcStatus, IdentityService, NodeService, parseEndpoint,
  type NodeRole, type VolumeAttacher } from '../../lib/csi';
import { mountAt, parseMountInfo } from '../../lib/csi/node-system';
import { rejectsOverGrpc } from '../support/csi-assert';
import { FakeKernelAttacher } from './fake-kernel-attacher';
import { needs } from '../support/facility';

const MOUNT = { mount: { fs_type: 'ext4' }, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
const ctxFor = (id: string) => ({
  transport: 'tcp' as const, traddr: '127.0.0.1', trsvcid: '4420', subnqn: `nqn.2026-11.io.rdmagate:vol:${id}`, uuid: id, nguid: id.replace(/-/g, ''),
});

describe('CSI node (gRPC, no root needed)', function () {
  this.timeout(20000);
  let dir: string;
  const running: { server: CsiServer; client: CsiClient }[] = [];

  async function start(role: NodeRole, extra: { nodeId?: string; rdma?: boolean; attacher?: VolumeAttacher } = {}): Promise<CsiClient> {
    const log = new CsiLogger(() => undefined);
    const node = new NodeService({ role, log, hostnqnPath: join(dir, 'etc-nvme', 'hostnqn'), ...extra });
    const identity = new IdentityService({ controller: false, manifest: { role }, probe: () => node.probe() });
    const endpoint = `unix://${join(dir, `${role}-${running.length}.sock`)}`;
    const server = await CsiServer.start({ endpoint, log, services: { Identity: identity.handlers(), Node: node.handlers() } });
    const client = new CsiClient(endpoint);
    running.push({ server, client });
    return client;
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-csi-node-'));
  });

  afterEach(async () => {
    for (const r of running.splice(0)) {
      r.client.close();
      await r.server.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('NodeGetInfo: the host NQN as node_id, generated once and kept; RDMA in the topology', async () => {
    const c = await start('default', { rdma: false });
    type Info = { node_id: string; max_volumes_per_node: string; accessible_topology: { segments: Record<string, string> } };
    const info = await c.call<Info>('Node', 'NodeGetInfo');
    assert.match(info.node_id, /^nqn\.2014-08\.org\.nvmexpress:uuid:[0-9a-f-]{36}$/);
    assert.deepEqual(info.accessible_topology.segments, { 'rdmagate.io/rdma': 'false' });
    assert.equal(readFileSync(join(dir, 'etc-nvme', 'hostnqn'), 'utf8').trim(), info.node_id, 'saved where nvme-cli reads it');
    assert.equal(readFileSync(join(dir, 'etc-nvme', 'hostid'), 'utf8').trim(), info.node_id.split(':uuid:')[1]);
    // Another instance (a restarted pod) reads the same identity.
    const again = await (await start('default', { rdma: true })).call<Info>('Node', 'NodeGetInfo');
    assert.equal(again.node_id, info.node_id);
    assert.equal(again.accessible_topology.segments['rdmagate.io/rdma'], 'true');
    // An explicit node id wins; it must be an NQN, since it is the host NQN the volume allows.
    const fixed = 'nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555';
    assert.equal((await (await start('default', { nodeId: fixed })).call<Info>('Node', 'NodeGetInfo')).node_id, fixed);
    assert.throws(() => new NodeService({ role: 'default', log: new CsiLogger(() => undefined), nodeId: 'worker-1' }), /host NQN/);
  });

  it('a node id must be an NQN by the NVMe grammar, given or read from /etc/nvme/hostnqn (issue 20, item 14)', async () => {
    const log = new CsiLogger(() => undefined);
    for (const nodeId of ['nqn.2014-13.org.example:node', 'nqn.2014-08.org.nvmexpress:uuid:1234', 'nqn.2014-08.example:node', 'nqn.x']) {
      assert.throws(() => new NodeService({ role: 'default', log, nodeId }), /host NQN/, nodeId);
    }
    // A hostnqn file with a malformed NQN is not overwritten (nvme-cli and the kernel may use it): NodeGetInfo says what is wrong.
    const file = join(dir, 'etc-nvme', 'hostnqn');
    mkdirSync(join(dir, 'etc-nvme'));
    writeFileSync(file, 'nqn.2014-08.org.nvmexpress:uuid:not-a-uuid\n');
    const c = await start('default');
    await rejectsOverGrpc(c.call('Node', 'NodeGetInfo'), GrpcStatus.FAILED_PRECONDITION, /not a host NQN/);
    assert.equal(readFileSync(file, 'utf8'), 'nqn.2014-08.org.nvmexpress:uuid:not-a-uuid\n');
    writeFileSync(file, 'nqn.2019-06.io.example:node-1\n');
    assert.equal((await c.call<{ node_id: string }>('Node', 'NodeGetInfo')).node_id, 'nqn.2019-06.io.example:node-1');
  });

  it('NodeGetCapabilities, and Identity without the controller service', async () => {
    const c = await start('default');
    const caps = await c.call<{ capabilities: { rpc: { type: string } }[] }>('Node', 'NodeGetCapabilities');
    assert.deepEqual(caps.capabilities.map((x) => x.rpc.type),
      ['STAGE_UNSTAGE_VOLUME', 'GET_VOLUME_STATS', 'EXPAND_VOLUME', 'VOLUME_CONDITION', 'SINGLE_NODE_MULTI_WRITER']);
    const pc = await c.call<{ capabilities: { service: { type: string } }[] }>('Identity', 'GetPluginCapabilities');
    assert.deepEqual(pc.capabilities.map((x) => x.service.type), ['VOLUME_ACCESSIBILITY_CONSTRAINTS']);
    await rejectsOverGrpc(c.call('Controller', 'CreateVolume', { name: 'x' }), GrpcStatus.UNIMPLEMENTED);
  });

  it('INVALID_ARGUMENT for missing or malformed fields', async () => {
    const c = await start('default');
    const id = randomUUID();
    const stage = (r: object) => c.call('Node', 'NodeStageVolume', { volume_id: id, staging_target_path: join(dir, 's'),
      volume_capability: MOUNT, publish_context: ctxFor(id), ...r });
    await rejectsOverGrpc(stage({ volume_id: '' }), GrpcStatus.INVALID_ARGUMENT, /volume_id/);
    await rejectsOverGrpc(stage({ staging_target_path: 'relative/path' }), GrpcStatus.INVALID_ARGUMENT, /absolute/);
    await rejectsOverGrpc(stage({ staging_target_path: '/a/../etc' }), GrpcStatus.INVALID_ARGUMENT, /absolute/);
    await rejectsOverGrpc(stage({ volume_capability: null }), GrpcStatus.INVALID_ARGUMENT, /volume_capability/);
    await rejectsOverGrpc(stage({ publish_context: {} }), GrpcStatus.INVALID_ARGUMENT, /publish_context.transport is missing/);
    await rejectsOverGrpc(stage({ publish_context: { ...ctxFor(id), transport: 'fc' } }), GrpcStatus.INVALID_ARGUMENT, /tcp or rdma/);
    await rejectsOverGrpc(stage({ publish_context: { ...ctxFor(id), nguid: 'xyz' } }), GrpcStatus.INVALID_ARGUMENT, /nguid/);
    await rejectsOverGrpc(stage({ volume_context: { ctrl_loss_tmo: 'soon' } }), GrpcStatus.INVALID_ARGUMENT, /ctrl_loss_tmo/);
    await rejectsOverGrpc(stage({ volume_capability: { mount: { fs_type: 'btrfs' }, access_mode: { mode: 'SINGLE_NODE_WRITER' } } }),
      GrpcStatus.INVALID_ARGUMENT, /btrfs/);
    await rejectsOverGrpc(c.call('Node', 'NodePublishVolume', { volume_id: id, target_path: join(dir, 't'), volume_capability: MOUNT }),
      GrpcStatus.INVALID_ARGUMENT, /staging_target_path/);
    await rejectsOverGrpc(c.call('Node', 'NodeUnpublishVolume', { volume_id: id }), GrpcStatus.INVALID_ARGUMENT, /target_path/);
    await rejectsOverGrpc(c.call('Node', 'NodeUnstageVolume', { staging_target_path: join(dir, 's') }), GrpcStatus.INVALID_ARGUMENT);
    await rejectsOverGrpc(c.call('Node', 'NodeGetVolumeStats', { volume_id: id }), GrpcStatus.INVALID_ARGUMENT, /volume_path/);
    await rejectsOverGrpc(c.call('Node', 'NodeExpandVolume', { volume_id: id }), GrpcStatus.INVALID_ARGUMENT, /volume_path/);
  });

  it('NodePublishVolume of a volume that is not staged is FAILED_PRECONDITION', async () => {
    const c = await start('default');
    const id = randomUUID();
    await rejectsOverGrpc(c.call('Node', 'NodePublishVolume', { volume_id: id, staging_target_path: join(dir, 'not-staged'),
      target_path: join(dir, 'target'), volume_capability: MOUNT, publish_context: ctxFor(id) }), GrpcStatus.FAILED_PRECONDITION, /not staged/);
    assert.ok(!existsSync(join(dir, 'target')), 'nothing was made');
  });

  for (const role of ['host', 'dpu'] as const) {
    it(`role ${role}: identifies itself; unstage and expand of a volume it does not have (csi-node-roles.test.ts has the rest)`, async () => {
      const c = await start(role);
      const id = randomUUID();
      await c.call('Node', 'NodeUnstageVolume', { volume_id: id, staging_target_path: join(dir, 's') });
      await rejectsOverGrpc(c.call('Node', 'NodeExpandVolume', { volume_id: id, volume_path: join(dir, 's') }), GrpcStatus.NOT_FOUND);
      // The node identifies itself, so that the CO can tell it apart.
      const info = await c.call<{ node_id: string }>('Node', 'NodeGetInfo');
      assert.match(info.node_id, /^nqn\./);
      const pi = await c.call<{ manifest: Record<string, string> }>('Identity', 'GetPluginInfo');
      assert.equal(pi.manifest.role, role);
    });
  }

  type Stats = { usage: { total: string; available: string; used: string; unit: string }[]; volume_condition: { abnormal: boolean; message: string } };

  it('NodeGetVolumeStats and NodeExpandVolume: NOT_FOUND unless the volume is at that path (issue 20, item 13)', async () => {
    const attacher = new FakeKernelAttacher(dir);
    const c = await start('default', { attacher });
    const id = randomUUID();
    const stats = (volume_id: string, volume_path: string) => c.call<Stats>('Node', 'NodeGetVolumeStats', { volume_id, volume_path });
    const expand = (volume_id: string, volume_path: string) => c.call('Node', 'NodeExpandVolume', { volume_id, volume_path });
    // csi-sanity's paths: "some/path" (relative, so no volume can be there), and one that does not exist.
    for (const path of ['some/path', join(dir, 'missing'), '/a/../b']) {
      await rejectsOverGrpc(stats(id, path), GrpcStatus.NOT_FOUND);
      await rejectsOverGrpc(expand(id, path), GrpcStatus.NOT_FOUND);
    }
    // A path that exists and is a mount point, of no volume of this node: it used to answer with the root file system's usage.
    await rejectsOverGrpc(stats('no-such-volume', '/'), GrpcStatus.NOT_FOUND, /not staged/);
    // A volume attached here, asked for where another file system is mounted, or where nothing is.
    await attacher.attach(ctxFor(id), {}, 'nqn.2014-08.org.example:node');
    await rejectsOverGrpc(stats(id, '/'), GrpcStatus.NOT_FOUND, /not staged or published at \//);
    mkdirSync(join(dir, 'vol'));
    await rejectsOverGrpc(stats(id, join(dir, 'vol')), GrpcStatus.NOT_FOUND, /nothing is mounted there/);
    // A missing field is still INVALID_ARGUMENT.
    await rejectsOverGrpc(stats('', '/'), GrpcStatus.INVALID_ARGUMENT, /volume_id/);
    await rejectsOverGrpc(stats(id, ''), GrpcStatus.INVALID_ARGUMENT, /volume_path/);
    await rejectsOverGrpc(expand(id, ''), GrpcStatus.INVALID_ARGUMENT, /volume_path/);
  });

  it('NodeGetVolumeStats of the volume mounted at the path: bytes and inodes (root: a tmpfs stands in for its file system)', async function () {
    needs(this, process.getuid?.() === 0, 'root (to mount)');
    const staging = join(dir, 'staging');
    const target = join(dir, 'target');
    mkdirSync(staging);
    mkdirSync(target);
    needs(this, spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', staging]).status === 0, 'a tmpfs mount');
    try {
      // The volume's "device": a node with the tmpfs's device number, as a staged volume's
      // file system has its block device's.
      const [major, minor] = (await mountAt(staging))!.device.split(':');
      const dev = join(dir, 'fake-nvme0n1');
      needs(this, spawnSync('mknod', [dev, 'b', major, minor]).status === 0, 'mknod of a block device node');
      const attacher = new FakeKernelAttacher(dir);
      const id = randomUUID();
      attacher.connected.set(id, { ctx: ctxFor(id), tuning: {}, hostnqn: 'nqn.2014-08.org.example:node', device: dev });
      const c = await start('default', { attacher });
      assert.equal(spawnSync('mount', ['--bind', staging, target]).status, 0);
      try {
        // At the staging path, and at a publish's bind mount of it.
        for (const path of [staging, target, `${target}/`]) {
          const s = await c.call<Stats>('Node', 'NodeGetVolumeStats', { volume_id: id, volume_path: path });
          assert.deepEqual(s.usage.map((u) => u.unit), ['BYTES', 'INODES']);
          assert.equal(Number(s.usage[0].total), 8 << 20);
          assert.deepEqual(s.volume_condition, { abnormal: false, message: '' });
        }
        // Another volume is not there; nor is this one in a directory inside it.
        await rejectsOverGrpc(c.call('Node', 'NodeGetVolumeStats', { volume_id: randomUUID(), volume_path: target }), GrpcStatus.NOT_FOUND);
        mkdirSync(join(target, 'sub'));
        await rejectsOverGrpc(c.call('Node', 'NodeGetVolumeStats', { volume_id: id, volume_path: join(target, 'sub') }), GrpcStatus.NOT_FOUND);
      } finally {
        spawnSync('umount', [target]);
      }
    } finally {
      spawnSync('umount', [staging]);
    }
  });

  it('NodeUnpublishVolume and NodeUnstageVolume succeed for what is not there, and remove the target', async () => {
    const c = await start('default');
    const id = randomUUID();
    const target = join(dir, 'pods', 'target');
    mkdirSync(target, { recursive: true });
    await c.call('Node', 'NodeUnpublishVolume', { volume_id: id, target_path: target });
    assert.ok(!existsSync(target), 'the target directory is removed');
    writeFileSync(join(dir, 'pods', 'blockdev'), '');
    await c.call('Node', 'NodeUnpublishVolume', { volume_id: id, target_path: join(dir, 'pods', 'blockdev') });
    assert.ok(!existsSync(join(dir, 'pods', 'blockdev')), 'a block target file too');
    await c.call('Node', 'NodeUnpublishVolume', { volume_id: id, target_path: target });
    // Not connected, not mounted: nothing to do, and that is success.
    await c.call('Node', 'NodeUnstageVolume', { volume_id: id, staging_target_path: join(dir, 'staging') });
  });

  it('parses /proc/self/mountinfo, escapes included', () => {
    const text = [
      '36 35 98:0 / /mnt/with\\040space rw,noatime master:1 - ext4 /dev/nvme1n1 rw,errors=continue',
      '40 22 0:5 /nvme1n1 /var/lib/kubelet/pods/x/volumeDevices/pv ro,relatime shared:2 - devtmpfs udev rw,size=1k',
    ].join('\n');
    assert.deepEqual(parseMountInfo(text), [
      { device: '98:0', root: '/', mountPoint: '/mnt/with space', options: ['rw', 'noatime'], fsType: 'ext4', source: '/dev/nvme1n1' },
      { device: '0:5', root: '/nvme1n1', mountPoint: '/var/lib/kubelet/pods/x/volumeDevices/pv', options: ['ro', 'relatime'],
        fsType: 'devtmpfs', source: 'udev' },
    ]);
  });

  it('endpoints are unix sockets', () => {
    assert.equal(parseEndpoint('unix:///csi/csi.sock'), '/csi/csi.sock');
    assert.equal(parseEndpoint('unix:/csi/csi.sock'), '/csi/csi.sock');
    assert.throws(() => parseEndpoint('tcp://127.0.0.1:10000'), /unix:/);
    assert.throws(() => parseEndpoint('unix://relative.sock'), /unix:/);
  });
});
