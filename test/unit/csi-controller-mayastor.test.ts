/**
 * The Controller service with the mayastor plugin (beside local) against the fake
 * Mayastor control plane and a fake gateway: CreateVolume makes the Mayastor volume,
 * ControllerPublishVolume publishes its target and has the gateway attach it as a backend
 * (bdev_nvme_attach_controller with the target's address and NQN) and re-export it, the
 * last ControllerUnpublishVolume detaches it and unpublishes the target; and the rest of
 * the volume life (expand, snapshot, restore, capacity, delete) goes through Mayastor.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControllerService, CsiClient, CsiLogger, GrpcStatus, LocalPlugin, NvmfExporter, volumeNqn } from '../../lib/csi';
import type {
  ControllerPublishVolumeRequest, CreateVolumeRequest, VolumeCapability,
} from '../../lib/csi/types';
import { rejectsInProcess } from '../support/csi-assert';
import { runCsi, stopCsi, waitForCsi } from '../support/csi-cli';
import { FakeGatewayRpc } from '../support/fake-gateway-rpc';
import type { MayastorFakeServer } from '../support/mayastor-fake-server';
import { closeFakeMayastor, openMayastorPlugin, startFakeMayastor } from '../support/mayastor-fixture';

const NODE_A = `nqn.2014-08.org.nvmexpress:uuid:${randomUUID()}`;
const NODE_B = `nqn.2014-08.org.nvmexpress:uuid:${randomUUID()}`;
const MiB = 1 << 20;
const MOUNT: VolumeCapability = { mount: { fs_type: 'ext4', mount_flags: [], volume_mount_group: '' }, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
const SHARED: VolumeCapability = { block: {}, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } };
const GATEWAY = { traddr: '192.0.2.10', trsvcid: 4420 };

describe('CSI controller with the mayastor plugin (fake Mayastor, fake gateway)', function () {
  this.timeout(20000);
  let dir: string;
  let fake: MayastorFakeServer;
  let rpc: FakeGatewayRpc;
  let controller: ControllerService;

  const createReq = (name: string, parameters: Record<string, string>, extra: Partial<CreateVolumeRequest> = {}): CreateVolumeRequest => ({
    name, capacity_range: { required_bytes: 64 * MiB, limit_bytes: 0 }, volume_capabilities: [MOUNT], parameters, secrets: {}, ...extra,
  });
  const publishReq = (id: string, node: string, cap = MOUNT): ControllerPublishVolumeRequest => ({
    volume_id: id, node_id: node, volume_capability: cap, readonly: false, secrets: {}, volume_context: {},
  });
  const unpublish = (id: string, node: string) => controller.unpublishVolume({ volume_id: id, node_id: node, secrets: {} });
  const MAYASTOR = { plugin: 'mayastor', replicas: '2', thin: 'false' };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-csi-ctl-mayastor-'));
    fake = await startFakeMayastor();
    rpc = new FakeGatewayRpc();
    const log = new CsiLogger(() => undefined);
    const mayastor = await openMayastorPlugin(fake.url, join(dir, 'mayastor'), log);
    const local = new LocalPlugin({ poolDir: join(dir, 'pool'), log });
    await local.open();
    controller = new ControllerService({ plugins: [local, mayastor], exporter: new NvmfExporter({ rpc, tcp: GATEWAY }), log });
  });

  afterEach(async () => {
    const violations = await closeFakeMayastor(fake);
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(violations, [], 'every request to Mayastor and answer conforms to the v0 spec');
  });

  it('CreateVolume, then ControllerPublishVolume attaches the Mayastor target on the gateway; the last unpublish detaches it', async () => {
    const { volume } = await controller.createVolume(createReq('pvc-1', MAYASTOR));
    const id = volume.volume_id;
    assert.equal(volume.capacity_bytes, 64 * MiB);
    assert.deepEqual(volume.volume_context, { plugin: 'mayastor', transport: 'tcp' });
    const made = fake.volumes.get(id);
    assert.deepEqual({ replicas: made?.replicas, thin: made?.thin, size: made?.size }, { replicas: 2, thin: false, size: 64 * MiB });
    // Idempotent by name; other parameters for the same name are not.
    assert.equal((await controller.createVolume(createReq('pvc-1', MAYASTOR))).volume.volume_id, id);
    await rejectsInProcess(controller.createVolume(createReq('pvc-1', { ...MAYASTOR, replicas: '3' })), GrpcStatus.ALREADY_EXISTS, /other parameters/);
    assert.equal(fake.volumes.size, 1);

    const a = await controller.publishVolume(publishReq(id, NODE_A, SHARED));
    const nqn = `nqn.2019-05.io.openebs:${id}`;
    assert.deepEqual(rpc.callsOf('bdev_nvme_attach_controller'),
      [{ name: `csi_${id}`, trtype: 'tcp', adrfam: 'IPv4', traddr: '10.1.0.5', trsvcid: '8420', subnqn: nqn }]);
    assert.deepEqual(rpc.callsOf('nvmf_subsystem_add_ns'),
      [{ nqn: volumeNqn(id), namespace: { bdev_name: `csi_${id}n1`, nsid: 1, uuid: id, nguid: id.replace(/-/g, '') } }]);
    assert.deepEqual(a.publish_context, {
      transport: 'tcp', traddr: GATEWAY.traddr, trsvcid: String(GATEWAY.trsvcid), subnqn: volumeNqn(id), uuid: id, nguid: id.replace(/-/g, ''),
    });
    assert.equal(fake.volumes.get(id)?.target?.node, 'io-engine-1');
    assert.equal(rpc.callsOf('bdev_uring_create').length, 0, 'no file bdev for a Mayastor volume');

    // A second node: the same backend, nothing attached or published again.
    await controller.publishVolume(publishReq(id, NODE_B, SHARED));
    assert.equal(rpc.callsOf('bdev_nvme_attach_controller').length, 1);
    assert.equal(fake.requests.filter((r) => r.method === 'PUT' && r.path.endsWith('/target')).length, 1);
    const listed = await controller.listVolumes({ max_entries: 0, starting_token: '' });
    assert.deepEqual(listed.entries.map((e) => e.status?.published_node_ids?.sort()), [[NODE_A, NODE_B].sort()]);

    // Deleting or expanding a published volume is refused, as for any plugin.
    await rejectsInProcess(controller.deleteVolume({ volume_id: id, secrets: {} }), GrpcStatus.FAILED_PRECONDITION, /still published/);

    await unpublish(id, NODE_A);
    assert.equal(rpc.callsOf('bdev_nvme_detach_controller').length, 0, 'another node still uses it');
    assert.ok(fake.volumes.get(id)?.target, 'the Mayastor target stays');
    await unpublish(id, NODE_B);
    assert.deepEqual(rpc.callsOf('bdev_nvme_detach_controller'), [{ name: `csi_${id}` }]);
    assert.equal(rpc.controllers.size, 0);
    assert.equal(rpc.subsystems.size, 0);
    assert.equal(fake.volumes.get(id)?.target, undefined, 'the Mayastor target is unpublished');
    // Idempotent.
    await unpublish(id, NODE_B);
    await controller.unpublishVolume({ volume_id: id, node_id: '', secrets: {} });

    await controller.deleteVolume({ volume_id: id, secrets: {} });
    assert.equal(fake.volumes.size, 0);
    await controller.deleteVolume({ volume_id: id, secrets: {} });
  });

  it('expands, snapshots and restores through Mayastor; refuses clones; capacity comes from its pools', async () => {
    const id = (await controller.createVolume(createReq('pvc-2', { plugin: 'mayastor' }))).volume.volume_id;
    const grown = await controller.expandVolume({ volume_id: id, capacity_range: { required_bytes: 101 * MiB, limit_bytes: 0 }, secrets: {},
      volume_capability: MOUNT });
    assert.deepEqual(grown, { capacity_bytes: 104 * MiB, node_expansion_required: true });
    assert.equal(fake.volumes.get(id)?.size, 104 * MiB);

    const { snapshot } = await controller.createSnapshot({ source_volume_id: id, name: 'snap-2', secrets: {}, parameters: {} });
    assert.ok(fake.snapshots.has(snapshot.snapshot_id));
    assert.equal(snapshot.size_bytes, 104 * MiB);
    const listed = await controller.listSnapshots({ max_entries: 0, starting_token: '', source_volume_id: id, snapshot_id: '', secrets: {} });
    assert.deepEqual(listed.entries.map((e) => e.snapshot.snapshot_id), [snapshot.snapshot_id]);

    const restored = await controller.createVolume(createReq('pvc-2-restored', { plugin: 'mayastor' }, {
      volume_content_source: { snapshot: { snapshot_id: snapshot.snapshot_id } },
    }));
    assert.deepEqual(restored.volume.content_source, { snapshot: { snapshot_id: snapshot.snapshot_id } });
    assert.equal(restored.volume.capacity_bytes, 104 * MiB, 'at least the snapshot\'s size');
    assert.deepEqual(fake.volumes.get(restored.volume.volume_id)?.source, { snapshot: snapshot.snapshot_id, volume: id });

    await rejectsInProcess(controller.createVolume(createReq('pvc-2-clone', { plugin: 'mayastor' }, { volume_content_source: { volume: { volume_id: id } } })),
      GrpcStatus.INVALID_ARGUMENT, /no volume clone/);

    const cap = await controller.getCapacity({ volume_capabilities: [MOUNT], parameters: { plugin: 'mayastor' } });
    assert.equal(cap.available_capacity, 3 * 10 * 2 ** 30);
    assert.deepEqual(cap.maximum_volume_size, { value: 10 * 2 ** 30 });

    await controller.deleteSnapshot({ snapshot_id: snapshot.snapshot_id, secrets: {} });
    assert.equal(fake.snapshots.size, 0);
  });

  it('re-attaches a target that moved once no node uses the old one, and refuses while one does', async () => {
    const id = (await controller.createVolume(createReq('pvc-3', { plugin: 'mayastor' }))).volume.volume_id;
    await controller.publishVolume(publishReq(id, NODE_A, SHARED));
    // Mayastor moved the nexus (its node failed) behind the gateway's back.
    delete fake.volumes.get(id)!.target;
    fake.targetAddress = '10.1.0.6:8420';
    await rejectsInProcess(controller.publishVolume(publishReq(id, NODE_B, SHARED)), GrpcStatus.FAILED_PRECONDITION,
      /served from 10\.1\.0\.5:8420.*now 10\.1\.0\.6:8420/);
    await unpublish(id, NODE_A);
    await controller.publishVolume(publishReq(id, NODE_B, SHARED));
    assert.deepEqual(rpc.callsOf('bdev_nvme_attach_controller').map((c) => c.traddr), ['10.1.0.5', '10.1.0.6']);
    assert.deepEqual([...rpc.subsystems.get(volumeNqn(id))!.hosts], [NODE_B]);
  });

  for (const how of ['--mayastor-endpoint', 'MAYASTOR_ENDPOINT'] as const) {
    it(`rdmagate csi --role controller registers the plugin given ${how}`, async () => {
      const sock = join(dir, 'csi.sock');
      const args = ['--role', 'controller', '--endpoint', `unix://${sock}`,
        '--pool-dir', join(dir, 'cli-pool'), '--gateway-socket', join(dir, 'no-gateway.sock'), '--tcp-listen', '127.0.0.1:4420',
        ...(how === '--mayastor-endpoint' ? ['--mayastor-endpoint', fake.url] : [])];
      const env = { ...process.env, MAYASTOR_ENDPOINT: how === 'MAYASTOR_ENDPOINT' ? fake.url : '' };
      const { child, stderr } = runCsi(args, env);
      try {
        await waitForCsi(sock, child, stderr);
        const c = new CsiClient(`unix://${sock}`);
        try {
          const v = await c.call<{ volume: { volume_id: string } }>('Controller', 'CreateVolume', {
            name: 'pvc-cli', capacity_range: { required_bytes: 8 * MiB }, volume_capabilities: [SHARED], parameters: { plugin: 'mayastor' },
          });
          assert.ok(fake.volumes.has(v.volume.volume_id));
          assert.ok(existsSync(join(dir, 'cli-pool', 'mayastor', 'state.json')));
        } finally {
          c.close();
        }
      } finally {
        await stopCsi(child);
      }
      assert.match(stderr(), /mayastor plugin opened/);
    });
  }

  it('a Mayastor that is down fails publish UNAVAILABLE, with nothing left on the gateway; local volumes are unaffected', async () => {
    const id = (await controller.createVolume(createReq('pvc-4', { plugin: 'mayastor' }))).volume.volume_id;
    const local = (await controller.createVolume(createReq('local-4', { plugin: 'local' }))).volume.volume_id;
    const url = fake.url;
    await fake.close();
    await rejectsInProcess(controller.publishVolume(publishReq(id, NODE_A)), GrpcStatus.UNAVAILABLE, /ECONNREFUSED/);
    assert.equal(rpc.callsOf('bdev_nvme_attach_controller').length, 0);
    assert.equal(rpc.subsystems.size, 0);
    await rejectsInProcess(controller.getCapacity({ volume_capabilities: [MOUNT], parameters: { plugin: 'mayastor' } }), GrpcStatus.UNAVAILABLE);

    await controller.publishVolume(publishReq(local, NODE_A));
    assert.deepEqual(rpc.callsOf('bdev_uring_create').map((c) => c.name), [`csi_${local}`]);
    await unpublish(local, NODE_A);
    assert.equal(rpc.bdevs.size, 0);
    assert.ok(!url.endsWith('/'));
    fake = await startFakeMayastor();
  });
});
