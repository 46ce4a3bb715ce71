/**
 * The DPU path end to end in the lab guest, three machines:
 *
 *   storage  the CSI controller and the storage gateway (in this process), exporting each
 *            volume over NVMe/RDMA on Soft-RoCE (rxe0, 192.168.77.1); volumes of the local
 *            plugin, and of the mayastor plugin against Mayastor stood in for (its REST control
 *            plane faked, its nexus a kernel nvmet-tcp subsystem the gateway reads through);
 *   DPU      `rdmagate dpu` (a child process): its gateway and the OPI bridge over it, the
 *            host function on NVMe/TCP on the host's link (10.77.0.1), its backends over
 *            NVMe/RDMA from rxe1;
 *   host     a network namespace of its own whose only link is a veth to the DPU
 *            (10.77.0.2): the CSI node plugin of role host (`rdmagate csi`, a child process
 *            in that namespace) connects the kernel's NVMe/TCP host to the host function
 *            once, and drives the DPU by OPI over the same link. From there the storage
 *            cannot even be reached.
 *
 * Through the CSI gRPC API: CreateVolume, ControllerPublishVolume, NodeStageVolume (the host
 * asks its DPU, and waits for the disk the DPU hot-adds), NodePublishVolume, fio with verify
 * on the mounted file system, online ControllerExpandVolume + NodeExpandVolume (the notice
 * travels storage gateway → DPU backend → host function → the host's kernel), unstage,
 * unpublish, delete; nothing is left behind. Faults: the DPU's backend path dropped and
 * restored under fio, the whole DPU restarted between stage and unstage (the host's I/O
 * waits, as for a PCIe function), a stage retried after the DPU died halfway, and a volume
 * of a gateway group whose gateway in use is closed under fio (the DPU fails over).
 *
 * Both connection modes: nvmf (the DPU's own engine reaches the storage over NVMe/RDMA) and
 * aio (the DPU's kernel host does, and its block device is an AIO volume behind the
 * function). In one guest the DPU's kernel and the host's are one kernel; it takes both
 * namespaces of an aio volume because the function's carries ids of its own.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statfsSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Gateway, opiClient, rdma, type JsonObject, type JsonValue, type OpiClient } from '../../lib';
import { ControllerService, CsiClient, CsiLogger, CsiServer, dpuResourceId, IdentityService, LocalPlugin,
  NvmfExporter, socketGatewayRpc, volumeNqn, type GatewayRpc } from '../../lib/csi';
import type { MayastorFakeServer } from '../support/mayastor-fake-server';
import { closeFakeMayastor, openMayastorPlugin, startFakeMayastor } from '../support/mayastor-fixture';
import { startKernelTarget, type KernelTarget } from './kernel-nvmet';
import { startLabGroup } from './csi-group';
import { until } from '../rdma/helpers';
import { controllersOf, fio, fioAcrossRestart, inLab, run, sleep, tryRun } from './helpers';

const MAIN = resolve(__dirname, '../../lib/cli/main.js');
const STORAGE_RDMA = '192.168.77.1';
const FUNCTION_NQN = 'nqn.2019-06.io.rdmagate:dpu-host-function';
/** The host's link to its DPU: the DPU's end in this namespace, the host's in HOST_NETNS. */
const HOST_NETNS = 'rg-host';
const DPU_LINK = '10.77.0.1';
const HOST_LINK = '10.77.0.2';
const OPI = `${DPU_LINK}:50071`;
const HOST_FACING = { traddr: DPU_LINK, trsvcid: 4470 };
/** Where the Mayastor stand-in's nexuses (kernel nvmet-tcp) listen. */
const NEXUS_PORT = 4490;
const MiB = 1 << 20;

describe('the DPU path: a host\'s volume through its DPU, configured by OPI (lab)', function () {
  this.timeout(900000);
  const dir = join(tmpdir(), 'rdmagate-dpu-lab');
  let storage: Gateway;
  let storageRpc: GatewayRpc;
  let dpu: ChildProcess | undefined;
  let dpuLog = '';
  let opi: OpiClient;
  let controllerServer: CsiServer;
  let nodePlugin: ChildProcess | undefined;
  let nodeLog = '';
  let ctl: CsiClient;
  let node: CsiClient;
  let nodeId: string;
  let mayastor: MayastorFakeServer;
  /** The Mayastor stand-in's published nexuses: kernel nvmet-tcp subsystems, by NQN. */
  const nexuses = new Map<string, KernelTarget>();

  /** A network namespace for the host, whose one link is a veth pair to the DPU's side. */
  function hostLink(): void {
    tryRun('ip', ['netns', 'del', HOST_NETNS]);
    for (const args of [
      ['netns', 'add', HOST_NETNS],
      ['link', 'add', 'rg-dpu0', 'type', 'veth', 'peer', 'name', 'rg-host0'],
      ['link', 'set', 'rg-host0', 'netns', HOST_NETNS],
      ['addr', 'add', `${DPU_LINK}/24`, 'dev', 'rg-dpu0'],
      ['link', 'set', 'rg-dpu0', 'up'],
      ['-n', HOST_NETNS, 'addr', 'add', `${HOST_LINK}/24`, 'dev', 'rg-host0'],
      ['-n', HOST_NETNS, 'link', 'set', 'rg-host0', 'up'],
      ['-n', HOST_NETNS, 'link', 'set', 'lo', 'up'],
    ]) run('ip', args);
    const unreachable = tryRun('ip', ['-n', HOST_NETNS, 'route', 'get', STORAGE_RDMA]);
    assert.notEqual(unreachable.status, 0, 'the host has no route to the storage');
  }

  /** `rdmagate dpu`, until it says it is ready (on stdout; its log goes to stderr). */
  async function startDpu(): Promise<void> {
    const child = spawn(process.execPath, [MAIN, 'dpu', '--state-dir', join(dir, 'dpu'), '--gateway-socket', join(dir, 'dpu.sock'),
      '--opi-listen', OPI, '--host-facing', `tcp:${HOST_FACING.traddr}:${HOST_FACING.trsvcid}`, '--rdma-device', 'rxe1'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    dpu = child;
    child.stderr!.on('data', (d: Buffer) => { dpuLog += d; });
    await new Promise<void>((res, rej) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d;
        if (out.includes('dpu ready')) res();
      });
      child.once('exit', (code) => rej(new Error(`rdmagate dpu exited ${code}: ${dpuLog}`)));
    });
  }

  async function stopDpu(): Promise<void> {
    const child = dpu;
    dpu = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }

  /** What the DPU's gateway holds for volumes: backends, bdevs, and the host function's namespaces. */
  async function dpuHolds(): Promise<{ controllers: number; bdevs: number; namespaces: number }> {
    const rpc = socketGatewayRpc(join(dir, 'dpu.sock'));
    const ctrls = (await rpc.call('bdev_nvme_get_controllers')) as unknown[];
    const bdevs = (await rpc.call('bdev_get_bdevs')) as unknown[];
    const [sub] = (await rpc.call('nvmf_get_subsystems', { nqn: FUNCTION_NQN })) as { namespaces?: unknown[] }[];
    return { controllers: ctrls.length, bdevs: bdevs.length, namespaces: sub.namespaces?.length ?? 0 };
  }

  before(async function () {
    if (!inLab()) this.skip();
    const active = rdma.devices().filter((d) => d.ports.some((p) => p.state === 'active')).map((d) => d.name);
    assert.ok(active.includes('rxe0') && active.includes('rxe1'), `Soft-RoCE rxe0 and rxe1 are up (active: ${active.join(', ')})`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const log = new CsiLogger((e) => { if (e.level !== 'debug') process.stderr.write(JSON.stringify(e) + '\n'); });

    // Storage: the controller and its gateway.
    storage = new Gateway({ socketPath: null, configPath: null, log: () => undefined, target: { reactors: 2 } });
    await storage.start();
    storageRpc = { call: (method: string, params?: JsonObject): Promise<JsonValue> => storage.rpc(method, params) };
    const plugin = new LocalPlugin({ poolDir: join(dir, 'pool'), log });
    await plugin.open();
    // Mayastor, stood in for: its REST control plane (a fake), whose nexus for a published
    // volume is a kernel nvmet-tcp subsystem over a file of the volume's size.
    mayastor = await startFakeMayastor();
    mayastor.targetAddress = `127.0.0.1:${NEXUS_PORT}`;
    mayastor.nexus = {
      publish(nqn, bytes) {
        const file = join(dir, `${nqn.replace(/[^A-Za-z0-9-]/g, '_')}.img`);
        writeFileSync(file, '');
        truncateSync(file, bytes);
        nexuses.set(nqn, startKernelTarget({ nqn, device: file, port: NEXUS_PORT, portId: 30, bufferedIo: true }));
      },
      unpublish(nqn) {
        nexuses.get(nqn)?.close();
        nexuses.delete(nqn);
      },
    };
    const mayastorPlugin = await openMayastorPlugin(mayastor.url, join(dir, 'mayastor'), log);
    const exporter = new NvmfExporter({ rpc: storageRpc, tcp: { traddr: '127.0.0.1', trsvcid: 4460 }, rdma: { traddr: STORAGE_RDMA, trsvcid: 4461 } });
    controllerServer = await CsiServer.start({ endpoint: `unix://${dir}/controller.sock`, log, services: {
      Identity: new IdentityService({ controller: true }).handlers(),
      Controller: new ControllerService({ plugins: [plugin, mayastorPlugin], exporter, log }).handlers() } });

    // The host's link to its DPU, the DPU, then the host's node plugin on the host's side of
    // the link, which connects the host's kernel to its function as it starts.
    hostLink();
    await startDpu();
    opi = opiClient(OPI);
    const sock = join(dir, 'node.sock');
    nodePlugin = spawn('nsenter', [`--net=/run/netns/${HOST_NETNS}`, process.execPath, MAIN, 'csi', '--role', 'host',
      '--endpoint', `unix://${sock}`, '--dpu-endpoint', OPI], { stdio: ['ignore', 'ignore', 'pipe'] });
    nodePlugin.stderr!.on('data', (d: Buffer) => { nodeLog += d; });
    // The socket file appears at bind(), a moment before the plugin listens: wait for its word.
    await until(() => (existsSync(sock) && nodeLog.includes('"msg":"csi listening"')) || nodePlugin!.exitCode !== null,
      'the node plugin to listen', 60000);
    assert.equal(nodePlugin.exitCode, null, nodeLog);
    assert.match(nodeLog, /connected to the DPU host function/);
    const [fn] = controllersOf(FUNCTION_NQN);
    assert.ok(fn, 'the host\'s kernel is connected to its DPU\'s function');
    assert.match(readFileSync(`/sys/class/nvme/${fn}/address`, 'utf8'), new RegExp(`traddr=${DPU_LINK.replace(/\./g, '\\.')},trsvcid=${HOST_FACING.trsvcid}`));
    ctl = new CsiClient(`unix://${dir}/controller.sock`);
    node = new CsiClient(`unix://${sock}`);
    assert.deepEqual(await node.call('Identity', 'Probe'), { ready: { value: true } });
    nodeId = (await node.call<{ node_id: string }>('Node', 'NodeGetInfo')).node_id;
  });

  after(async () => {
    ctl?.close();
    node?.close();
    opi?.close();
    if (nodePlugin && nodePlugin.exitCode === null) {
      const exited = new Promise((r) => nodePlugin!.once('exit', r));
      nodePlugin.kill('SIGTERM');
      await exited;
    }
    await controllerServer?.close();
    tryRun('nvme', ['disconnect', '-n', FUNCTION_NQN]);
    await stopDpu();
    tryRun('ip', ['netns', 'del', HOST_NETNS]);
    await storage?.close();
    for (const nexus of nexuses.values()) nexus.close();
    if (mayastor) assert.deepEqual(await closeFakeMayastor(mayastor), [], 'the Mayastor REST exchanges follow its spec');
    if (process.env.RDMAGATE_LAB_VERBOSE) process.stderr.write(dpuLog + nodeLog);
  });

  type Cap = { mount: { fs_type: string }; access_mode: { mode: string } };
  const cap: Cap = { mount: { fs_type: 'ext4' }, access_mode: { mode: 'SINGLE_NODE_WRITER' } };

  async function createAndPublish(name: string, bytes: number, plugin: Record<string, string> = {}):
      Promise<{ id: string; stage: JsonObject; target: string }> {
    const params = { transport: 'rdma', fsType: 'ext4', connectionMode: 'nvmf', ...plugin };
    const r = await ctl.call<{ volume: { volume_id: string; volume_context: Record<string, string> } }>('Controller', 'CreateVolume', {
      name, capacity_range: { required_bytes: bytes }, volume_capabilities: [cap], parameters: params });
    const id = r.volume.volume_id;
    const context = r.volume.volume_context;
    const { publish_context: pc } = await ctl.call<{ publish_context: Record<string, string> }>('Controller', 'ControllerPublishVolume',
      { volume_id: id, node_id: nodeId, volume_capability: cap, volume_context: context });
    assert.equal(pc.transport, 'rdma');
    const stage = { volume_id: id, publish_context: pc, staging_target_path: join(dir, 'staging', id), volume_capability: cap,
      volume_context: context };
    return { id, stage, target: join(dir, 'pods', id, 'mount') };
  }

  /** `fn` until it is not UNAVAILABLE, as the CO retries a call (a bounded number of times). */
  async function retryUnavailable<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; ++attempt) {
      try {
        return await fn();
      } catch (e) {
        if (attempt >= 20 || !/UNAVAILABLE/.test(String(e))) throw e;
        await sleep(500);
      }
    }
  }

  async function unstageAndDelete(id: string, stage: JsonObject, target: string): Promise<void> {
    await node.call('Node', 'NodeUnpublishVolume', { volume_id: id, target_path: target });
    await node.call('Node', 'NodeUnstageVolume', { volume_id: id, staging_target_path: stage.staging_target_path });
    await node.call('Node', 'NodeUnstageVolume', { volume_id: id, staging_target_path: stage.staging_target_path });
    await ctl.call('Controller', 'ControllerUnpublishVolume', { volume_id: id, node_id: nodeId });
    await ctl.call('Controller', 'DeleteVolume', { volume_id: id });
  }

  it('NVMe-oF mode: stage through the DPU, fio with verify on the file system, grow online, a backend path dropped under fio, unstage; nothing left', async () => {
    const { id, stage, target } = await createAndPublish('dpu-nvmf', 64 * MiB);
    await node.call('Node', 'NodeStageVolume', stage);
    await node.call('Node', 'NodeStageVolume', stage);  // idempotent
    const pub = { ...stage, target_path: target, readonly: false };
    await node.call('Node', 'NodePublishVolume', pub);
    assert.deepEqual(controllersOf(volumeNqn(id)), [], 'the host connected nothing to the storage: its DPU did');
    assert.equal(controllersOf(FUNCTION_NQN).length, 1, 'and it is still the one connection to its function');
    const held = await dpuHolds();
    assert.deepEqual(held, { controllers: 1, bdevs: 1, namespaces: 1 });
    const dev = run('findmnt', ['-n', '-o', 'SOURCE', '--target', target]).trim();
    assert.match(dev, /^\/dev\/nvme\d+n\d+$/);

    // fio with verify on the mounted file system while the DPU's backend path drops and comes back.
    const storageQpairs = async () => ((await storageRpc.call('nvmf_subsystem_get_qpairs', { nqn: volumeNqn(id) })) as unknown[]).length;
    await fioAcrossRestart(join(target, 'fio.dat'), '0', async () => {
      const listen = { trtype: 'RDMA', adrfam: 'IPv4', traddr: STORAGE_RDMA, trsvcid: '4461' };
      await storageRpc.call('nvmf_subsystem_remove_listener', { nqn: volumeNqn(id), listen_address: listen });
      for (let i = 0; (await storageQpairs()) > 0; ++i) {
        assert.ok(i < 500, 'the DPU\'s backend connection drops');
        await sleep(20);
      }
      await sleep(3000);
      await storageRpc.call('nvmf_subsystem_add_listener', { nqn: volumeNqn(id), listen_address: listen });
    });
    assert.ok((await storageQpairs()) > 0, 'the DPU\'s backend came back');

    // Online expansion: the storage gateway's notice reaches the DPU's backend, whose bdev
    // grows, whose host function tells the host's kernel; then the file system grows.
    const before = statfsSync(target);
    const devBytes = () => Number(readFileSync(`/sys/class/block/${dev.replace('/dev/', '')}/size`, 'utf8')) * 512;
    const grown = 96 * MiB;
    await ctl.call('Controller', 'ControllerExpandVolume', { volume_id: id, capacity_range: { required_bytes: grown }, volume_capability: cap });
    await until(() => devBytes() === grown, `${dev} to grow to ${grown} bytes by notices alone`, 30000);
    const r = await node.call<{ capacity_bytes: string }>('Node', 'NodeExpandVolume',
      { volume_id: id, volume_path: target, staging_target_path: stage.staging_target_path, volume_capability: cap });
    assert.equal(r.capacity_bytes, String(grown));
    const after = statfsSync(target);
    assert.ok(after.blocks * after.bsize > before.blocks * before.bsize + 24 * MiB, 'the mounted file system grew');

    await unstageAndDelete(id, stage, target);
    assert.deepEqual(await dpuHolds(), { controllers: 0, bdevs: 0, namespaces: 0 }, 'the DPU holds nothing for the volume');
    assert.equal(tryRun('findmnt', ['-n', '-o', 'TARGET', '--mountpoint', target]).stdout.trim(), '', 'nothing is mounted there');
    assert.equal(controllersOf(FUNCTION_NQN).length, 1, 'the host function stays, as a PCIe function does');
  });

  it('AIO mode: the DPU\'s kernel host connects over NVMe/RDMA, its block device is an AIO volume behind the function; fio with verify, grow online, unstage; nothing left', async () => {
    const { id, stage, target } = await createAndPublish('dpu-aio', 64 * MiB, { connectionMode: 'aio' });
    await node.call('Node', 'NodeStageVolume', stage);
    await node.call('Node', 'NodeStageVolume', stage);  // idempotent
    await node.call('Node', 'NodePublishVolume', { ...stage, target_path: target, readonly: false });
    // The one kernel connection to the storage is the DPU's: over NVMe/RDMA to an address
    // the host's namespace has no route to.
    const [kernelCtrl, ...more] = controllersOf(volumeNqn(id));
    assert.ok(kernelCtrl && more.length === 0, 'the DPU\'s kernel host holds one controller of the volume');
    assert.equal(readFileSync(`/sys/class/nvme/${kernelCtrl}/transport`, 'utf8').trim(), 'rdma');
    assert.match(readFileSync(`/sys/class/nvme/${kernelCtrl}/address`, 'utf8'), new RegExp(`traddr=${STORAGE_RDMA.replace(/\./g, '\\.')}`));
    assert.equal(controllersOf(FUNCTION_NQN).length, 1, 'the host\'s one connection, to its function');
    assert.deepEqual(await dpuHolds(), { controllers: 0, bdevs: 1, namespaces: 1 }, 'an AIO volume, no backend');
    const dev = run('findmnt', ['-n', '-o', 'SOURCE', '--target', target]).trim();
    assert.match(dev, /^\/dev\/nvme\d+n\d+$/);
    const devName = dev.replace('/dev/', '');
    assert.notEqual(readFileSync(`/sys/class/block/${devName}/nguid`, 'utf8').trim().replace(/-/g, ''), id.replace(/-/g, ''),
      'the function\'s namespace has ids of its own');
    const [job] = fio(['--name=aio', `--filename=${join(target, 'fio.dat')}`, '--ioengine=libaio', '--direct=1', '--rw=randwrite',
      '--bs=4k', '--iodepth=8', '--size=16m', '--verify=crc32c', '--verify_fatal=1', '--do_verify=1']);
    assert.equal(job!.error, 0);

    // Online expansion: the storage grows, the DPU's kernel device follows by the notice, the
    // AIO volume re-reads it on NodeExpandVolume and the function tells the host's kernel.
    const before = statfsSync(target);
    const grown = 96 * MiB;
    await ctl.call('Controller', 'ControllerExpandVolume', { volume_id: id, capacity_range: { required_bytes: grown }, volume_capability: cap });
    // As kubelet asks, with the size the volume grew to: each step waits for the kernel below it to take it.
    const r = await node.call<{ capacity_bytes: string }>('Node', 'NodeExpandVolume', { volume_id: id, volume_path: target,
      staging_target_path: stage.staging_target_path, volume_capability: cap, capacity_range: { required_bytes: grown } });
    assert.equal(r.capacity_bytes, String(grown));
    assert.equal(Number(readFileSync(`/sys/class/block/${devName}/size`, 'utf8')) * 512, grown);
    const after = statfsSync(target);
    assert.ok(after.blocks * after.bsize > before.blocks * before.bsize + 24 * MiB, 'the mounted file system grew');
    // A CO that sends no range: the DPU's kernel device is waited for until it shows what its
    // controller reports (Identify Namespace), and the host's disk until it shows the AIO volume's new size.
    const again = 128 * MiB;
    await ctl.call('Controller', 'ControllerExpandVolume', { volume_id: id, capacity_range: { required_bytes: again }, volume_capability: cap });
    const r2 = await node.call<{ capacity_bytes: string }>('Node', 'NodeExpandVolume',
      { volume_id: id, volume_path: target, staging_target_path: stage.staging_target_path, volume_capability: cap });
    assert.equal(r2.capacity_bytes, String(again));

    await unstageAndDelete(id, stage, target);
    assert.deepEqual(await dpuHolds(), { controllers: 0, bdevs: 0, namespaces: 0 }, 'the DPU holds nothing for the volume');
    assert.deepEqual(controllersOf(volumeNqn(id)), [], 'the DPU\'s kernel host let go of the volume');
    assert.equal(tryRun('findmnt', ['-n', '-o', 'TARGET', '--mountpoint', target]).stdout.trim(), '', 'nothing is mounted there');
    assert.equal(controllersOf(FUNCTION_NQN).length, 1, 'the host function stays');
  });

  it('a Mayastor volume (its REST control plane, kernel nvmet-tcp as its nexus): storage gateway, DPU, host; fio with verify; nothing left', async () => {
    const { id, stage, target } = await createAndPublish('dpu-mayastor', 64 * MiB, { plugin: 'mayastor', replicas: '1', thin: 'false' });
    assert.equal(nexuses.size, 1, 'publishing made Mayastor publish its nexus, which nvmet serves');
    const [nqn] = nexuses.keys();
    // The storage gateway reads through the nexus over NVMe/TCP and exports it over NVMe/RDMA.
    const [backend] = (await storageRpc.call('bdev_nvme_get_controllers')) as { ctrlrs: { trid: { traddr: string; trsvcid: string; subnqn: string } }[] }[];
    assert.deepEqual(backend!.ctrlrs[0]!.trid, { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(NEXUS_PORT), subnqn: nqn });
    await node.call('Node', 'NodeStageVolume', stage);
    await node.call('Node', 'NodePublishVolume', { ...stage, target_path: target, readonly: false });
    assert.deepEqual(controllersOf(nqn!), [], 'the host connected nothing to the nexus');
    assert.deepEqual(controllersOf(volumeNqn(id)), [], 'nor to the storage gateway: its DPU did');
    const [job] = fio(['--name=mayastor', `--filename=${join(target, 'fio.dat')}`, '--ioengine=libaio', '--direct=1', '--rw=randwrite',
      '--bs=4k', '--iodepth=8', '--size=16m', '--verify=crc32c', '--verify_fatal=1', '--do_verify=1']);
    assert.equal(job!.error, 0);

    await unstageAndDelete(id, stage, target);
    assert.deepEqual(await dpuHolds(), { controllers: 0, bdevs: 0, namespaces: 0 }, 'the DPU holds nothing for the volume');
    assert.deepEqual(await storageRpc.call('bdev_nvme_get_controllers'), [], 'the storage gateway no longer reads through the nexus');
    assert.equal(nexuses.size, 0, 'Mayastor unpublished its nexus');
    assert.equal(mayastor.volumes.size, 0, 'and deleted the volume');
  });

  it('the DPU restarted between stage and unstage: the host\'s I/O waits and goes on; unstage after it works', async () => {
    const { id, stage, target } = await createAndPublish('dpu-restart', 64 * MiB);
    await node.call('Node', 'NodeStageVolume', stage);
    await node.call('Node', 'NodePublishVolume', { ...stage, target_path: target, readonly: false });
    await fioAcrossRestart(join(target, 'fio.dat'), '0', async () => {
      await stopDpu();
      await sleep(1000);
      await startDpu();  // its gateway config and its OPI state bring the volume back
    });
    assert.deepEqual(await dpuHolds(), { controllers: 1, bdevs: 1, namespaces: 1 });
    await unstageAndDelete(id, stage, target);
    assert.deepEqual(await dpuHolds(), { controllers: 0, bdevs: 0, namespaces: 0 });
  });

  it('a stage retried after the DPU died halfway converges', async () => {
    const { id, stage, target } = await createAndPublish('dpu-halfway', 64 * MiB);
    const pc = stage.publish_context as Record<string, string>;
    const rid = dpuResourceId(id);
    // The DPU made the backend and died before the namespace.
    await retryUnavailable(() => opi.call('FrontendNvmeService', 'ListNvmeSubsystems', {}));
    await opi.call('NvmeRemoteControllerService', 'CreateNvmeRemoteController', { nvme_remote_controller_id: rid,
      nvme_remote_controller: { multipath: 'NVME_MULTIPATH_FAILOVER' } });
    await opi.call('NvmeRemoteControllerService', 'CreateNvmePath', { parent: `nvmeRemoteControllers/${rid}`, nvme_path_id: 'path0',
      nvme_path: { trtype: 'NVME_TRANSPORT_TYPE_RDMA', traddr: pc.traddr,
        fabrics: { trsvcid: Number(pc.trsvcid), subnqn: pc.subnqn, hostnqn: nodeId, adrfam: 'NVME_ADDRESS_FAMILY_IPV4' } } });
    dpu!.kill('SIGKILL');
    await new Promise((r) => dpu!.once('exit', r));
    dpu = undefined;
    await assert.rejects(node.call('Node', 'NodeStageVolume', stage), /UNAVAILABLE/, 'a stage while the DPU is down is retried by the CO');
    await startDpu();
    await retryUnavailable(() => node.call('Node', 'NodeStageVolume', stage));
    await node.call('Node', 'NodePublishVolume', { ...stage, target_path: target, readonly: false });
    assert.deepEqual(await dpuHolds(), { controllers: 1, bdevs: 1, namespaces: 1 });
    await unstageAndDelete(id, stage, target);
    assert.deepEqual(await dpuHolds(), { controllers: 0, bdevs: 0, namespaces: 0 });
  });

  it('a volume of a two-gateway group: the DPU makes a path to each, and rides out the loss of the gateway in use under fio', async () => {
    // Two more storage gateways as a group, behind a controller of its own.
    const { members, gateways, ctl: groupCtl, close } = await startLabGroup(dir, ['gw-b', 'gw-c'].map((name, i) =>
      ({ name, tcp: 4480 + 2 * i, rdma: 4481 + 2 * i })), STORAGE_RDMA);
    try {
      const params = { transport: 'rdma', fsType: 'ext4', connectionMode: 'nvmf' };
      const r = await groupCtl.call<{ volume: { volume_id: string; volume_context: Record<string, string> } }>('Controller', 'CreateVolume', {
        name: 'dpu-group', capacity_range: { required_bytes: 64 * MiB }, volume_capabilities: [cap], parameters: params });
      const id = r.volume.volume_id;
      const { publish_context: pc } = await groupCtl.call<{ publish_context: Record<string, string> }>('Controller', 'ControllerPublishVolume',
        { volume_id: id, node_id: nodeId, volume_capability: cap, volume_context: r.volume.volume_context });
      const stage = { volume_id: id, publish_context: pc, staging_target_path: join(dir, 'staging', id), volume_capability: cap,
        volume_context: r.volume.volume_context };
      const target = join(dir, 'pods', id, 'mount');
      await node.call('Node', 'NodeStageVolume', stage);
      await node.call('Node', 'NodePublishVolume', { ...stage, target_path: target, readonly: false });

      // The DPU's backend: one controller, on one member, the other member its failover path.
      const dpuRpc = socketGatewayRpc(join(dir, 'dpu.sock'));
      type Ctrl = { ctrlrs: { state: string; trid: { trsvcid: string }; alternate_trids?: { trsvcid: string }[] }[] };
      const backend = async () => ((await dpuRpc.call('bdev_nvme_get_controllers')) as unknown as Ctrl[])[0]!.ctrlrs[0]!;
      const first = await backend();
      assert.deepEqual([first.trid.trsvcid, ...(first.alternate_trids ?? []).map((t) => t.trsvcid)].sort(),
        members.map((m) => String(m.rdma)).sort(), 'a path to each member');
      const inUse = members.findIndex((m) => String(m.rdma) === first.trid.trsvcid);
      const survivor = members[1 - inUse]!;

      // fio with verify on the file system while the gateway in use is closed for good.
      const job = await fioAcrossRestart(join(target, 'fio.dat'), '0', async () => {
        await gateways[inUse]!.close();
        for (let i = 0; ; ++i) {
          const now = await backend();
          if (now.state === 'enabled' && now.trid.trsvcid === String(survivor.rdma)) break;
          assert.ok(i < 600, `the DPU's backend moves to ${survivor.name} within 60 s (now ${now.state} on ${now.trid.trsvcid})`);
          await sleep(100);
        }
      });
      // The time without completed I/O across the failover, as fio saw it (emulated guest: not a speed).
      console.log(`      longest write across the failover: ${(job.write.clat_ns.max / 1e6).toFixed(0)} ms`);

      // Unstage on the node; the group's controller unpublishes and deletes with one member down.
      await node.call('Node', 'NodeUnpublishVolume', { volume_id: id, target_path: target });
      await node.call('Node', 'NodeUnstageVolume', { volume_id: id, staging_target_path: stage.staging_target_path });
      assert.deepEqual(await dpuHolds(), { controllers: 0, bdevs: 0, namespaces: 0 }, 'the DPU holds nothing for the volume');
      await groupCtl.call('Controller', 'ControllerUnpublishVolume', { volume_id: id, node_id: nodeId });
      await groupCtl.call('Controller', 'DeleteVolume', { volume_id: id });
    } finally {
      await close();
    }
  });
});
