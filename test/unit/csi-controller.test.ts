/**
 * The CSI Identity and Controller services over gRPC, against an in-process gateway and
 * a local pool in a temp directory: every RPC, idempotency, each error code, pagination,
 * snapshots and restores, expansion, and an export that rdmagate's own NVMe/TCP host
 * reads and writes through.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufferPool, Gateway, nvmf, type JsonObject, type JsonValue, type LogEntry } from '../../lib';
import {
  ControllerService, CsiClient, CsiLogger, CsiServer, GrpcStatus, IdentityService, LocalPlugin, NvmfExporter,
  REDACTED, socketGatewayRpc, volumeNqn, type GatewayRpc,
} from '../../lib/csi';
import { publishChecksFieldsFirst, rejectsOverGrpc } from '../support/csi-assert';
import { readAt, writeAt } from '../support/file-at';

const NODE_A = `nqn.2014-08.org.nvmexpress:uuid:${randomUUID()}`;
const NODE_B = `nqn.2014-08.org.nvmexpress:uuid:${randomUUID()}`;
const MiB = 1 << 20;
const GiB = 1 << 30;

const MOUNT = { mount: { fs_type: 'ext4' }, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
const BLOCK_SHARED = { block: {}, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } };

// Below Linux's ephemeral range (32768-60999), where outgoing connections take their ports.
let nextPort = 10000 + Math.floor(Math.random() * 10000);

/** The gateway's RPCs, in process. Every call can be held at a gate, to keep an operation in flight. */
class TestRpc implements GatewayRpc {
  calls: string[] = [];
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  #entered: (() => void) | undefined;

  constructor(private readonly gateway: Gateway) {}

  /** Holds every call from now on; resolves `entered` when the first one arrives. */
  hold(): { entered: Promise<void>; release: () => void } {
    this.#gate = new Promise((r) => { this.#open = r; });
    const entered = new Promise<void>((r) => { this.#entered = r; });
    return { entered, release: () => { this.#gate = undefined; this.#open?.(); } };
  }

  async call(method: string, params?: JsonObject): Promise<JsonValue> {
    this.calls.push(method);
    if (this.#gate) {
      this.#entered?.();
      await this.#gate;
    }
    return this.gateway.rpc(method, params);
  }
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 17 + (i >> 9)) & 0xff;
  return b;
}


describe('CSI controller (gRPC, local pool, in-process gateway)', function () {
  this.timeout(30000);
  let dir: string;
  let gateway: Gateway;
  let rpc: TestRpc;
  let plugin: LocalPlugin;
  let server: CsiServer;
  let client: CsiClient;
  let logs: LogEntry[];
  let port: number;

  async function startController(pool: string): Promise<void> {
    const log = new CsiLogger((e) => logs.push(e));
    plugin = new LocalPlugin({ poolDir: pool, log });
    await plugin.open();
    const exporter = new NvmfExporter({ rpc, tcp: { traddr: '127.0.0.1', trsvcid: port } });
    const controller = new ControllerService({ plugins: [plugin], exporter, log });
    const identity = new IdentityService({ controller: true, probe: async () => { await rpc.call('nvmf_get_transports'); } });
    server = await CsiServer.start({
      endpoint: `unix://${join(dir, 'csi.sock')}`, log, services: { Identity: identity.handlers(), Controller: controller.handlers() },
    });
    client = new CsiClient(`unix://${join(dir, 'csi.sock')}`);
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-csi-'));
    logs = [];
    port = nextPort++;
    gateway = new Gateway({ socketPath: null, configPath: null, log: () => undefined });
    await gateway.start();
    rpc = new TestRpc(gateway);
    await startController(join(dir, 'pool'));
  });

  afterEach(async () => {
    client.close();
    await server.close();
    await gateway.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const ctl = <T = Record<string, unknown>>(method: string, req: object = {}) => client.call<T>('Controller', method, req);
  type Vol = { volume: { volume_id: string; capacity_bytes: string; volume_context: Record<string, string>;
    accessible_topology: unknown[]; content_source: unknown } };
  const create = (name: string, extra: object = {}) =>
    ctl<Vol>('CreateVolume', { name, volume_capabilities: [MOUNT], capacity_range: { required_bytes: 16 * MiB }, ...extra });
  type Pub = { publish_context: Record<string, string> };
  const publish = (id: string, node = NODE_A, cap: object = MOUNT) =>
    ctl<Pub>('ControllerPublishVolume', { volume_id: id, node_id: node, volume_capability: cap });

  describe('Identity', () => {
    it('names the plugin, lists its capabilities and is ready', async () => {
      const info = await client.call<{ name: string; vendor_version: string }>('Identity', 'GetPluginInfo');
      assert.equal(info.name, 'rdmagate.csi.io');
      assert.match(info.vendor_version, /^\d+\.\d+\.\d+/);
      const caps = await client.call<{ capabilities: Record<string, { type: string }>[] }>('Identity', 'GetPluginCapabilities');
      const types = caps.capabilities.map((c) => `${Object.keys(c).find((k) => c[k])}:${(c.service ?? c.volume_expansion).type}`);
      assert.deepEqual(types, ['service:CONTROLLER_SERVICE', 'service:VOLUME_ACCESSIBILITY_CONSTRAINTS', 'volume_expansion:ONLINE']);
      assert.deepEqual(await client.call('Identity', 'Probe'), { ready: { value: true } });
    });

    it('Probe fails when the gateway cannot be reached', async () => {
      const log = new CsiLogger(() => undefined);
      const dead = socketGatewayRpc(join(dir, 'no-gateway.sock'), 500);
      const identity = new IdentityService({ controller: true, probe: async () => { await dead.call('nvmf_get_transports'); } });
      const s = await CsiServer.start({ endpoint: `unix://${join(dir, 'probe.sock')}`, log, services: { Identity: identity.handlers() } });
      const c = new CsiClient(`unix://${join(dir, 'probe.sock')}`);
      try {
        await rejectsOverGrpc(c.call('Identity', 'Probe'), GrpcStatus.UNAVAILABLE, /is the gateway running/);
        // A service this endpoint does not serve is UNIMPLEMENTED, not a hang or a success.
        await rejectsOverGrpc(c.call('Controller', 'ListVolumes'), GrpcStatus.UNIMPLEMENTED);
      } finally {
        c.close();
        await s.close();
      }
    });
  });

  it('refuses an endpoint that a live driver serves, and takes over one a dead driver left', async () => {
    const log = new CsiLogger(() => undefined);
    const endpoint = `unix://${join(dir, 'csi.sock')}`;  // the suite's server serves it
    await assert.rejects(CsiServer.start({ endpoint, log, services: { Identity: new IdentityService({ controller: true }).handlers() } }),
      { code: 'ERR_ADDRESS_IN_USE' });
    const stale = join(dir, 'stale.sock');
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    assert.ok(statSync(stale).isSocket(), 'a socket file left behind');
    const s = await CsiServer.start({ endpoint: `unix://${stale}`, log, services: { Identity: new IdentityService({ controller: true }).handlers() } });
    await s.close();
  });

  it('ControllerGetCapabilities lists what is implemented', async () => {
    const r = await ctl<{ capabilities: { rpc: { type: string } }[] }>('ControllerGetCapabilities');
    assert.deepEqual(r.capabilities.map((c) => c.rpc.type).sort(), [
      'CLONE_VOLUME', 'CREATE_DELETE_SNAPSHOT', 'CREATE_DELETE_VOLUME', 'EXPAND_VOLUME', 'GET_CAPACITY', 'LIST_SNAPSHOTS',
      'LIST_VOLUMES', 'LIST_VOLUMES_PUBLISHED_NODES', 'PUBLISH_UNPUBLISH_VOLUME', 'SINGLE_NODE_MULTI_WRITER',
    ]);
  });

  describe('CreateVolume and DeleteVolume', () => {
    it('creates a sparse file of the size asked, rounded up to 4 KiB, idempotently', async () => {
      const a = await create('pvc-a', { capacity_range: { required_bytes: 10 * MiB + 1 }, parameters: { fsType: 'xfs', ctrl_loss_tmo: '30' } });
      const id = a.volume.volume_id;
      assert.equal(a.volume.capacity_bytes, String(10 * MiB + 4096));
      assert.deepEqual(a.volume.volume_context, { plugin: 'local', transport: 'tcp', fsType: 'xfs', ctrl_loss_tmo: '30' });
      assert.deepEqual(a.volume.accessible_topology, [], 'TCP volumes are reachable from every node');
      const file = plugin.volumePath(id);
      const st = statSync(file);
      assert.equal(st.size, 10 * MiB + 4096);
      assert.ok(st.blocks * 512 < MiB, 'thin: nothing allocated');
      // The same request again: the same volume, nothing new.
      const again = await create('pvc-a', { capacity_range: { required_bytes: 10 * MiB + 1 }, parameters: { fsType: 'xfs', ctrl_loss_tmo: '30' } });
      assert.deepEqual(again, a);
      assert.equal(plugin.volumes().length, 1);
    });

    it('ALREADY_EXISTS for the same name with another size or other parameters', async () => {
      await create('pvc-b');
      await rejectsOverGrpc(create('pvc-b', { capacity_range: { required_bytes: 64 * MiB } }), GrpcStatus.ALREADY_EXISTS, /below required_bytes/);
      await rejectsOverGrpc(create('pvc-b', { capacity_range: { required_bytes: MiB, limit_bytes: 2 * MiB } }), GrpcStatus.ALREADY_EXISTS, /above limit_bytes/);
      await rejectsOverGrpc(create('pvc-b', { parameters: { fsType: 'xfs' } }), GrpcStatus.ALREADY_EXISTS, /other parameters/);
      // A smaller request that the existing volume satisfies is the same volume.
      assert.equal((await create('pvc-b', { capacity_range: { required_bytes: MiB } })).volume.capacity_bytes, String(16 * MiB));
    });

    it('defaults to 1 GiB, and to limit_bytes below that', async () => {
      assert.equal((await create('d1', { capacity_range: null })).volume.capacity_bytes, String(GiB));
      assert.equal((await create('d2', { capacity_range: { limit_bytes: 8 * MiB + 100 } })).volume.capacity_bytes, String(8 * MiB));
    });

    it('INVALID_ARGUMENT for what it cannot honour', async () => {
      await rejectsOverGrpc(ctl('CreateVolume', { volume_capabilities: [MOUNT] }), GrpcStatus.INVALID_ARGUMENT, /name is required/);
      await rejectsOverGrpc(ctl('CreateVolume', { name: 'x' }), GrpcStatus.INVALID_ARGUMENT, /volume_capabilities is required/);
      await rejectsOverGrpc(create('x', { parameters: { colour: 'blue' } }), GrpcStatus.INVALID_ARGUMENT, /unknown parameter "colour"/);
      await rejectsOverGrpc(create('x', { parameters: { plugin: 'mayastor' } }), GrpcStatus.INVALID_ARGUMENT, /plugin "mayastor" is not available/);
      await rejectsOverGrpc(create('x', { parameters: { replicas: '3' } }), GrpcStatus.INVALID_ARGUMENT, /one copy/);
      await rejectsOverGrpc(create('x', { parameters: { thin: 'maybe' } }), GrpcStatus.INVALID_ARGUMENT, /thin must be/);
      await rejectsOverGrpc(create('x', { parameters: { transport: 'rdma' } }), GrpcStatus.INVALID_ARGUMENT, /no RDMA listen address/);
      await rejectsOverGrpc(create('x', { parameters: { nr_io_queues: '0' } }), GrpcStatus.INVALID_ARGUMENT, /nr_io_queues must be in/);
      await rejectsOverGrpc(create('x', { volume_capabilities: [{ mount: { fs_type: 'ntfs' }, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] }),
        GrpcStatus.INVALID_ARGUMENT, /fs_type "ntfs"/);
      await rejectsOverGrpc(create('x', { volume_capabilities: [{ mount: {}, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } }] }),
        GrpcStatus.INVALID_ARGUMENT, /cluster file system/);
      await rejectsOverGrpc(create('x\u0001'), GrpcStatus.INVALID_ARGUMENT, /control characters/);
      // The sidecars' own keys are not ours to refuse.
      await create('ok', { parameters: { 'csi.storage.k8s.io/pvc/name': 'data', 'csi.storage.k8s.io/pvc/namespace': 'default' } });
      assert.equal(plugin.volumes().length, 1);
    });

    it('OUT_OF_RANGE for capacities it cannot give', async () => {
      await rejectsOverGrpc(create('r', { capacity_range: { required_bytes: 2 * MiB, limit_bytes: MiB } }), GrpcStatus.OUT_OF_RANGE, /above limit_bytes/);
      await rejectsOverGrpc(create('r', { capacity_range: { required_bytes: 4097, limit_bytes: 5000 } }), GrpcStatus.OUT_OF_RANGE, /multiple of 4096/);
      await rejectsOverGrpc(create('r', { capacity_range: { required_bytes: String(2 ** 49) } }), GrpcStatus.OUT_OF_RANGE, /largest volume/);
      await rejectsOverGrpc(create('r', { capacity_range: { required_bytes: '9223372036854775807' } }), GrpcStatus.OUT_OF_RANGE);
    });

    it('RESOURCE_EXHAUSTED for a thick volume larger than the pool', async () => {
      await rejectsOverGrpc(create('thick', { capacity_range: { required_bytes: String(2 ** 47) }, parameters: { thin: 'false' } }),
        GrpcStatus.RESOURCE_EXHAUSTED, /do not fit/);
      const t = await create('thick-ok', { capacity_range: { required_bytes: 4 * MiB }, parameters: { thin: 'false' } });
      assert.ok(statSync(plugin.volumePath(t.volume.volume_id)).blocks * 512 >= 4 * MiB, 'thick: the blocks are reserved');
    });

    it('DeleteVolume removes the file, and succeeds again for a volume that is gone', async () => {
      const id = (await create('del')).volume.volume_id;
      await ctl('DeleteVolume', { volume_id: id });
      assert.ok(!existsSync(plugin.volumePath(id)));
      await ctl('DeleteVolume', { volume_id: id });
      await ctl('DeleteVolume', { volume_id: randomUUID() });
      await rejectsOverGrpc(ctl('DeleteVolume', {}), GrpcStatus.INVALID_ARGUMENT);
    });
  });

  describe('ControllerPublishVolume and ControllerUnpublishVolume', () => {
    it('exports the volume to the node, which reads and writes it through rdmagate\'s NVMe/TCP host', async () => {
      const id = (await create('pub', { capacity_range: { required_bytes: 8 * MiB } })).volume.volume_id;
      const before = pattern(8192, 1);
      writeAt(plugin.volumePath(id), 4096, before);
      const { publish_context: ctx } = await publish(id);
      assert.deepEqual(ctx, {
        transport: 'tcp', traddr: '127.0.0.1', trsvcid: String(port), subnqn: volumeNqn(id), uuid: id, nguid: id.replace(/-/g, ''),
      });
      assert.equal(ctx.subnqn, `nqn.2026-11.io.rdmagate:vol:${id}`);
      // The export as the gateway reports it: one namespace, this node only, one TCP listener.
      const [sub] = (await gateway.rpc('nvmf_get_subsystems', { nqn: ctx.subnqn })) as {
        hosts: { nqn: string }[]; allow_any_host: boolean; namespaces: { uuid: string; bdev_name: string }[];
        listen_addresses: { trtype: string; trsvcid: string }[] }[];
      assert.deepEqual(sub.hosts, [{ nqn: NODE_A }]);
      assert.equal(sub.allow_any_host, false);
      assert.equal(sub.namespaces[0].uuid, id);
      assert.deepEqual(sub.listen_addresses.map((l) => [l.trtype, l.trsvcid]), [['TCP', String(port)]]);

      const pool = new BufferPool({ chunkSize: 64 * 1024 });
      const c = await nvmf.connect({ traddr: ctx.traddr, trsvcid: Number(ctx.trsvcid), subnqn: ctx.subnqn, hostnqn: NODE_A });
      try {
        const ns = c.namespaces[0];
        assert.equal(ns.uuid, ctx.uuid);
        assert.equal(ns.nguid, ctx.nguid);
        assert.equal(ns.blockSize, 4096);
        assert.equal(ns.size, 8 * MiB);
        const q = c.queuePairs[0];
        const r = pool.acquire();
        await q.read(ns.nsid, 1, 2, r);
        assert.ok(Buffer.from(r.buffer, r.byteOffset, 8192).equals(before), 'reads what is in the volume file');
        const w = pool.acquire();
        const after = pattern(16384, 2);
        w.set(after);
        await q.write(ns.nsid, 100, 4, w);
        await q.flush(ns.nsid);
        assert.ok(readAt(plugin.volumePath(id), 100 * 4096, 16384).equals(after), 'writes land in the volume file');
        r.release();
        w.release();
      } finally {
        await c.close();
        pool.close();
      }
      // Another host is not on the allow list.
      await assert.rejects(nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: ctx.subnqn, hostnqn: NODE_B, timeoutMs: 5000 }));
    });

    it('is idempotent, refuses a second node for a single-node volume, and shares a block volume', async () => {
      const id = (await create('share', { volume_capabilities: [MOUNT, BLOCK_SHARED] })).volume.volume_id;
      const first = await publish(id);
      assert.deepEqual(await publish(id), first);
      await rejectsOverGrpc(publish(id, NODE_B), GrpcStatus.FAILED_PRECONDITION, /allows one node/);
      await publish(id, NODE_B, BLOCK_SHARED);
      const list = await ctl<{ entries: { volume: { volume_id: string }; status: { published_node_ids: string[] } }[] }>('ListVolumes');
      assert.deepEqual(list.entries[0].status.published_node_ids.sort(), [NODE_A, NODE_B].sort());
      // Unpublish one node: the other stays; unpublish the last: the export is gone.
      await ctl('ControllerUnpublishVolume', { volume_id: id, node_id: NODE_A });
      const [sub] = (await gateway.rpc('nvmf_get_subsystems', { nqn: volumeNqn(id) })) as { hosts: { nqn: string }[] }[];
      assert.deepEqual(sub.hosts, [{ nqn: NODE_B }]);
      await ctl('ControllerUnpublishVolume', { volume_id: id, node_id: NODE_A });
      await ctl('ControllerUnpublishVolume', { volume_id: id, node_id: NODE_B });
      await assert.rejects(gateway.rpc('nvmf_get_subsystems', { nqn: volumeNqn(id) }), /No such device/);
      assert.ok(!gateway.target.bdevs().some((b) => b.name === NvmfExporter.bdevName(id)), 'the bdev is gone too');
      await ctl('ControllerUnpublishVolume', { volume_id: id, node_id: NODE_B });
    });

    it('unpublishes from every node without node_id, and even a volume it does not know', async () => {
      const id = (await create('all', { volume_capabilities: [BLOCK_SHARED] })).volume.volume_id;
      await publish(id, NODE_A, BLOCK_SHARED);
      await publish(id, NODE_B, BLOCK_SHARED);
      await ctl('ControllerUnpublishVolume', { volume_id: id });
      assert.equal((await gateway.rpc('nvmf_get_subsystems') as unknown[]).filter((s) => JSON.stringify(s).includes(id)).length, 0);
      await ctl('ControllerUnpublishVolume', { volume_id: randomUUID(), node_id: NODE_A });
    });

    it('argument errors, NOT_FOUND and FAILED_PRECONDITION', async () => {
      const id = (await create('errs')).volume.volume_id;
      await rejectsOverGrpc(ctl('ControllerPublishVolume', { node_id: NODE_A, volume_capability: MOUNT }), GrpcStatus.INVALID_ARGUMENT);
      await rejectsOverGrpc(ctl('ControllerPublishVolume', { volume_id: id, volume_capability: MOUNT }), GrpcStatus.INVALID_ARGUMENT, /node_id/);
      await rejectsOverGrpc(ctl('ControllerPublishVolume', { volume_id: id, node_id: NODE_A }), GrpcStatus.INVALID_ARGUMENT, /volume_capability/);
      await rejectsOverGrpc(publish(randomUUID()), GrpcStatus.NOT_FOUND, /does not exist/);
      await rejectsOverGrpc(publish(id, 'worker-1'), GrpcStatus.NOT_FOUND, /not a host NQN/);
      await publish(id);
      await rejectsOverGrpc(ctl('DeleteVolume', { volume_id: id }), GrpcStatus.FAILED_PRECONDITION, /still published/);
    });

    it('a missing or malformed field is INVALID_ARGUMENT before anything is NOT_FOUND (issue 20, item 12)', async () => {
      const id = (await create('order')).volume.volume_id;
      const unknown = randomUUID();
      await publishChecksFieldsFirst(ctl, publish, MOUNT, id, unknown);
      // The other Controller RPCs: a malformed field of a volume that does not exist is INVALID_ARGUMENT too.
      await rejectsOverGrpc(ctl('ControllerExpandVolume', { volume_id: unknown, capacity_range: {} }), GrpcStatus.INVALID_ARGUMENT,
        /required_bytes or limit_bytes/);
      await rejectsOverGrpc(ctl('ControllerExpandVolume', { volume_id: unknown, capacity_range: { required_bytes: '-1' } }),
        GrpcStatus.INVALID_ARGUMENT, /negative/);
      await rejectsOverGrpc(ctl('ValidateVolumeCapabilities', { volume_id: unknown, volume_capabilities: [MOUNT], parameters: { colour: 'blue' } }),
        GrpcStatus.INVALID_ARGUMENT, /unknown parameter "colour"/);
      await rejectsOverGrpc(create('order-restore', { capacity_range: { required_bytes: '-1' },
        volume_content_source: { snapshot: { snapshot_id: unknown } } }), GrpcStatus.INVALID_ARGUMENT, /negative/);
      // And well-formed, they are NOT_FOUND.
      await rejectsOverGrpc(ctl('ControllerExpandVolume', { volume_id: unknown, capacity_range: { required_bytes: MiB } }), GrpcStatus.NOT_FOUND);
      await rejectsOverGrpc(ctl('ValidateVolumeCapabilities', { volume_id: unknown, volume_capabilities: [MOUNT] }), GrpcStatus.NOT_FOUND);
      await rejectsOverGrpc(create('order-restore', { volume_content_source: { snapshot: { snapshot_id: unknown } } }), GrpcStatus.NOT_FOUND);
      assert.deepEqual(rpc.calls.filter((m) => m !== 'nvmf_get_subsystems'), [], 'nothing was exported');
    });

    it('a node id must be an NQN by the NVMe grammar, as the target checks it (issue 20, item 14)', async () => {
      const id = (await create('nqn-grammar', { volume_capabilities: [BLOCK_SHARED] })).volume.volume_id;
      // Each passed the former check (the "nqn." prefix and 223 bytes): none names a node the target would admit.
      for (const bad of ['nqn.', 'nqn.2014-13.org.example:host', 'nqn.2014-08.org.nvmexpress:uuid:not-a-uuid', 'nqn.2014-08.example:host',
        'nqn.2014-08.org.example:', 'nqn.2014-08.org.-example:host', 'nqn.2014-08.org.example:host\u0001', 'nqn.2014-08.org.nvmexpress.discovery']) {
        await rejectsOverGrpc(publish(id, bad, BLOCK_SHARED), GrpcStatus.NOT_FOUND, /not a host NQN/);
      }
      const good = ['nqn.2019-06.io.example.nodes:worker 1', `nqn.2014-08.org.nvmexpress:uuid:${randomUUID().toUpperCase()}`,
        `nqn.2014-08.org.example:${'é'.repeat(99)}`];
      for (const node of good) await publish(id, node, BLOCK_SHARED);
      const [sub] = (await gateway.rpc('nvmf_get_subsystems', { nqn: volumeNqn(id) })) as { hosts: { nqn: string }[] }[];
      assert.deepEqual(sub.hosts.map((h) => h.nqn).sort(), [...good].sort());
    });

    it('ControllerExpandVolume of a published volume: the gateway tells the host, which sees the new size (online)', async () => {
      const id = (await create('online')).volume.volume_id;
      const ctx = (await publish(id)).publish_context;
      const c = await nvmf.connect({ traddr: ctx.traddr, trsvcid: Number(ctx.trsvcid), subnqn: ctx.subnqn, hostnqn: NODE_A });
      try {
        const grown = c.namespaces[0].size + 16 * MiB;
        const told = once(c, 'namespacesChanged');
        const r = await ctl<{ capacity_bytes: string }>('ControllerExpandVolume', { volume_id: id, capacity_range: { required_bytes: grown } });
        assert.equal(r.capacity_bytes, String(grown));
        await told;
        assert.equal(c.namespaces[0].size, grown);
      } finally {
        await c.close();
      }
    });

    it('UNAVAILABLE when the gateway socket does not answer', async () => {
      const log = new CsiLogger(() => undefined);
      const exporter = new NvmfExporter({ rpc: socketGatewayRpc(join(dir, 'none.sock'), 500), tcp: { traddr: '127.0.0.1', trsvcid: port } });
      const controller = new ControllerService({ plugins: [plugin], exporter, log });
      const id = (await create('unavail')).volume.volume_id;
      const s = await CsiServer.start({ endpoint: `unix://${join(dir, 'u.sock')}`, log, services: { Controller: controller.handlers() } });
      const c = new CsiClient(`unix://${join(dir, 'u.sock')}`);
      try {
        await rejectsOverGrpc(c.call('Controller', 'ControllerPublishVolume', { volume_id: id, node_id: NODE_A, volume_capability: MOUNT }),
          GrpcStatus.UNAVAILABLE, /gateway/);
      } finally {
        c.close();
        await s.close();
      }
    });
  });

  it('ABORTED for a second operation on a volume while one is in flight', async () => {
    const id = (await create('busy')).volume.volume_id;
    const gate = rpc.hold();
    const first = publish(id);
    await gate.entered;
    await rejectsOverGrpc(ctl('ControllerExpandVolume', { volume_id: id, capacity_range: { required_bytes: 32 * MiB } }), GrpcStatus.ABORTED,
      /in progress.*ControllerPublishVolume/);
    await rejectsOverGrpc(ctl('DeleteVolume', { volume_id: id }), GrpcStatus.ABORTED);
    await rejectsOverGrpc(ctl('CreateSnapshot', { name: 'snap-busy', source_volume_id: id }), GrpcStatus.ABORTED);
    gate.release();
    assert.equal((await first).publish_context.uuid, id);
    // Once it is done, the volume takes the next operation.
    await ctl('ControllerUnpublishVolume', { volume_id: id, node_id: NODE_A });
  });

  it('ValidateVolumeCapabilities confirms what it supports', async () => {
    const v = (await create('val', { parameters: { fsType: 'ext4' } })).volume;
    const ok = await ctl<{ confirmed: { volume_capabilities: unknown[] } | null; message: string }>('ValidateVolumeCapabilities',
      { volume_id: v.volume_id, volume_capabilities: [MOUNT, BLOCK_SHARED], volume_context: v.volume_context, parameters: { fsType: 'ext4' } });
    assert.equal(ok.confirmed?.volume_capabilities.length, 2);
    const no = await ctl<{ confirmed: unknown; message: string }>('ValidateVolumeCapabilities',
      { volume_id: v.volume_id, volume_capabilities: [{ mount: {}, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } }] });
    assert.equal(no.confirmed, null);
    assert.match(no.message, /cluster file system/);
    const other = await ctl<{ confirmed: unknown; message: string }>('ValidateVolumeCapabilities',
      { volume_id: v.volume_id, volume_capabilities: [MOUNT], parameters: { fsType: 'xfs' } });
    assert.equal(other.confirmed, null);
    await rejectsOverGrpc(ctl('ValidateVolumeCapabilities', { volume_id: randomUUID(), volume_capabilities: [MOUNT] }), GrpcStatus.NOT_FOUND);
    await rejectsOverGrpc(ctl('ValidateVolumeCapabilities', { volume_id: v.volume_id }), GrpcStatus.INVALID_ARGUMENT);
  });

  it('ListVolumes pages through every volume; a token it did not make is ABORTED', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) ids.add((await create(`list-${i}`)).volume.volume_id);
    type Page = { entries: { volume: { volume_id: string } }[]; next_token: string };
    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const p = await ctl<Page>('ListVolumes', { max_entries: 2, starting_token: token });
      assert.ok(p.entries.length <= 2);
      seen.push(...p.entries.map((e) => e.volume.volume_id));
      token = p.next_token;
      pages++;
    } while (token);
    assert.equal(pages, 3);
    assert.deepEqual(seen, [...ids].sort());
    assert.equal((await ctl<Page>('ListVolumes')).entries.length, 5);
    // A volume deleted between pages does not derail the next page.
    const p1 = await ctl<Page>('ListVolumes', { max_entries: 2 });
    await ctl('DeleteVolume', { volume_id: seen[2] });
    const p2 = await ctl<Page>('ListVolumes', { max_entries: 2, starting_token: p1.next_token });
    assert.deepEqual(p2.entries.map((e) => e.volume.volume_id), [seen[3], seen[4]]);
    await rejectsOverGrpc(ctl('ListVolumes', { starting_token: 'garbage' }), GrpcStatus.ABORTED, /starting_token/);
    await rejectsOverGrpc(ctl('ListVolumes', { max_entries: -1 }), GrpcStatus.INVALID_ARGUMENT);
  });

  it('GetCapacity reports the pool\'s free space and the volume size limits', async () => {
    type Cap = { available_capacity: string; maximum_volume_size: { value: string }; minimum_volume_size: { value: string } };
    const c = await ctl<Cap>('GetCapacity', { volume_capabilities: [MOUNT] });
    assert.ok(Number(c.available_capacity) > 0);
    assert.equal(c.maximum_volume_size.value, String(2 ** 48));
    assert.equal(c.minimum_volume_size.value, '4096');
    const thick = await ctl<Cap>('GetCapacity', { parameters: { thin: 'false' } });
    assert.ok(Number(thick.maximum_volume_size.value) <= Number(thick.available_capacity));
    const none = await ctl<Cap>('GetCapacity', { volume_capabilities: [{ mount: {}, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } }] });
    assert.equal(none.available_capacity, '0');
    await rejectsOverGrpc(ctl('GetCapacity', { parameters: { plugin: 'nope' } }), GrpcStatus.INVALID_ARGUMENT);
  });

  describe('snapshots', () => {
    type Snap = { snapshot: { snapshot_id: string; source_volume_id: string; size_bytes: string; ready_to_use: boolean;
      creation_time: { seconds: string } } };

    it('a volume restored from a snapshot holds the data of the moment the snapshot was cut', async () => {
      const src = (await create('src', { capacity_range: { required_bytes: 8 * MiB } })).volume.volume_id;
      const data = pattern(3 * MiB, 7);
      writeAt(plugin.volumePath(src), MiB, data);
      const s = await ctl<Snap>('CreateSnapshot', { name: 'snap-1', source_volume_id: src });
      assert.equal(s.snapshot.source_volume_id, src);
      assert.equal(s.snapshot.size_bytes, String(8 * MiB));
      assert.equal(s.snapshot.ready_to_use, true);
      assert.ok(Math.abs(Number(s.snapshot.creation_time.seconds) - Date.now() / 1000) < 60);
      assert.deepEqual(await ctl<Snap>('CreateSnapshot', { name: 'snap-1', source_volume_id: src }), s, 'idempotent');
      const method = logs.find((l) => l.msg === 'snapshot created')?.method;
      assert.ok(method === 'reflink' || method === 'copy', `the log says how: ${String(method)}`);

      writeAt(plugin.volumePath(src), MiB, pattern(3 * MiB, 8)); // the source changes after the snapshot
      const restored = await create('restored', {
        capacity_range: { required_bytes: 12 * MiB }, volume_content_source: { snapshot: { snapshot_id: s.snapshot.snapshot_id } },
      });
      const rid = restored.volume.volume_id;
      assert.deepEqual(restored.volume.content_source, { snapshot: { snapshot_id: s.snapshot.snapshot_id }, type: 'snapshot' });
      assert.equal(restored.volume.capacity_bytes, String(12 * MiB), 'grown to the size asked');
      assert.ok(readAt(plugin.volumePath(rid), MiB, 3 * MiB).equals(data), 'the snapshot\'s data, not the source\'s now');
      assert.ok(readAt(plugin.volumePath(rid), 8 * MiB, MiB).equals(Buffer.alloc(MiB)), 'the growth reads as zeros');
      assert.ok(statSync(plugin.volumePath(rid)).blocks * 512 < 6 * MiB, 'the copy stayed sparse');
      // Restoring into something smaller than the snapshot is not possible.
      await rejectsOverGrpc(create('too-small', { capacity_range: { limit_bytes: 4 * MiB },
        volume_content_source: { snapshot: { snapshot_id: s.snapshot.snapshot_id } } }), GrpcStatus.OUT_OF_RANGE, /source is/);
      await rejectsOverGrpc(create('no-snap', { volume_content_source: { snapshot: { snapshot_id: randomUUID() } } }), GrpcStatus.NOT_FOUND);
    });

    it('clones a volume', async () => {
      const src = (await create('clone-src', { capacity_range: { required_bytes: 4 * MiB } })).volume.volume_id;
      writeAt(plugin.volumePath(src), 0, pattern(MiB, 3));
      const c = await create('clone', { capacity_range: { required_bytes: 4 * MiB }, volume_content_source: { volume: { volume_id: src } } });
      assert.ok(readAt(plugin.volumePath(c.volume.volume_id), 0, MiB).equals(pattern(MiB, 3)));
      // A published source can only be cloned by reflink: a copy would not be a point in time.
      await publish(src);
      const fsCanReflink = logs.some((l) => l.msg === 'volume cloned' && l.method === 'reflink');
      const p = create('clone-live', { capacity_range: { required_bytes: 4 * MiB }, volume_content_source: { volume: { volume_id: src } } });
      if (fsCanReflink) await p;
      else await rejectsOverGrpc(p, GrpcStatus.FAILED_PRECONDITION, /cannot reflink/);
    });

    it('errors, listing with filters and pagination, and deletion', async () => {
      const v1 = (await create('s-v1')).volume.volume_id;
      const v2 = (await create('s-v2')).volume.volume_id;
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await ctl<Snap>('CreateSnapshot', { name: `s1-${i}`, source_volume_id: v1 })).snapshot.snapshot_id);
      const other = (await ctl<Snap>('CreateSnapshot', { name: 's2-0', source_volume_id: v2 })).snapshot.snapshot_id;
      await rejectsOverGrpc(ctl('CreateSnapshot', { name: 's1-0', source_volume_id: v2 }), GrpcStatus.ALREADY_EXISTS, /not/);
      await rejectsOverGrpc(ctl('CreateSnapshot', { name: 'x', source_volume_id: randomUUID() }), GrpcStatus.NOT_FOUND);
      await rejectsOverGrpc(ctl('CreateSnapshot', { source_volume_id: v1 }), GrpcStatus.INVALID_ARGUMENT);
      await rejectsOverGrpc(ctl('CreateSnapshot', { name: 'x', source_volume_id: v1, parameters: { speed: 'fast' } }), GrpcStatus.INVALID_ARGUMENT);

      type Page = { entries: { snapshot: { snapshot_id: string; source_volume_id: string } }[]; next_token: string };
      const all = await ctl<Page>('ListSnapshots');
      assert.equal(all.entries.length, 4);
      const byVol = await ctl<Page>('ListSnapshots', { source_volume_id: v1 });
      assert.deepEqual(byVol.entries.map((e) => e.snapshot.snapshot_id), [...ids].sort());
      const one = await ctl<Page>('ListSnapshots', { snapshot_id: other });
      assert.deepEqual(one.entries.map((e) => e.snapshot.source_volume_id), [v2]);
      assert.equal((await ctl<Page>('ListSnapshots', { snapshot_id: randomUUID() })).entries.length, 0);
      const first = await ctl<Page>('ListSnapshots', { source_volume_id: v1, max_entries: 2 });
      assert.equal(first.entries.length, 2);
      const second = await ctl<Page>('ListSnapshots', { source_volume_id: v1, max_entries: 2, starting_token: first.next_token });
      assert.equal(second.entries.length, 1);
      assert.equal(second.next_token, '');
      await rejectsOverGrpc(ctl('ListSnapshots', { starting_token: 'nope' }), GrpcStatus.ABORTED);

      // A snapshot outlives its volume, and deletes idempotently.
      await ctl('DeleteVolume', { volume_id: v2 });
      assert.equal((await ctl<Page>('ListSnapshots', { snapshot_id: other })).entries.length, 1);
      await ctl('DeleteSnapshot', { snapshot_id: other });
      await ctl('DeleteSnapshot', { snapshot_id: other });
      assert.ok(!existsSync(plugin.snapshotPath(other)));
      await rejectsOverGrpc(ctl('DeleteSnapshot', {}), GrpcStatus.INVALID_ARGUMENT);
    });
  });

  it('ControllerExpandVolume grows the file, idempotently', async () => {
    const id = (await create('grow')).volume.volume_id;
    type Exp = { capacity_bytes: string; node_expansion_required: boolean };
    const r = await ctl<Exp>('ControllerExpandVolume', { volume_id: id, capacity_range: { required_bytes: 40 * MiB + 5 } });
    assert.deepEqual(r, { capacity_bytes: String(40 * MiB + 4096), node_expansion_required: true });
    assert.equal(statSync(plugin.volumePath(id)).size, 40 * MiB + 4096);
    assert.deepEqual(await ctl<Exp>('ControllerExpandVolume', { volume_id: id, capacity_range: { required_bytes: 20 * MiB } }),
      { capacity_bytes: String(40 * MiB + 4096), node_expansion_required: true }, 'never shrinks');
    const block = await ctl<Exp>('ControllerExpandVolume', { volume_id: id, capacity_range: { required_bytes: 48 * MiB },
      volume_capability: { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } } });
    assert.equal(block.node_expansion_required, false, 'a block volume has no file system to grow');
    await rejectsOverGrpc(ctl('ControllerExpandVolume', { volume_id: id, capacity_range: { required_bytes: 64 * MiB, limit_bytes: 32 * MiB } }),
      GrpcStatus.OUT_OF_RANGE);
    await rejectsOverGrpc(ctl('ControllerExpandVolume', { volume_id: id, capacity_range: { required_bytes: String(2 ** 49) } }), GrpcStatus.OUT_OF_RANGE);
    await rejectsOverGrpc(ctl('ControllerExpandVolume', { volume_id: randomUUID(), capacity_range: { required_bytes: MiB } }), GrpcStatus.NOT_FOUND);
    await rejectsOverGrpc(ctl('ControllerExpandVolume', { volume_id: id }), GrpcStatus.INVALID_ARGUMENT);
  });

  it('a restarted controller knows its volumes and snapshots', async () => {
    const v = (await create('persist', { parameters: { fsType: 'xfs' } })).volume;
    const s = await ctl<{ snapshot: { snapshot_id: string } }>('CreateSnapshot', { name: 'persist-snap', source_volume_id: v.volume_id });
    client.close();
    await server.close();
    await startController(join(dir, 'pool'));
    assert.deepEqual((await create('persist', { parameters: { fsType: 'xfs' } })).volume, v, 'the same volume, by name');
    type Page = { entries: { snapshot: { snapshot_id: string } }[] };
    assert.deepEqual((await ctl<Page>('ListSnapshots')).entries.map((e) => e.snapshot.snapshot_id), [s.snapshot.snapshot_id]);
    const state = JSON.parse(readFileSync(join(dir, 'pool', 'state.json'), 'utf8')) as { version: number };
    assert.equal(state.version, 1);
  });

  it('logs requests with their secrets redacted', async () => {
    const secret = 'hunter2-do-not-log';
    await create('sec', { secrets: { password: secret } });
    await rejectsOverGrpc(ctl('DeleteVolume', { secrets: { password: secret } }), GrpcStatus.INVALID_ARGUMENT);
    const text = JSON.stringify(logs);
    assert.ok(!text.includes(secret), 'the secret is not in any log entry');
    const failed = logs.find((l) => l.msg === 'rpc failed' && l.method === 'DeleteVolume');
    assert.ok(failed, 'the failure is logged');
    assert.equal((failed.request as { secrets: string }).secrets, REDACTED);
    assert.equal(failed.code, 'INVALID_ARGUMENT');
  });
});
