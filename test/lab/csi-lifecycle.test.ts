/**
 * The CSI driver end to end in the lab guest (root, the kernel's NVMe-oF host): the
 * controller and a node plugin of role `default`, both over gRPC, with an in-process
 * gateway serving a local pool. A volume goes through the whole life a Kubernetes pod
 * gives it, over NVMe/TCP and over NVMe/RDMA (Soft-RoCE, 192.168.77.1):
 *
 *   CreateVolume → ControllerPublish → NodeStage (nvme connect, mkfs, mount) → NodePublish
 *   → files written → NodeUnpublish → NodeUnstage (nvme disconnect) → ControllerUnpublish
 *   → CreateSnapshot → restore into a new volume → stage it: the files are there →
 *   offline ControllerExpandVolume → NodeExpandVolume grows the file system → online
 *   ControllerExpandVolume: the kernel's block device grows from the gateway's notice, and
 *   NodeExpandVolume grows the mounted file system again.
 *
 * And a volume of a two-gateway group: NodeStage connects the kernel to every member (two
 * paths of one multipath device), fio with verify runs while the member in use is closed,
 * and NodeUnstage disconnects both paths.
 */
import assert from 'node:assert/strict';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, rmSync, statfsSync, writeFileSync,
  writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway, rdma, type JsonObject, type JsonValue } from '../../lib';
import { ControllerService, CsiClient, CsiLogger, CsiServer, IdentityService, LocalPlugin, NodeService, NvmfExporter, volumeNqn,
  type GatewayRpc } from '../../lib/csi';
import { startLabGroup } from './csi-group';
import { controllersOf, fioAcrossRestart, inLab, run, tryRun } from './helpers';

const RDMA_ADDR = '192.168.77.1';
const MiB = 1 << 20;

/** The gateway's RPCs, in process. */
function gatewayRpc(gateway: Gateway): GatewayRpc {
  return { call: (method: string, params?: JsonObject): Promise<JsonValue> => gateway.rpc(method, params) };
}

function transportOf(nqn: string): string | undefined {
  const [c] = controllersOf(nqn);
  return c ? readFileSync(`/sys/class/nvme/${c}/transport`, 'utf8').trim() : undefined;
}

describe('CSI driver lifecycle with the kernel NVMe-oF host (lab)', function () {
  this.timeout(900000);
  const dir = join(tmpdir(), 'rdmagate-csi-lab');
  let gateway: Gateway;
  let controllerServer: CsiServer;
  let nodeServer: CsiServer;
  let ctl: CsiClient;
  let node: CsiClient;
  let nodeId: string;
  let hasRdma = false;
  const created: string[] = [];

  before(async function () {
    if (!inLab()) this.skip();
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    try {
      hasRdma = rdma.devices().some((d) => d.ports.some((p) => p.state === 'active'));
    } catch {
      hasRdma = false;
    }
    const log = new CsiLogger((e) => { if (e.level !== 'debug') process.stderr.write(JSON.stringify(e) + '\n'); });
    gateway = new Gateway({ socketPath: null, configPath: null, log: () => undefined, target: { reactors: 2 } });
    await gateway.start();
    const plugin = new LocalPlugin({ poolDir: join(dir, 'pool'), log });
    await plugin.open();
    const exporter = new NvmfExporter({ rpc: gatewayRpc(gateway), tcp: { traddr: '127.0.0.1', trsvcid: 4430 },
      ...(hasRdma ? { rdma: { traddr: RDMA_ADDR, trsvcid: 4431 } } : {}) });
    const controller = new ControllerService({ plugins: [plugin], exporter, log });
    controllerServer = await CsiServer.start({ endpoint: `unix://${dir}/controller.sock`, log, services: {
      Identity: new IdentityService({ controller: true }).handlers(), Controller: controller.handlers() } });
    const nodeService = new NodeService({ role: 'default', log });
    nodeServer = await CsiServer.start({ endpoint: `unix://${dir}/node.sock`, log, services: {
      Identity: new IdentityService({ controller: false, probe: () => nodeService.probe() }).handlers(), Node: nodeService.handlers() } });
    ctl = new CsiClient(`unix://${dir}/controller.sock`);
    node = new CsiClient(`unix://${dir}/node.sock`);
    assert.deepEqual(await node.call('Identity', 'Probe'), { ready: { value: true } }, 'nvme-cli is there');
    type Info = { node_id: string; accessible_topology: { segments: Record<string, string> } };
    const info = await node.call<Info>('Node', 'NodeGetInfo');
    nodeId = info.node_id;
    assert.equal(info.accessible_topology.segments['rdmagate.io/rdma'], String(hasRdma));
  });

  after(async () => {
    if (!gateway) return;
    for (const id of created) tryRun('nvme', ['disconnect', '-n', volumeNqn(id)]);
    ctl?.close();
    node?.close();
    await controllerServer?.close();
    await nodeServer?.close();
    await gateway.close();
  });

  type Cap = { mount?: { fs_type: string }; block?: object; access_mode: { mode: string } };
  const mountCap = (fs: string): Cap => ({ mount: { fs_type: fs }, access_mode: { mode: 'SINGLE_NODE_WRITER' } });

  async function createVolume(name: string, bytes: number, parameters: Record<string, string>, extra: object = {}): Promise<string> {
    const r = await ctl.call<{ volume: { volume_id: string; volume_context: Record<string, string> } }>('Controller', 'CreateVolume', {
      name, capacity_range: { required_bytes: bytes }, volume_capabilities: [mountCap(parameters.fsType ?? 'ext4')], parameters, ...extra,
    });
    created.push(r.volume.volume_id);
    return r.volume.volume_id;
  }

  /** ControllerPublish, NodeStage (twice: idempotent) and NodePublish; returns the pod's path. */
  async function attach(id: string, cap: Cap, context: Record<string, string>): Promise<{ staging: string; target: string }> {
    const { publish_context: pc } = await ctl.call<{ publish_context: Record<string, string> }>('Controller', 'ControllerPublishVolume',
      { volume_id: id, node_id: nodeId, volume_capability: cap, volume_context: context });
    const staging = join(dir, 'staging', id);
    const target = join(dir, 'pods', id, cap.block ? 'dev' : 'mount');
    const stage = { volume_id: id, publish_context: pc, staging_target_path: staging, volume_capability: cap, volume_context: context };
    await node.call('Node', 'NodeStageVolume', stage);
    await node.call('Node', 'NodeStageVolume', stage);
    assert.equal(transportOf(pc.subnqn), pc.transport, `connected over ${pc.transport}`);
    const pub = { ...stage, target_path: target, readonly: false };
    await node.call('Node', 'NodePublishVolume', pub);
    await node.call('Node', 'NodePublishVolume', pub);
    return { staging, target };
  }

  async function detach(id: string, paths: { staging: string; target: string }): Promise<void> {
    await node.call('Node', 'NodeUnpublishVolume', { volume_id: id, target_path: paths.target });
    await node.call('Node', 'NodeUnpublishVolume', { volume_id: id, target_path: paths.target });
    assert.ok(!existsSync(paths.target), 'the target is removed');
    await node.call('Node', 'NodeUnstageVolume', { volume_id: id, staging_target_path: paths.staging });
    await node.call('Node', 'NodeUnstageVolume', { volume_id: id, staging_target_path: paths.staging });
    assert.deepEqual(controllersOf(volumeNqn(id)), [], 'nvme disconnect happened');
    await ctl.call('Controller', 'ControllerUnpublishVolume', { volume_id: id, node_id: nodeId });
  }

  const files = (n: number) => Array.from({ length: n }, (_, i) => [`file-${i}.bin`, Buffer.alloc(64 * 1024 + i * 4096, i + 1)] as const);

  async function lifecycle(transport: 'tcp' | 'rdma', fs: 'ext4' | 'xfs', bytes: number): Promise<void> {
    const params = { transport, fsType: fs, ctrl_loss_tmo: '10', keep_alive_tmo: '5', reconnect_delay: '2', nr_io_queues: '2' };
    const id = await createVolume(`lab-${transport}-${fs}`, bytes, params);
    const context = (await ctl.call<{ entries: { volume: { volume_id: string; volume_context: Record<string, string> } }[] }>(
      'Controller', 'ListVolumes')).entries.find((e) => e.volume.volume_id === id)!.volume.volume_context;
    const cap = mountCap(fs);

    // First life: a file system is made, files are written.
    let paths = await attach(id, cap, context);
    for (const [name, data] of files(8)) writeFileSync(join(paths.target, name), data);
    // Unstaging under the pod's mount is refused: the disconnect would fail its I/O.
    await assert.rejects(node.call('Node', 'NodeUnstageVolume', { volume_id: id, staging_target_path: paths.staging }),
      /FAILED_PRECONDITION: .*still published at/);
    type Stats = { usage: { total: string; unit: string }[]; volume_condition: { abnormal: boolean } };
    const stats = await node.call<Stats>('Node', 'NodeGetVolumeStats', { volume_id: id, volume_path: paths.target });
    assert.equal(stats.volume_condition.abnormal, false);
    assert.ok(Number(stats.usage[0].total) > bytes / 2, 'a file system of about the volume\'s size');
    // A second, read-only publish of the same staged volume.
    const ro = join(dir, 'pods', id, 'ro');
    await node.call('Node', 'NodePublishVolume', { volume_id: id, staging_target_path: paths.staging, target_path: ro,
      volume_capability: cap, readonly: true, publish_context: {}, volume_context: context });
    assert.ok(readFileSync(join(ro, 'file-3.bin')).equals(files(8)[3][1]));
    assert.throws(() => writeFileSync(join(ro, 'nope'), 'x'), /EROFS/);
    await node.call('Node', 'NodeUnpublishVolume', { volume_id: id, target_path: ro });
    await detach(id, paths);

    // Snapshot, then restore into a new volume: the files are there (no new mkfs).
    const snap = await ctl.call<{ snapshot: { snapshot_id: string } }>('Controller', 'CreateSnapshot',
      { name: `lab-snap-${transport}-${fs}`, source_volume_id: id });
    const restored = await createVolume(`lab-restored-${transport}-${fs}`, bytes, params,
      { volume_content_source: { snapshot: { snapshot_id: snap.snapshot.snapshot_id } } });
    // Staged with no file system asked for, the restored volume keeps the snapshot's.
    const unasked: Cap = { mount: { fs_type: '' }, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
    const { fsType: _asked, ...contextNoFs } = context;
    paths = await attach(restored, unasked, contextNoFs);
    for (const [name, data] of files(8)) assert.ok(readFileSync(join(paths.target, name)).equals(data), name);
    const before = statfsSync(paths.target);
    await detach(restored, paths);

    // Offline expansion: the volume grows while unpublished, the file system on the next stage.
    const grown = bytes + 64 * MiB;
    const exp = await ctl.call<{ capacity_bytes: string; node_expansion_required: boolean }>('Controller', 'ControllerExpandVolume',
      { volume_id: restored, capacity_range: { required_bytes: grown }, volume_capability: cap });
    assert.deepEqual(exp, { capacity_bytes: String(grown), node_expansion_required: true });
    paths = await attach(restored, cap, context);
    const r = await node.call<{ capacity_bytes: string }>('Node', 'NodeExpandVolume',
      { volume_id: restored, volume_path: paths.target, staging_target_path: paths.staging, volume_capability: cap });
    assert.equal(r.capacity_bytes, String(grown));
    const after = statfsSync(paths.target);
    assert.ok(after.blocks * after.bsize > before.blocks * before.bsize + 48 * MiB,
      `the file system grew: ${before.blocks * before.bsize} → ${after.blocks * after.bsize}`);
    for (const [name, data] of files(8)) assert.ok(readFileSync(join(paths.target, name)).equals(data), name);

    // Online expansion: published and mounted, the block device grows from the gateway's
    // notice alone (no rescan by hand), then the file system in place.
    const online = grown + 32 * MiB;
    const dev = run('findmnt', ['-n', '-o', 'SOURCE', '--target', paths.target]).trim();
    const devBytes = () => Number(readFileSync(`/sys/class/block/${dev.replace('/dev/', '')}/size`, 'utf8')) * 512;
    assert.equal(devBytes(), grown);
    const exp2 = await ctl.call<{ capacity_bytes: string }>('Controller', 'ControllerExpandVolume',
      { volume_id: restored, capacity_range: { required_bytes: online }, volume_capability: cap });
    assert.equal(exp2.capacity_bytes, String(online));
    const end = Date.now() + 20000;
    while (devBytes() !== online && Date.now() < end) await new Promise((res) => setTimeout(res, 100));
    assert.equal(devBytes(), online, `${dev} grew with the volume`);
    const r2 = await node.call<{ capacity_bytes: string }>('Node', 'NodeExpandVolume',
      { volume_id: restored, volume_path: paths.target, staging_target_path: paths.staging, volume_capability: cap });
    assert.equal(r2.capacity_bytes, String(online));
    const last = statfsSync(paths.target);
    assert.ok(last.blocks * last.bsize > after.blocks * after.bsize + 24 * MiB,
      `the mounted file system grew: ${after.blocks * after.bsize} → ${last.blocks * last.bsize}`);
    for (const [name, data] of files(8)) assert.ok(readFileSync(join(paths.target, name)).equals(data), name);
    await detach(restored, paths);

    await ctl.call('Controller', 'DeleteVolume', { volume_id: restored });
    await ctl.call('Controller', 'DeleteSnapshot', { snapshot_id: snap.snapshot.snapshot_id });
    await ctl.call('Controller', 'DeleteVolume', { volume_id: id });
  }

  it('NVMe/TCP, ext4: stage, files, unstage, snapshot, restore, offline and online expand with resize2fs', async () => {
    await lifecycle('tcp', 'ext4', 64 * MiB);
  });

  it('NVMe/RDMA (Soft-RoCE), xfs: the same through nvme-rdma, with xfs_growfs', async function () {
    if (!hasRdma) this.skip();
    // mkfs.xfs wants at least 300 MiB.
    await lifecycle('rdma', 'xfs', 320 * MiB);
  });

  it('a raw block volume is bind-mounted as a device node at the target file', async () => {
    const cap: Cap = { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
    const r = await ctl.call<{ volume: { volume_id: string; volume_context: Record<string, string> } }>('Controller', 'CreateVolume',
      { name: 'lab-block', capacity_range: { required_bytes: 16 * MiB }, volume_capabilities: [cap], parameters: { transport: 'tcp' } });
    const id = r.volume.volume_id;
    created.push(id);
    const paths = await attach(id, cap, r.volume.volume_context);
    const data = Buffer.alloc(1 * MiB, 0x5a);
    const fd = openSync(paths.target, 'r+');
    try {
      writeSync(fd, data, 0, data.length, 0);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    const st = await node.call<{ usage: { total: string }[] }>('Node', 'NodeGetVolumeStats', { volume_id: id, volume_path: paths.target });
    assert.equal(st.usage[0].total, String(16 * MiB));
    await detach(id, paths);
    // What was written through the kernel host is in the volume's file on the gateway's side.
    const file = join(dir, 'pool', 'volumes', `${id}.img`);
    assert.ok(readFileSync(file).subarray(0, MiB).equals(data));
    await ctl.call('Controller', 'DeleteVolume', { volume_id: id });
  });

  it('a volume of a two-gateway group: NodeStage connects every member as a path of one device, a member closed under fio, unstage removes both', async () => {
    const { members, gateways, ctl: groupCtl, close } = await startLabGroup(dir, [{ name: 'gw-b', tcp: 4436 }, { name: 'gw-c', tcp: 4437 }]);
    try {
      const cap = mountCap('ext4');
      const r = await groupCtl.call<{ volume: { volume_id: string; volume_context: Record<string, string> } }>('Controller', 'CreateVolume', {
        name: 'lab-group', capacity_range: { required_bytes: 64 * MiB }, volume_capabilities: [cap], parameters: { transport: 'tcp', fsType: 'ext4' } });
      const id = r.volume.volume_id;
      created.push(id);
      const { publish_context: pc } = await groupCtl.call<{ publish_context: Record<string, string> }>('Controller', 'ControllerPublishVolume',
        { volume_id: id, node_id: nodeId, volume_capability: cap, volume_context: r.volume.volume_context });
      const staging = join(dir, 'staging', id);
      const target = join(dir, 'pods', id, 'mount');
      const stage = { volume_id: id, publish_context: pc, staging_target_path: staging, volume_capability: cap, volume_context: r.volume.volume_context };
      await node.call('Node', 'NodeStageVolume', stage);
      await node.call('Node', 'NodePublishVolume', { ...stage, target_path: target, readonly: false });

      // One controller per member, both under one subsystem (Linux native multipath): one block device.
      const ctrls = controllersOf(volumeNqn(id));
      assert.equal(ctrls.length, 2, `a path to each member: ${ctrls.join(', ')}`);
      const ports = ctrls.map((c) => /trsvcid=(\d+)/.exec(readFileSync(`/sys/class/nvme/${c}/address`, 'utf8'))![1]).sort();
      assert.deepEqual(ports, members.map((m) => String(m.tcp)));
      const subsys = run('nvme', ['list-subsys', '-o', 'json']);
      assert.ok(subsys.includes(volumeNqn(id)), 'nvme list-subsys shows the volume\'s subsystem');

      // The first path of the publish context is the member whose listener is optimized: close it under fio.
      const inUse = members.findIndex((m) => String(m.tcp) === pc.trsvcid);
      assert.ok(inUse >= 0, `the publish context's first path is a member's: ${pc.trsvcid}`);
      const job = await fioAcrossRestart(join(target, 'fio.dat'), '0', async () => {
        await gateways[inUse]!.close();
      });
      console.log(`      longest write across the loss of ${members[inUse]!.name}: ${(job.write.clat_ns.max / 1e6).toFixed(0)} ms`);

      await node.call('Node', 'NodeUnpublishVolume', { volume_id: id, target_path: target });
      await node.call('Node', 'NodeUnstageVolume', { volume_id: id, staging_target_path: staging });
      assert.deepEqual(controllersOf(volumeNqn(id)), [], 'both paths disconnected');
      await groupCtl.call('Controller', 'ControllerUnpublishVolume', { volume_id: id, node_id: nodeId });
      await groupCtl.call('Controller', 'DeleteVolume', { volume_id: id });
    } finally {
      await close();
    }
  });
});

describe('the local pool on XFS with reflink (lab)', function () {
  this.timeout(300000);
  const img = join(tmpdir(), 'rdmagate-csi-xfs.img');
  const mnt = join(tmpdir(), 'rdmagate-csi-xfs');

  before(function () {
    if (!inLab()) this.skip();
    tryRun('modprobe', ['loop']);
    rmSync(img, { force: true });
    run('truncate', ['-s', '1G', img]);
    run('mkfs.xfs', ['-q', '-m', 'reflink=1', img]);
    mkdirSync(mnt, { recursive: true });
    run('mount', ['-o', 'loop', img, mnt]);
  });

  after(() => {
    tryRun('umount', [mnt]);
    rmSync(img, { force: true });
  });

  it('snapshots and clones share extents (FICLONE), even of a volume in use', async () => {
    const plugin = new LocalPlugin({ poolDir: join(mnt, 'pool') });
    await plugin.open();
    const v = await plugin.createVolume({ name: 'src', capacityBytes: 64 * MiB, parameters: {}, context: {}, thin: true });
    const data = Buffer.alloc(16 * MiB);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i, i);
    const fd = openSync(plugin.volumePath(v.id), 'r+');
    try {
      writeSync(fd, data, 0, data.length, 0);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    const used = () => { const s = statfsSync(mnt); return (s.blocks - s.bfree) * s.bsize; };
    const before = used();
    // inUse: only a point-in-time copy will do, and on XFS with reflink there is one.
    const snap = await plugin.createSnapshot({ name: 'snap', sourceVolumeId: v.id, inUse: true });
    assert.equal(snap.method, 'reflink');
    const clone = await plugin.createVolume({ name: 'clone', capacityBytes: 64 * MiB, parameters: {}, context: {}, thin: true,
      source: { kind: 'volume', id: v.id }, sourceInUse: true });
    const restored = await plugin.createVolume({ name: 'restored', capacityBytes: 96 * MiB, parameters: {}, context: {}, thin: true,
      source: { kind: 'snapshot', id: snap.id } });
    for (const id of [clone.id, restored.id]) assert.ok(readFileSync(plugin.volumePath(id)).subarray(0, data.length).equals(data), id);
    assert.ok(used() - before < 4 * MiB, `three more 16 MiB images took ${used() - before} bytes: the extents are shared`);
  });
});
