/**
 * The host role driving its DPU through the OPI storage API (DpuBridgeAttacher), with real
 * peers in this process: a storage target that exports the volume's subsystem, a DPU (a
 * gateway and the OPI bridge over it, with the host function made through OPI), and, for
 * the host's kernel, the project's own NVMe host connected once to the host function, whose
 * namespaces are mirrored into a fake sysfs as the kernel would show them. So a disk
 * appears only when the DPU really hot-added a namespace with the volume's NGUID. A volume
 * that requires TLS is exported by the storage target on a secure channel only, for the host's
 * PSK: the DPU reaches it only with the PSK the host put in its remote controller. A volume
 * published through a gateway group is exported on a second listener too, and a path to a
 * port nothing listens on stands for a gateway that is down.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufferPool, Gateway, OpiBridge, Target, nvmf, opiClient, type OpiClient } from '../../lib';
import { CsiError, CsiLogger, deriveTlsPsk, DpuBridgeAttacher, dpuResourceId, GrpcStatus, volumeNqn, type HostFunction, type PublishContext,
  type PublishPath } from '../../lib/csi';
import { socketGatewayRpc, type GatewayRpc } from '../../lib/csi/export';
import { aioFunctionIds } from '../../lib/csi/attachers/disk-ids';
import type { LogEntry } from '../../lib/log/logger';
import { FakeKernelAttacher } from './fake-kernel-attacher';

const VOLUME_ID = '3f2a1b4c-5d6e-4f70-8192-a3b4c5d6e7f8';
const NGUID = VOLUME_ID.replace(/-/g, '');
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-00000000d0d0';
const FUNCTION_NQN = 'nqn.2019-06.io.rdmagate:dpu-host-function';
/** A volume that requires TLS, and the PSK the node derives for it. */
const TLS_VOLUME_ID = '6c1d2e3f-4a5b-4c6d-8e7f-a0b1c2d3e4f5';
const TLS_PSK = deriveTlsPsk('the StorageClass Secret\'s tls-master-secret, 32 bytes and more', TLS_VOLUME_ID, HOSTNQN);

let nextPort = 21000 + Math.floor(Math.random() * 8000);

type HostController = Awaited<ReturnType<typeof nvmf.connect>>;

/** A local port nothing listens on: a gateway of the group that is down. */
async function deadPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return String(port);
}

describe('CSI host role driving its DPU through the OPI bridge (DpuBridgeAttacher)', function () {
  this.timeout(60000);
  let dir: string;
  let storage: Target;
  let storagePort: number;
  /** The volume's second listener: another gateway of its group. */
  let storagePort2: number;
  let securePort: number;
  let gateway: Gateway;
  let rpc: GatewayRpc;
  let bridge: OpiBridge;
  let opi: OpiClient;
  let host: HostController | undefined;
  let connects = 0;
  let dpuKernel: FakeKernelAttacher;
  let logs: LogEntry[];
  const pool = new BufferPool({ chunkSize: 64 * 1024 });

  /**
   * What the host's kernel shows of the function's namespaces: /sys/block/nvme0nN with its ids
   * and size, changed in place (as sysfs is) while the attacher may be reading it.
   */
  function mirror(c: HostController): void {
    const block = join(dir, 'sys', 'block');
    mkdirSync(block, { recursive: true });
    const shown = new Set(c.namespaces.map((n) => `nvme0n${n.nsid}`));
    for (const name of readdirSync(block)) if (!shown.has(name)) rmSync(join(block, name), { recursive: true, force: true });
    const put = (path: string, text: string) => {
      if (!existsSync(path) || readFileSync(path, 'utf8') !== text) writeFileSync(path, text);
    };
    for (const n of c.namespaces) {
      const name = `nvme0n${n.nsid}`;
      mkdirSync(join(block, name), { recursive: true });
      put(join(block, name, 'nguid'), `${n.nguid}\n`);
      put(join(block, name, 'uuid'), `${n.uuid}\n`);
      put(join(block, name, 'size'), `${n.size / 512}\n`);
      put(join(dir, 'dev', name), '');
    }
  }

  async function connectHost(fn: HostFunction): Promise<void> {
    ++connects;
    if (host) return;
    host = await nvmf.connect({ traddr: fn.traddr, trsvcid: Number(fn.trsvcid), subnqn: fn.nqn, hostnqn: HOSTNQN });
    const c = host;
    mirror(c);
    c.on('namespacesChanged', () => mirror(c));
  }

  const attacher = (opts: { opi?: OpiClient } = {}) => new DpuBridgeAttacher({ opi: opts.opi ?? opi, connect: connectHost,
    log: new CsiLogger((e) => logs.push(e)), disks: { sysfsRoot: join(dir, 'sys'), devRoot: join(dir, 'dev'), deviceTimeoutMs: 10000, pollMs: 20 } });

  const ctx = (): PublishContext => ({ transport: 'tcp', traddr: '127.0.0.1', trsvcid: String(storagePort), subnqn: volumeNqn(VOLUME_ID),
    uuid: VOLUME_ID, nguid: NGUID });

  /** The volume as a gateway group publishes it: the first path is the optimized one, and traddr/trsvcid. */
  const groupCtx = (ports: string[]): PublishContext => {
    const paths: PublishPath[] = ports.map((trsvcid) => ({ traddr: '127.0.0.1', trsvcid }));
    return { ...ctx(), traddr: paths[0]!.traddr, trsvcid: paths[0]!.trsvcid, paths };
  };

  async function startBridge(statePath: string): Promise<void> {
    bridge = new OpiBridge({ rpc, statePath, listen: '127.0.0.1:0', log: () => undefined, kernel: dpuKernel });
    await bridge.start();
    opi = opiClient(bridge.address!);
  }

  before(() => {
    // The storage side: the volume's subsystem, as the storage gateway exports it.
    storage = new Target({ reactors: 1 });
    storage.createBdev({ type: 'malloc', name: 'vol', sizeBytes: 8 << 20 });
    storage.addSubsystem({ nqn: volumeNqn(VOLUME_ID) }).addNamespace({ bdev: 'vol', nsid: 1, uuid: VOLUME_ID, nguid: NGUID });
    storagePort = storage.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
    storagePort2 = storage.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
    // The TLS volume: its host allowed with its PSK, on a listener that takes TLS only.
    storage.createBdev({ type: 'malloc', name: 'tlsvol', sizeBytes: 8 << 20 });
    storage.addSubsystem({ nqn: volumeNqn(TLS_VOLUME_ID), allowAnyHost: false, hosts: [{ nqn: HOSTNQN, psk: TLS_PSK }] })
      .addNamespace({ bdev: 'tlsvol', nsid: 1, uuid: TLS_VOLUME_ID, nguid: TLS_VOLUME_ID.replace(/-/g, '') });
    securePort = storage.listen({ transport: 'tcp', address: '127.0.0.1', port: 0, secureChannel: true }).port;
  });

  after(() => storage.closeSync());

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-dpu-host-'));
    mkdirSync(join(dir, 'dev'));
    gateway = new Gateway({ socketPath: join(dir, 'dpu.sock'), configPath: null, log: () => undefined });
    await gateway.start();
    rpc = socketGatewayRpc(gateway.socketPath!);
    dpuKernel = new FakeKernelAttacher(dir, 4 << 20);
    await startBridge(join(dir, 'opi.json'));
    // The host function, made through OPI as `rdmagate dpu` makes it.
    await opi.call('FrontendNvmeService', 'CreateNvmeSubsystem', { nvme_subsystem_id: 'host-function',
      nvme_subsystem: { spec: { nqn: FUNCTION_NQN, max_namespaces: 256 } } });
    await opi.call('FrontendNvmeService', 'CreateNvmeController', { parent: 'nvmeSubsystems/host-function', nvme_controller_id: 'host-function-0',
      nvme_controller: { spec: { trtype: 'NVME_TRANSPORT_TYPE_TCP',
        fabrics_id: { traddr: '127.0.0.1', trsvcid: String(nextPort++), adrfam: 'NVME_ADDRESS_FAMILY_IPV4' } } } });
    connects = 0;
    logs = [];
  });

  afterEach(async () => {
    await host?.close();
    host = undefined;
    opi?.close();
    await bridge?.close();
    await gateway?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function gatewayHolds(): Promise<{ controllers: string[]; bdevs: string[]; namespaces: string[] }> {
    const ctrls = (await rpc.call('bdev_nvme_get_controllers')) as { name: string }[];
    const bdevs = (await rpc.call('bdev_get_bdevs')) as { name: string }[];
    const [sub] = (await rpc.call('nvmf_get_subsystems', { nqn: FUNCTION_NQN })) as { namespaces?: { nguid: string }[] }[];
    return { controllers: ctrls.map((c) => c.name), bdevs: bdevs.map((b) => b.name),
      namespaces: (sub.namespaces ?? []).map((n) => n.nguid.toLowerCase()) };
  }

  it('stages over NVMe-oF: the DPU connects to the storage, the host sees the namespace appear, I/O reaches the storage; unstage takes it all back', async () => {
    const a = attacher();
    await a.probe();
    assert.ok(host, 'the host connected to its function at start');
    assert.equal(host.namespaces.length, 0, 'nothing behind the function yet');

    const dev = await a.attach(ctx(), {}, HOSTNQN, { connectionMode: 'nvmf' });
    assert.equal(dev, join(dir, 'dev', 'nvme0n1'));
    const id = dpuResourceId(VOLUME_ID);
    assert.deepEqual(await gatewayHolds(), { controllers: [id], bdevs: [`${id}n1`], namespaces: [NGUID] });
    assert.deepEqual(host.namespaces.map((n) => [n.nsid, n.nguid, n.uuid]), [[1, NGUID, VOLUME_ID]]);
    assert.equal(await a.attach(ctx(), {}, HOSTNQN, { connectionMode: 'nvmf' }), dev, 'a retried stage finds what is there');
    assert.deepEqual((await gatewayHolds()).controllers, [id]);
    assert.equal(connects, 1, 'the host connects to its function once, not per volume');

    // A block written by the host lands on the storage target, through the DPU.
    const w = pool.acquire();
    const r = pool.acquire();
    w.fill(0x5a);
    await host.queuePairs[0].write(1, 16, 8, w);
    const direct = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: storagePort, subnqn: volumeNqn(VOLUME_ID), hostnqn: HOSTNQN });
    try {
      await direct.queuePairs[0].read(1, 16, 8, r);
      assert.ok(Buffer.from(r.buffer, r.byteOffset, 4096).equals(Buffer.alloc(4096, 0x5a)));
    } finally {
      await direct.close();
      w.release();
      r.release();
    }

    await a.detach(VOLUME_ID);
    assert.deepEqual(await gatewayHolds(), { controllers: [], bdevs: [], namespaces: [] });
    await a.detach(VOLUME_ID);  // idempotent
    const lists = await Promise.all([
      opi.call<{ nvme_remote_controllers: unknown[] }>('NvmeRemoteControllerService', 'ListNvmeRemoteControllers', {}),
      opi.call<{ nvme_namespaces: unknown[] }>('FrontendNvmeService', 'ListNvmeNamespaces', { parent: 'nvmeSubsystems/host-function' }),
    ]);
    assert.deepEqual([lists[0].nvme_remote_controllers, lists[1].nvme_namespaces], [[], []]);
    assert.equal(await a.device(VOLUME_ID), undefined);
  });

  it('stages a volume that requires TLS over NVMe-oF: the DPU\'s remote controller connects with the host\'s PSK; I/O reaches the storage', async () => {
    const a = attacher();
    await a.probe();
    const tlsCtx: PublishContext = { transport: 'tcp', traddr: '127.0.0.1', trsvcid: String(securePort), subnqn: volumeNqn(TLS_VOLUME_ID),
      uuid: TLS_VOLUME_ID, nguid: TLS_VOLUME_ID.replace(/-/g, '') };
    const id = dpuResourceId(TLS_VOLUME_ID);
    const dev = await a.attach(tlsCtx, {}, HOSTNQN, { connectionMode: 'nvmf', psk: TLS_PSK });
    assert.equal(dev, join(dir, 'dev', 'nvme0n1'));
    assert.deepEqual((await gatewayHolds()).controllers, [id], 'the DPU attached the storage over TLS');
    assert.equal(await a.attach(tlsCtx, {}, HOSTNQN, { connectionMode: 'nvmf', psk: TLS_PSK }), dev, 'a retried stage finds what is there');
    const keys = (await rpc.call('keyring_get_keys')) as { name: string }[];
    assert.equal(keys.length, 1, 'the PSK in the DPU gateway\'s keyring');

    const w = pool.acquire();
    const r = pool.acquire();
    w.fill(0x3c);
    await host!.queuePairs[0].write(1, 8, 8, w);
    const direct = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: securePort, subnqn: volumeNqn(TLS_VOLUME_ID), hostnqn: HOSTNQN, psk: TLS_PSK });
    try {
      await direct.queuePairs[0].read(1, 8, 8, r);
      assert.ok(Buffer.from(r.buffer, r.byteOffset, 4096).equals(Buffer.alloc(4096, 0x3c)));
    } finally {
      await direct.close();
      w.release();
      r.release();
    }
    await a.detach(TLS_VOLUME_ID);
    assert.deepEqual(await gatewayHolds(), { controllers: [], bdevs: [], namespaces: [] });
    assert.deepEqual(await rpc.call('keyring_get_keys'), [], 'the PSK went with the controller');
    // Without the PSK the DPU cannot reach the volume at all.
    await assert.rejects(a.attach(tlsCtx, {}, HOSTNQN, { connectionMode: 'nvmf' }), (e: unknown) =>
      e instanceof CsiError && e.grpcCode === GrpcStatus.UNAVAILABLE);
    await a.detach(TLS_VOLUME_ID);
  });

  /** The DPU's paths of the volume's remote controller, as OPI lists them. */
  async function pathsOf(id: string): Promise<{ name: string; trtype: string; traddr: string; trsvcid: string }[]> {
    const r = await opi.call<{ nvme_paths: { name: string; trtype: string; traddr: string; fabrics: { trsvcid: number | string; subnqn: string; hostnqn: string } }[] }>(
      'NvmeRemoteControllerService', 'ListNvmePaths', { parent: `nvmeRemoteControllers/${id}` });
    for (const p of r.nvme_paths) assert.deepEqual([p.fabrics.subnqn, p.fabrics.hostnqn], [volumeNqn(VOLUME_ID), HOSTNQN]);
    // trsvcid is an int64 in OPI's proto: the client answers it as a string.
    return r.nvme_paths.map((p) => ({ name: p.name, trtype: p.trtype, traddr: p.traddr, trsvcid: String(p.fabrics.trsvcid) }));
  }

  /** The port the DPU gateway's controller of the volume is attached through: its active path's. */
  async function activePort(id: string): Promise<string | undefined> {
    const ctrls = (await rpc.call('bdev_nvme_get_controllers', { name: id })) as { ctrlrs: { trid: { trsvcid: string } }[] }[];
    return ctrls[0]?.ctrlrs[0]?.trid.trsvcid;
  }

  it('stages a volume of a gateway group over NVMe-oF: one NvmePath per path, in order, the first active; unstage deletes them all', async () => {
    const a = attacher();
    await a.probe();
    const group = groupCtx([String(storagePort), String(storagePort2)]);
    const dev = await a.attach(group, {}, HOSTNQN, { connectionMode: 'nvmf' });
    assert.equal(dev, join(dir, 'dev', 'nvme0n1'));
    const id = dpuResourceId(VOLUME_ID);
    const expected = [
      { name: `nvmeRemoteControllers/${id}/nvmePaths/path0`, trtype: 'NVME_TRANSPORT_TYPE_TCP', traddr: '127.0.0.1', trsvcid: String(storagePort) },
      { name: `nvmeRemoteControllers/${id}/nvmePaths/path1`, trtype: 'NVME_TRANSPORT_TYPE_TCP', traddr: '127.0.0.1', trsvcid: String(storagePort2) },
    ];
    assert.deepEqual(await pathsOf(id), expected);
    assert.equal(await activePort(id), String(storagePort), 'the DPU attached through the first path; the second is a standby');
    assert.deepEqual(await gatewayHolds(), { controllers: [id], bdevs: [`${id}n1`], namespaces: [NGUID] });
    assert.equal(logs.filter((l) => l.level === 'warn').length, 0);

    assert.equal(await a.attach(group, {}, HOSTNQN, { connectionMode: 'nvmf' }), dev, 'a retried stage finds what is there');
    assert.deepEqual(await pathsOf(id), expected);

    await a.detach(VOLUME_ID);
    assert.deepEqual(await gatewayHolds(), { controllers: [], bdevs: [], namespaces: [] });
    const { nvme_remote_controllers } = await opi.call<{ nvme_remote_controllers: unknown[] }>('NvmeRemoteControllerService',
      'ListNvmeRemoteControllers', {});
    assert.deepEqual(nvme_remote_controllers, [], 'every path went, then the controller');
  });

  it('stages a volume of a gateway group whose first gateway is down through the second, with a warning naming the first', async () => {
    const a = attacher();
    await a.probe();
    const down = await deadPort();
    const group = groupCtx([down, String(storagePort2)]);
    const dev = await a.attach(group, {}, HOSTNQN, { connectionMode: 'nvmf' });
    assert.equal(dev, join(dir, 'dev', 'nvme0n1'));
    const id = dpuResourceId(VOLUME_ID);
    const onlySecond = [{ name: `nvmeRemoteControllers/${id}/nvmePaths/path1`, trtype: 'NVME_TRANSPORT_TYPE_TCP', traddr: '127.0.0.1',
      trsvcid: String(storagePort2) }];
    assert.deepEqual(await pathsOf(id), onlySecond);
    assert.equal(await activePort(id), String(storagePort2));
    const warnings = logs.filter((l) => l.level === 'warn');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.msg, /could not make a path/);
    assert.deepEqual([warnings[0]!.traddr, warnings[0]!.trsvcid, warnings[0]!.subnqn], ['127.0.0.1', down, volumeNqn(VOLUME_ID)]);

    // Retried with the controller attached, the first path is made as a standby: the bridge
    // records a standby without connecting it, so the gateway's return makes it a failover target.
    assert.equal(await a.attach(group, {}, HOSTNQN, { connectionMode: 'nvmf' }), dev, 'a retried stage, the gateway still down, succeeds');
    assert.deepEqual(await pathsOf(id), [...onlySecond, { name: `nvmeRemoteControllers/${id}/nvmePaths/path0`, trtype: 'NVME_TRANSPORT_TYPE_TCP',
      traddr: '127.0.0.1', trsvcid: down }]);
    assert.equal(await activePort(id), String(storagePort2), 'still active through the second');
    // Unstage takes the standby before the active path: the controller never moves onto the gateway that is down.
    await a.detach(VOLUME_ID);
    assert.deepEqual(await gatewayHolds(), { controllers: [], bdevs: [], namespaces: [] });
  });

  it('fails a stage whose every path is down, naming each, with the first path\'s status; nothing is attached', async () => {
    const a = attacher();
    await a.probe();
    const [down1, down2] = [await deadPort(), await deadPort()];
    // One path: the bridge's own answer, as before gateway groups.
    await assert.rejects(a.attach(groupCtx([down1]), {}, HOSTNQN, { connectionMode: 'nvmf' }), (e: unknown) =>
      e instanceof CsiError && e.grpcCode === GrpcStatus.UNAVAILABLE && /CreateNvmePath: .*Connection refused/.test(e.message));
    await assert.rejects(a.attach(groupCtx([down1, down2]), {}, HOSTNQN, { connectionMode: 'nvmf' }), (e: unknown) =>
      e instanceof CsiError && e.grpcCode === GrpcStatus.UNAVAILABLE && /^the DPU could make no path of /.test(e.message)
        && e.message.includes(`127.0.0.1:${down1}: `) && e.message.includes(`127.0.0.1:${down2}: `));
    const id = dpuResourceId(VOLUME_ID);
    assert.deepEqual(await pathsOf(id), []);
    assert.deepEqual(await gatewayHolds(), { controllers: [], bdevs: [], namespaces: [] });
    await a.detach(VOLUME_ID);
    const { nvme_remote_controllers } = await opi.call<{ nvme_remote_controllers: unknown[] }>('NvmeRemoteControllerService',
      'ListNvmeRemoteControllers', {});
    assert.deepEqual(nvme_remote_controllers, []);
  });

  it('stages in AIO mode: the DPU\'s kernel host connects, its block device is an AIO volume behind the function; it grows and goes', async () => {
    const a = attacher();
    await a.probe();
    const dev = await a.attach(ctx(), { ctrl_loss_tmo: 30 }, HOSTNQN, { connectionMode: 'aio' });
    assert.equal(dev, join(dir, 'dev', 'nvme0n1'));
    const [conn] = [...dpuKernel.connected.values()];
    assert.deepEqual([conn.ctx.subnqn, conn.hostnqn, conn.tuning.ctrl_loss_tmo], [volumeNqn(VOLUME_ID), HOSTNQN, 30],
      'the DPU connected with the host\'s NQN and the StorageClass\'s tuning');
    const id = dpuResourceId(VOLUME_ID);
    // The function's namespace is the DPU's block device: ids of its own, derived from the volume's.
    const own = aioFunctionIds({ nguid: NGUID });
    assert.notEqual(own.nguid, NGUID);
    assert.deepEqual(await gatewayHolds(), { controllers: [], bdevs: [id], namespaces: [own.nguid] });
    assert.deepEqual(host!.namespaces.map((n) => [n.nguid, (n.uuid ?? '').replace(/-/g, '')]), [[own.nguid, own.uuid]]);
    assert.match(host!.namespaces[0].uuid ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a version 8 UUID');
    assert.equal(await a.attach(ctx(), {}, HOSTNQN, { connectionMode: 'aio' }), dev, 'a retried stage finds what is there');
    assert.equal(dpuKernel.connects, 1);
    assert.equal(await attacher().device(VOLUME_ID), dev, 'a node plugin restarted finds the disk by the derived ids');

    // The DPU's device grows in the background: the AIO volume takes the size, the host learns
    // it by the notice, and rescan answers once the host's disk shows it.
    dpuKernel.growTo = { bytes: 8 << 20, afterMs: 300 };
    await a.rescan(VOLUME_ID, 8 << 20);
    assert.equal(host!.namespaces[0].size, 8 << 20);
    assert.equal(readFileSync(join(dir, 'sys', 'block', 'nvme0n1', 'size'), 'utf8'), `${(8 << 20) / 512}\n`);
    // Without the size to reach (a CO that sends no capacity_range), the AIO volume's new size is waited for.
    dpuKernel.growTo = { bytes: 12 << 20, afterMs: 300 };
    await a.rescan(VOLUME_ID);
    assert.equal(readFileSync(join(dir, 'sys', 'block', 'nvme0n1', 'size'), 'utf8'), `${(12 << 20) / 512}\n`);

    await a.detach(VOLUME_ID);
    assert.deepEqual(await gatewayHolds(), { controllers: [], bdevs: [], namespaces: [] });
    assert.equal(dpuKernel.connected.size, 0, 'the DPU\'s kernel host disconnected');
    await a.detach(VOLUME_ID);
  });

  it('a stage retried after it died between the DPU\'s path and its namespace converges', async () => {
    const id = dpuResourceId(VOLUME_ID);
    await opi.call('NvmeRemoteControllerService', 'CreateNvmeRemoteController', { nvme_remote_controller_id: id,
      nvme_remote_controller: { multipath: 'NVME_MULTIPATH_FAILOVER' } });
    await opi.call('NvmeRemoteControllerService', 'CreateNvmePath', { parent: `nvmeRemoteControllers/${id}`, nvme_path_id: 'path0',
      nvme_path: { trtype: 'NVME_TRANSPORT_TYPE_TCP', traddr: '127.0.0.1',
        fabrics: { trsvcid: storagePort, subnqn: volumeNqn(VOLUME_ID), hostnqn: HOSTNQN, adrfam: 'NVME_ADDRESS_FAMILY_IPV4' } } });
    const a = attacher();
    await a.probe();
    assert.equal(await a.attach(ctx(), {}, HOSTNQN, { connectionMode: 'nvmf' }), join(dir, 'dev', 'nvme0n1'));
    assert.deepEqual(await gatewayHolds(), { controllers: [id], bdevs: [`${id}n1`], namespaces: [NGUID] });
    await a.detach(VOLUME_ID);
  });

  it('unstages after the bridge restarted between stage and unstage', async () => {
    const a = attacher();
    await a.probe();
    await a.attach(ctx(), {}, HOSTNQN, { connectionMode: 'nvmf' });
    opi.close();
    await bridge.close();
    await startBridge(join(dir, 'opi.json'));
    const b = attacher();  // a node plugin restarted too: nothing remembered in memory
    await b.probe();
    assert.equal(await b.device(VOLUME_ID), join(dir, 'dev', 'nvme0n1'));
    await b.detach(VOLUME_ID);
    assert.deepEqual(await gatewayHolds(), { controllers: [], bdevs: [], namespaces: [] });
  });

  it('answers UNAVAILABLE while the DPU\'s bridge is down, and FAILED_PRECONDITION when it offers no host function', async () => {
    const down = opiClient('127.0.0.1:1');
    try {
      await assert.rejects(attacher({ opi: down }).probe(), (e: unknown) => e instanceof CsiError && e.grpcCode === GrpcStatus.UNAVAILABLE);
    } finally {
      down.close();
    }
    await opi.call('FrontendNvmeService', 'DeleteNvmeController', { name: 'nvmeSubsystems/host-function/nvmeControllers/host-function-0' });
    await assert.rejects(attacher().attach(ctx(), {}, HOSTNQN), (e: unknown) =>
      e instanceof CsiError && e.grpcCode === GrpcStatus.FAILED_PRECONDITION && /no subsystem with a fabrics controller/.test(e.message));
    assert.deepEqual((await gatewayHolds()).controllers, [], 'nothing was made for the volume');
  });
});
