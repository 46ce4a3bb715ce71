/**
 * The host and dpu node roles (issue 6), without root: the host finds the disk its DPU
 * exposes in a fake sysfs tree; the DPU, with a fake kernel attacher, exposes the volume
 * through an in-process gateway's JSON-RPC (the calls recorded) and never makes a file
 * system; NVMe-oF mode is the host role's (DpuBridgeAttacher), UNIMPLEMENTED here.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway, type JsonObject, type JsonValue } from '../../lib';
import {
  CsiClient, CsiLogger, CsiServer, DpuAttacher, GatewayDpuFrontend, GrpcStatus, HostDiskAttacher,
  IdentityService, NodeService, volumeNqn, volumeSerial, type GatewayRpc, type VolumeAttacher,
} from '../../lib/csi';
import { attacherFor } from '../../lib/csi/attach';
import { matches } from '../../lib/csi/attachers/disk-ids';
import { parseVolumeParameters, volumeContext } from '../../lib/csi/parameters';
import { rejectsWithCode } from '../support/csi-assert';

const MOUNT = { mount: { fs_type: 'ext4' }, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } };
const BLOCK = { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
const DPU_NQN = 'nqn.2026-11.io.rdmagate:dpu:host-facing';

const ctxFor = (id: string) => ({
  transport: 'tcp', traddr: '127.0.0.1', trsvcid: '4420', subnqn: volumeNqn(id), uuid: id, nguid: id.replace(/-/g, ''),
});
const parsedCtx = (id: string) => ({ ...ctxFor(id), transport: 'tcp' as const });

/** A fake sysfs and /dev: one disk per call, with what the kernel would show for it. */
class FakeMachine {
  readonly sys: string;
  readonly dev: string;
  constructor(root: string) {
    this.sys = join(root, 'sys');
    this.dev = join(root, 'dev');
    mkdirSync(join(this.sys, 'block'), { recursive: true });
    mkdirSync(this.dev, { recursive: true });
  }

  disk(name: string, files: Record<string, string>): string {
    const dir = join(this.sys, 'block', name);
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(join(dir, f, '..'), { recursive: true });
      writeFileSync(join(dir, f), text + '\n');
    }
    writeFileSync(join(this.dev, name), '');
    return join(this.dev, name);
  }
}

/** The in-process gateway's JSON-RPC, each call recorded with its params. */
class RecordingRpc implements GatewayRpc {
  calls: { method: string; params?: JsonObject }[] = [];
  constructor(private readonly gateway: Gateway, private readonly events: string[]) {}
  call(method: string, params?: JsonObject): Promise<JsonValue> {
    this.calls.push({ method, ...(params ? { params } : {}) });
    this.events.push(method);
    return this.gateway.rpc(method, params);
  }
  /** What changed the gateway: the calls that are not look-ups. */
  mutations(): { method: string; params?: JsonObject }[] {
    return this.calls.filter((c) => !/^(nvmf_get_subsystems|bdev_get_bdevs)$/.test(c.method));
  }
}

/** Stands in for the kernel NVMe-oF host on the DPU: a file as the connected namespace. */
class FakeKernel implements VolumeAttacher {
  readonly role = 'default';
  log: string[] = [];
  readonly #devices = new Map<string, string>();
  #made = 0;
  constructor(private readonly dir: string, private readonly events: string[]) {}
  async probe(): Promise<void> {}
  async attach(ctx: { subnqn: string }): Promise<string> {
    this.log.push(`attach ${ctx.subnqn}`);
    const dev = this.#devices.get(ctx.subnqn) ?? join(this.dir, `nvme${++this.#made}n1`);
    // 1 MiB of zeros as the connected namespace: mkfs would show in it.
    if (!existsSync(dev)) writeFileSync(dev, Buffer.alloc(1 << 20));
    this.#devices.set(ctx.subnqn, dev);
    return dev;
  }
  async device(volumeId: string): Promise<string | undefined> {
    return this.#devices.get(volumeNqn(volumeId));
  }
  async detach(volumeId: string): Promise<void> {
    this.log.push(`detach ${volumeNqn(volumeId)}`);
    this.events.push('kernel detach');
    this.#devices.delete(volumeNqn(volumeId));
  }
  async rescan(volumeId: string, minBytes?: number): Promise<number> {
    this.events.push(`kernel rescan ${volumeId}${minBytes === undefined ? '' : ` to ${minBytes}`}`);
    return statSync(this.#devices.get(volumeNqn(volumeId))!).size;
  }
}

describe('CSI node roles: host and dpu', function () {
  this.timeout(20000);
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-csi-roles-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe('host (HostDiskAttacher over a fake sysfs)', () => {
    let m: FakeMachine;
    let host: HostDiskAttacher;
    beforeEach(() => {
      m = new FakeMachine(dir);
      host = new HostDiskAttacher({ sysfsRoot: m.sys, devRoot: m.dev, deviceTimeoutMs: 1500, pollMs: 20 });
    });

    it('finds the disk by NGUID, by wwid (eui. or uuid.), and ignores other namespaces of the same controller', async () => {
      const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
      const hex = (u: string) => u.replace(/-/g, '');
      // Another volume's namespace on the same emulated controller, hence the same serial.
      m.disk('nvme0n1', { nguid: b, 'device/serial': volumeSerial(hex(a)) });
      const devA = m.disk('nvme0n2', { nguid: a, uuid: a, wwid: `eui.${hex(a)}`, 'device/serial': 'DPU-SERIAL' });
      const devB = m.disk('nvme0n3', { wwid: `eui.${hex(c).toUpperCase()}` });
      const devC = m.disk('nvme0n4', { wwid: `uuid.${a.slice(0, 8)}` }); // not a full id: never matches
      assert.equal(await host.attach(parsedCtx(a), {}, 'nqn.host'), devA);
      assert.equal(await host.attach(parsedCtx(c), {}, 'nqn.host'), devB);
      assert.equal(await host.device(a), devA);
      assert.equal(await host.device(b), join(m.dev, 'nvme0n1'));
      assert.notEqual(await host.device(a), devC);
      const d = randomUUID();
      m.disk('nvme1n1', { wwid: `uuid.${d}` });
      assert.equal(await host.attach(parsedCtx(d), {}, 'nqn.host'), join(m.dev, 'nvme1n1'));
    });

    it('finds a disk without namespace ids (virtio-blk) by its serial, and only then', async () => {
      const id = randomUUID();
      const serial = volumeSerial(id.replace(/-/g, ''));
      const vdb = m.disk('vdb', { serial });
      assert.equal(await host.attach(parsedCtx(id), {}, 'nqn.host'), vdb);
      // A disk that has ids is judged by them, whatever its serial says.
      assert.equal(matches({ name: 'nvme0n1', ids: ['0'.repeat(31) + '1'], serial }, { nguid: id.replace(/-/g, ''), uuid: id.replace(/-/g, ''), serial }), false);
    });

    it('waits for a disk that appears later, and needs its device node too', async () => {
      const id = randomUUID();
      setTimeout(() => {
        m.disk('nvme2n1', { nguid: id });
        rmSync(join(m.dev, 'nvme2n1'));
      }, 150);
      setTimeout(() => writeFileSync(join(m.dev, 'nvme2n1'), ''), 400);
      const t0 = Date.now();
      assert.equal(await host.attach(parsedCtx(id), {}, 'nqn.host'), join(m.dev, 'nvme2n1'));
      assert.ok(Date.now() - t0 >= 350, 'not before udev made the node');
    });

    it('DEADLINE_EXCEEDED when no disk appears in time', async () => {
      const id = randomUUID();
      const quick = new HostDiskAttacher({ sysfsRoot: m.sys, devRoot: m.dev, deviceTimeoutMs: 200, pollMs: 20 });
      const t0 = Date.now();
      await rejectsWithCode(quick.attach(parsedCtx(id), {}, 'nqn.host'), GrpcStatus.DEADLINE_EXCEEDED, /no disk with NGUID .* within 200 ms.*dpu/);
      assert.ok(Date.now() - t0 < 1000);
    });

    it('rescan writes 1 to the controller\'s rescan_controller (NVMe) or the disk\'s rescan (SCSI); detach lets go only', async () => {
      const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
      m.disk('nvme0n1', { nguid: a, size: '2048', 'device/rescan_controller': '' });
      m.disk('sda', { wwid: `uuid.${b}`, size: '4096', 'device/rescan': '' });
      m.disk('vdc', { serial: volumeSerial(c.replace(/-/g, '')), size: '8192' });
      assert.equal(await host.rescan(a), 2048 * 512);
      assert.equal(await host.rescan(b), 4096 * 512);
      assert.equal(await host.rescan(c), 8192 * 512); // virtio-blk: nothing to write, nothing to fail
      assert.equal(readFileSync(join(m.sys, 'block', 'nvme0n1', 'device', 'rescan_controller'), 'utf8'), '1');
      assert.equal(readFileSync(join(m.sys, 'block', 'sda', 'device', 'rescan'), 'utf8'), '1');
      await rejectsWithCode(host.rescan(randomUUID()), GrpcStatus.NOT_FOUND);
      await host.probe();
      await host.detach(a);
      assert.ok(existsSync(join(m.dev, 'nvme0n1')), 'the disk is the DPU\'s to take away');
      // After detach (or a restart) a volume whose id is its UUID is still found.
      assert.equal(await host.device(a), join(m.dev, 'nvme0n1'));
      assert.equal(await host.device('not-a-uuid'), undefined);
    });

    it('rescan with the size to reach waits for the kernel to take it, and DEADLINE_EXCEEDED when it does not in time', async () => {
      const id = randomUUID();
      m.disk('nvme1n1', { nguid: id, size: '2048', 'device/rescan_controller': '' });
      const grown = 8192 * 512;
      // The kernel's scan work re-reads the size a moment after the rescan was asked for.
      setTimeout(() => writeFileSync(join(m.sys, 'block', 'nvme1n1', 'size'), '8192\n'), 150);
      assert.equal(await host.rescan(id, grown), grown);
      assert.equal(readFileSync(join(m.sys, 'block', 'nvme1n1', 'size'), 'utf8'), '8192\n');
      await rejectsWithCode(host.rescan(id, 2 * grown), GrpcStatus.DEADLINE_EXCEEDED,
        /nvme1n1 holds 4194304 bytes 1500 ms after the rescan, not yet the 8388608 the volume grew to/);
    });

    it('NodeStageVolume on a host node waits for the disk (raw block: nothing to mount)', async () => {
      const id = randomUUID();
      const log = new CsiLogger(() => undefined);
      const node = new NodeService({ role: 'host', log, nodeId: 'nqn.2014-08.org.nvmexpress:uuid:' + randomUUID(), rdma: false, attacher: host });
      const endpoint = `unix://${join(dir, 'host.sock')}`;
      const server = await CsiServer.start({ endpoint, log, services: { Node: node.handlers() } });
      const client = new CsiClient(endpoint);
      try {
        setTimeout(() => m.disk('nvme3n1', { nguid: id }), 100);
        await client.call('Node', 'NodeStageVolume', { volume_id: id, staging_target_path: join(dir, 'staging'), volume_capability: BLOCK,
          publish_context: ctxFor(id) });
        await client.call('Node', 'NodeUnstageVolume', { volume_id: id, staging_target_path: join(dir, 'staging') });
        const other = randomUUID();
        const quick = new NodeService({ role: 'host', log, nodeId: 'nqn.2014-08.org.example:host-x', rdma: false,
          attacher: new HostDiskAttacher({ sysfsRoot: m.sys, devRoot: m.dev, deviceTimeoutMs: 100 }) });
        await rejectsWithCode(quick.stageVolume({ volume_id: other, staging_target_path: join(dir, 's2'), volume_capability: MOUNT,
          publish_context: ctxFor(other), secrets: {}, volume_context: {} }), GrpcStatus.DEADLINE_EXCEEDED);
        assert.ok(!existsSync(join(dir, 's2')), 'nothing made before the disk is there');
      } finally {
        client.close();
        await server.close();
      }
    });

    it('attacherFor(host) is the host disk attacher; probe passes', async () => {
      const a = attacherFor('host');
      assert.ok(a instanceof HostDiskAttacher);
      await a.probe();
    });
  });

  describe('dpu (DpuAttacher, AIO through the DPU gateway)', () => {
    let gateway: Gateway;
    let rpc: RecordingRpc;
    let kernel: FakeKernel;
    let client: CsiClient;
    let server: CsiServer;
    let events: string[];

    async function startNode(attacher: VolumeAttacher): Promise<void> {
      const log = new CsiLogger(() => undefined);
      const node = new NodeService({ role: 'dpu', log, nodeId: 'nqn.2014-08.org.nvmexpress:uuid:' + randomUUID(), rdma: false, attacher });
      const identity = new IdentityService({ controller: false, manifest: { role: 'dpu' }, probe: () => node.probe() });
      const endpoint = `unix://${join(dir, 'dpu.sock')}`;
      server = await CsiServer.start({ endpoint, log, services: { Identity: identity.handlers(), Node: node.handlers() } });
      client = new CsiClient(endpoint);
    }

    beforeEach(async () => {
      gateway = new Gateway({ socketPath: null, configPath: null, log: () => undefined });
      await gateway.start();
      await gateway.rpc('nvmf_create_subsystem', { nqn: DPU_NQN, serial_number: 'DPU0001', allow_any_host: true, max_namespaces: 32 });
      events = [];
      rpc = new RecordingRpc(gateway, events);
      kernel = new FakeKernel(dir, events);
      await startNode(new DpuAttacher({ kernel, aio: new GatewayDpuFrontend({ rpc, subsystem: DPU_NQN }) }));
    });
    afterEach(async () => {
      client.close();
      await server.close();
      await gateway.close();
    });

    const stage = (id: string, extra: object = {}) => client.call('Node', 'NodeStageVolume', { volume_id: id,
      staging_target_path: join(dir, 'staging', id), volume_capability: MOUNT, publish_context: ctxFor(id), ...extra });
    const unstage = (id: string) => client.call('Node', 'NodeUnstageVolume', { volume_id: id, staging_target_path: join(dir, 'staging', id) });
    const namespaces = async () => ((await gateway.rpc('nvmf_get_subsystems', { nqn: DPU_NQN })) as { namespaces: JsonObject[] }[])[0].namespaces;

    it('stage connects, makes the bdev and the namespace with the volume\'s NGUID and UUID; again, changes nothing', async () => {
      const id = randomUUID();
      const nguid = id.replace(/-/g, '');
      await stage(id);
      const dev = join(dir, 'nvme1n1');
      assert.deepEqual(kernel.log, [`attach ${volumeNqn(id)}`]);
      assert.deepEqual(rpc.mutations(), [
        { method: 'bdev_uring_create', params: { name: `dpu_${id}`, filename: dev, uuid: id } },
        { method: 'nvmf_subsystem_add_ns', params: { nqn: DPU_NQN, namespace: { bdev_name: `dpu_${id}`, uuid: id, nguid } } },
      ]);
      const ns = await namespaces();
      assert.equal(ns.length, 1);
      assert.equal(ns[0].bdev_name, `dpu_${id}`);
      assert.equal(String(ns[0].nguid).toLowerCase(), nguid);
      assert.equal(ns[0].uuid, id);
      // The file system is the host's: nothing is made or mounted on the DPU.
      assert.ok(!existsSync(join(dir, 'staging', id)), 'no staging directory, no mount');
      assert.equal(readFileSync(dev).every((b) => b === 0), true, 'no mkfs wrote to the device');

      rpc.calls = [];
      await stage(id);
      assert.deepEqual(rpc.mutations(), [], 'a repeated stage looks and finds it all there');
      assert.equal((await namespaces()).length, 1);
    });

    it('NodeExpandVolume: the DPU\'s kernel rescans to capacity_range\'s size first, then the bdev over it takes that size for the host', async () => {
      const id = randomUUID();
      await stage(id);
      writeFileSync(join(dir, 'nvme1n1'), Buffer.alloc(1 << 20), { flag: 'a' });  // the connected namespace grew
      rpc.calls = [];
      events.length = 0;
      const r = await client.call<{ capacity_bytes: string }>('Node', 'NodeExpandVolume',
        { volume_id: id, volume_path: join(dir, 'staging', id), capacity_range: { required_bytes: 2 << 20 } });
      assert.equal(r.capacity_bytes, String(2 << 20), 'the size the DPU\'s device holds');
      assert.deepEqual(rpc.mutations(), [{ method: 'bdev_uring_rescan', params: { name: `dpu_${id}` } }]);
      assert.deepEqual(events.filter((e) => e !== 'bdev_get_bdevs'), [`kernel rescan ${id} to ${2 << 20}`, 'bdev_uring_rescan']);
      const [b] = (await gateway.rpc('bdev_get_bdevs', { name: `dpu_${id}` })) as JsonObject[];
      assert.equal(Number(b.num_blocks) * Number(b.block_size), 2 << 20);
    });

    it('unstage takes the namespace and the bdev away, then disconnects; again, nothing to do', async () => {
      const [a, b] = [randomUUID(), randomUUID()];
      await stage(a);
      await stage(b);
      rpc.calls = [];
      kernel.log = [];
      events.length = 0;
      await unstage(a);
      const nsid = 1;
      assert.deepEqual(rpc.mutations(), [
        { method: 'nvmf_subsystem_remove_ns', params: { nqn: DPU_NQN, nsid } },
        { method: 'bdev_uring_delete', params: { name: `dpu_${a}` } },
      ]);
      assert.deepEqual(kernel.log, [`detach ${volumeNqn(a)}`]);
      assert.equal(events.at(-1), 'kernel detach', 'the device goes only after the host lost the namespace');
      assert.deepEqual((await namespaces()).map((n) => n.bdev_name), [`dpu_${b}`]);
      rpc.calls = [];
      await unstage(a);
      assert.deepEqual(rpc.mutations(), []);
    });

    it('a stage that stopped halfway (bdev, no namespace) is finished over the current device', async () => {
      const id = randomUUID();
      writeFileSync(join(dir, 'stale'), Buffer.alloc(1 << 20));
      await gateway.rpc('bdev_uring_create', { name: `dpu_${id}`, filename: join(dir, 'stale') });
      await stage(id);
      assert.deepEqual(rpc.mutations().map((c) => c.method), ['bdev_uring_delete', 'bdev_uring_create', 'nvmf_subsystem_add_ns']);
      assert.equal(await new GatewayDpuFrontend({ rpc, subsystem: DPU_NQN }).exposed(id), true);
    });

    it('publish is FAILED_PRECONDITION: pods run on the host', async () => {
      const id = randomUUID();
      await stage(id);
      await rejectsWithCode(client.call('Node', 'NodePublishVolume', { volume_id: id, staging_target_path: join(dir, 'staging', id),
        target_path: join(dir, 'target'), volume_capability: MOUNT, publish_context: ctxFor(id) }), GrpcStatus.FAILED_PRECONDITION, /role host/);
      assert.ok(!existsSync(join(dir, 'target')));
    });

    it('a DPU gateway without the host-facing subsystem is FAILED_PRECONDITION, in Probe and stage', async () => {
      await gateway.rpc('nvmf_delete_subsystem', { nqn: DPU_NQN });
      await rejectsWithCode(client.call('Identity', 'Probe'), GrpcStatus.FAILED_PRECONDITION, /no subsystem/);
      await rejectsWithCode(stage(randomUUID()), GrpcStatus.FAILED_PRECONDITION, /--dpu-subsystem/);
    });

    it('connectionMode nvmf is UNIMPLEMENTED on the dpu role (the host stages it) and connects nothing; a bad mode is INVALID_ARGUMENT', async () => {
      const id = randomUUID();
      await rejectsWithCode(stage(id, { volume_context: { connectionMode: 'nvmf' } }), GrpcStatus.UNIMPLEMENTED, /staged from the host's node plugin/);
      await rejectsWithCode(stage(id, { volume_context: { connectionMode: 'pcie' } }), GrpcStatus.INVALID_ARGUMENT, /connectionMode/);
      assert.deepEqual(kernel.log, []);
      assert.deepEqual(rpc.mutations(), []);
      // Unstaging what nvmf never exposed is fine.
      await unstage(id);
      // The node's default mode applies where the StorageClass says nothing.
      client.close();
      await server.close();
      await startNode(new DpuAttacher({ kernel, defaultMode: 'nvmf' }));
      await rejectsWithCode(stage(id), GrpcStatus.UNIMPLEMENTED, /staged from the host's node plugin/);
      await client.call('Identity', 'Probe');
    });

    it('without an AIO frontend configured, AIO volumes are FAILED_PRECONDITION before anything connects', async () => {
      client.close();
      await server.close();
      await startNode(new DpuAttacher({ kernel }));
      await rejectsWithCode(stage(randomUUID()), GrpcStatus.FAILED_PRECONDITION, /--dpu-subsystem/);
      assert.deepEqual(kernel.log, []);
    });
  });

  it('StorageClass parameter connectionMode: checked, and carried in volume_context only when given', () => {
    const p = parseVolumeParameters({ connectionMode: 'nvmf' });
    assert.equal(p.connectionMode, 'nvmf');
    assert.deepEqual(volumeContext(p, 'tcp'), { plugin: 'local', transport: 'tcp', connectionMode: 'nvmf' });
    assert.deepEqual(volumeContext(parseVolumeParameters({}), 'tcp'), { plugin: 'local', transport: 'tcp' });
    assert.throws(() => parseVolumeParameters({ connectionMode: 'AIO' }), /connectionMode must be one of aio, nvmf/);
  });
});
