/**
 * `rdmagate dpu` and startDpu: the DPU's gateway, the OPI bridge over it, and the
 * host-facing NVMe function made through the bridge's own API, idempotently at every
 * start; a host (the project's own NVMe/TCP host) connects to the function once and
 * gets volumes as namespaces. The kernel NVMe-oF host is a fake here.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BufferPool, nvmf, opiClient, startDpu, type Dpu, type DpuOptions, type LogEntry, type OpiClient } from '../../lib';
import { socketGatewayRpc } from '../../lib/csi/export';
import { volumeNqn } from '../../lib/csi/parameters';
import { checkRdmaDevices, DEFAULT_HOST_SUBSYSTEM_NQN, parseHostFacing } from '../../lib/dpu';
import { OpiClientError } from '../../lib/opi';
import type { AioVolume, NvmeController, NvmeNamespace, NvmeSubsystem } from '../../lib/opi/messages';
import type { RdmaDevice } from '../../lib/rdma';
import { until } from '../rdma/helpers';
import { FakeKernelAttacher } from './fake-kernel-attacher';

const MAIN = resolve(__dirname, '../../lib/cli/main.js');
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000000dd';
const OTHER_HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000000ee';
const FE = 'FrontendNvmeService';
const VOLUME = '3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f';
const NGUID = '3c4d5e6f7a8b4c9d8e0f1a2b3c4d5e6f';

/** A port nothing listens on now: bound by the kernel's choice, then let go. */
async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  s.close();
  await once(s, 'close');
  return port;
}

describe('rdmagate dpu: the gateway, the OPI bridge and the host-facing function in one process', function () {
  this.timeout(60000);
  let dir: string;
  let stateDir: string;
  let hostPort: number;
  let kernel: FakeKernelAttacher;
  let dpu: Dpu | undefined;
  let client: OpiClient | undefined;
  let logs: LogEntry[];
  const pool = new BufferPool({ chunkSize: 64 * 1024 });

  const options = (extra: Partial<DpuOptions> = {}): DpuOptions => ({
    stateDir, gatewaySocket: join(dir, 'gw.sock'), opiListen: '127.0.0.1:0', hostFacing: `tcp:127.0.0.1:${hostPort}`,
    kernel, log: (e) => logs.push(e), ...extra,
  });

  async function start(extra: Partial<DpuOptions> = {}): Promise<Dpu> {
    client?.close();
    dpu = await startDpu(options(extra));
    client = opiClient(dpu.opiAddress);
    return dpu;
  }

  async function stop(): Promise<void> {
    client?.close();
    client = undefined;
    await dpu?.close();
    dpu = undefined;
  }

  const call = <T>(method: string, request: object = {}) => client!.call<T>(FE, method, request);

  async function hostFunction(): Promise<{ subsystems: NvmeSubsystem[]; controllers: NvmeController[] }> {
    const { nvme_subsystems: subsystems } = await call<{ nvme_subsystems: NvmeSubsystem[] }>('ListNvmeSubsystems');
    const { nvme_controllers: controllers } = await call<{ nvme_controllers: NvmeController[] }>('ListNvmeControllers',
      { parent: 'nvmeSubsystems/host-function' });
    return { subsystems, controllers };
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-dpu-'));
    stateDir = join(dir, 'state');
    hostPort = await freePort();
    kernel = new FakeKernelAttacher(dir);
    logs = [];
  });

  afterEach(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes the host function through its OPI API; a host connects once and gets an AIO volume as a hot-added namespace', async () => {
    const d = await start();
    assert.deepEqual(d.hostFunction, { nqn: DEFAULT_HOST_SUBSYSTEM_NQN, trtype: 'tcp', traddr: '127.0.0.1', trsvcid: hostPort,
      subsystem: 'nvmeSubsystems/host-function', controller: 'nvmeSubsystems/host-function/nvmeControllers/host-function-0' });
    assert.equal(d.gatewaySocket, join(dir, 'gw.sock'));
    const { subsystems, controllers } = await hostFunction();
    assert.deepEqual(subsystems.map((s) => [s.name, s.spec?.nqn, s.spec?.model_number, s.spec?.max_namespaces, s.spec?.hostnqn]),
      [['nvmeSubsystems/host-function', DEFAULT_HOST_SUBSYSTEM_NQN, 'rdmagate DPU function', '256', '']]);
    assert.equal(subsystems[0].spec?.serial_number, hostname().split('.')[0].slice(0, 20));
    assert.deepEqual(controllers.map((c) => [c.name, c.spec?.trtype, c.spec?.fabrics_id?.traddr, c.spec?.fabrics_id?.trsvcid]),
      [['nvmeSubsystems/host-function/nvmeControllers/host-function-0', 'NVME_TRANSPORT_TYPE_TCP', '127.0.0.1', String(hostPort)]]);
    // The gateway's own socket answers too, and its config is kept in the state directory.
    const gw = socketGatewayRpc(join(dir, 'gw.sock'));
    const there = await gw.call('nvmf_get_subsystems', { nqn: DEFAULT_HOST_SUBSYSTEM_NQN }) as { listen_addresses: { trsvcid: string }[] }[];
    assert.deepEqual(there[0].listen_addresses.map((l) => l.trsvcid), [String(hostPort)]);
    assert.ok(existsSync(join(stateDir, 'gateway.json')) && existsSync(join(stateDir, 'opi-bridge.json')));

    // The host connects once, to a function with nothing in it yet.
    const host = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: hostPort, subnqn: DEFAULT_HOST_SUBSYSTEM_NQN, hostnqn: HOSTNQN });
    try {
      assert.equal(host.namespaces.length, 0);
      // AIO mode, as the host's node plugin drives it: the DPU's kernel connects, the device becomes a volume and a namespace.
      const dev = await client!.kernel.connect({ volume_id: VOLUME, trtype: 'tcp', traddr: '127.0.0.1', trsvcid: '4420',
        hostnqn: HOSTNQN, nguid: NGUID, uuid: VOLUME });
      const vol = await client!.call<AioVolume>('AioVolumeService', 'CreateAioVolume', { aio_volume_id: 'vol-a',
        aio_volume: { filename: dev.device, block_size: 512 } });
      const changed = once(host, 'namespacesChanged');
      await call<NvmeNamespace>('CreateNvmeNamespace', { parent: 'nvmeSubsystems/host-function', nvme_namespace_id: 'vol-a',
        nvme_namespace: { spec: { volume_name_ref: vol.name, nguid: NGUID, uuid: VOLUME } } });
      await changed;
      assert.deepEqual(host.namespaces.map((n) => [n.nsid, n.nguid, n.uuid]), [[1, NGUID, VOLUME]]);
      const w = pool.acquire();
      const r = pool.acquire();
      w.fill(0x5a);
      await host.queuePairs[0].write(1, 16, 8, w);
      await host.queuePairs[0].read(1, 16, 8, r);
      assert.ok(Buffer.from(r.buffer, r.byteOffset, 4096).equals(Buffer.alloc(4096, 0x5a)));
      w.release();
      r.release();
    } finally {
      await host.close();
    }
  });

  it('restarted on the same state directory, has the same one subsystem and controller, and takes a new allowed host', async () => {
    await start();
    const before = await hostFunction();
    const filename = join(dir, 'disk.img');
    writeFileSync(filename, Buffer.alloc(1 << 20));
    await client!.call('AioVolumeService', 'CreateAioVolume', { aio_volume_id: 'kept', aio_volume: { filename } });
    await call('CreateNvmeNamespace', { parent: 'nvmeSubsystems/host-function', nvme_namespace_id: 'kept',
      nvme_namespace: { spec: { volume_name_ref: 'aioVolumes/kept', nguid: NGUID } } });
    await stop();

    await start();
    assert.deepEqual(await hostFunction(), before);
    await stop();

    // Only HOSTNQN is let in now; the volume is still there, with its identifiers.
    await start({ hostNqn: HOSTNQN });
    const after = await hostFunction();
    assert.deepEqual(after.subsystems.map((s) => [s.name, s.spec?.nqn, s.spec?.serial_number, s.spec?.hostnqn]),
      before.subsystems.map((s) => [s.name, s.spec?.nqn, s.spec?.serial_number, HOSTNQN]));
    assert.deepEqual(after.controllers, before.controllers);
    await assert.rejects(nvmf.connect({ traddr: '127.0.0.1', trsvcid: hostPort, subnqn: DEFAULT_HOST_SUBSYSTEM_NQN,
      hostnqn: OTHER_HOSTNQN, ctrlLossTmo: 0 }));
    const host = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: hostPort, subnqn: DEFAULT_HOST_SUBSYSTEM_NQN, hostnqn: HOSTNQN });
    assert.deepEqual(host.namespaces.map((n) => [n.nsid, n.nguid]), [[1, NGUID]]);
    await host.close();
    await stop();

    // A new host-facing endpoint: the controller moves; what was fixed at creation cannot change.
    const moved = await freePort();
    const d = await start({ hostNqn: HOSTNQN, hostFacing: `tcp:127.0.0.1:${moved}` });
    assert.equal(d.hostFunction.trsvcid, moved);
    const { controllers } = await hostFunction();
    assert.deepEqual(controllers.map((c) => [c.name, c.spec?.fabrics_id?.trsvcid]),
      [['nvmeSubsystems/host-function/nvmeControllers/host-function-0', String(moved)]]);
    await stop();
    await assert.rejects(start({ serial: 'SOMETHING-ELSE' }), { code: 'ERR_DPU_HOST_FUNCTION', message: /serial_number '.*' \(asked: 'SOMETHING-ELSE'\)/ });
    await assert.rejects(start({ hostSubsystemNqn: 'nqn.2019-06.io.rdmagate:another' }),
      { code: 'ERR_DPU_HOST_FUNCTION', message: /nqn '.*' \(asked: 'nqn\.2019-06\.io\.rdmagate:another'\)/ });
    assert.equal(existsSync(join(dir, 'gw.sock')), false, 'a failed start closes its gateway');
  });

  it('starts over a gateway config that no longer loads, keeping it aside, and re-applies what came back later', async () => {
    await start();
    const filename = join(dir, 'nvme0n1');
    writeFileSync(filename, Buffer.alloc(1 << 20));
    await client!.call('AioVolumeService', 'CreateAioVolume', { aio_volume_id: 'late', aio_volume: { filename } });
    const ns = await call<NvmeNamespace>('CreateNvmeNamespace', { parent: 'nvmeSubsystems/host-function', nvme_namespace_id: 'late',
      nvme_namespace: { spec: { volume_name_ref: 'aioVolumes/late', nguid: NGUID } } });
    await stop();

    // The kernel device went away with a reboot: the gateway's config replays a file bdev of it.
    renameSync(filename, `${filename}.away`);
    const d = await start({ reconcileRetryMs: 100 });
    assert.ok(existsSync(join(stateDir, 'gateway.json.unloadable')));
    assert.ok(logs.some((e) => e.level === 'warn' && /gateway config does not load/.test(e.msg)));
    assert.equal((await hostFunction()).controllers.length, 1, 'the host function is served regardless');
    const offline = await call<NvmeNamespace>('GetNvmeNamespace', { name: ns.name });
    assert.equal(offline.status?.oper_state, 'OPER_STATE_OFFLINE');
    const host = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: d.hostFunction.trsvcid, subnqn: d.hostFunction.nqn, hostnqn: HOSTNQN });
    try {
      assert.equal(host.namespaces.length, 0);
      // The device is back: a retry applies the volume and its namespace, and the host is told.
      const changed = once(host, 'namespacesChanged');
      renameSync(`${filename}.away`, filename);
      await changed;
      assert.deepEqual(host.namespaces.map((n) => [n.nsid, n.nguid]), [[1, NGUID]]);
    } finally {
      await host.close();
    }
    assert.equal((await call<NvmeNamespace>('GetNvmeNamespace', { name: ns.name })).status?.oper_state, 'OPER_STATE_ONLINE');
    await until(() => logs.some((e) => e.msg === 'dpu: every recorded resource is applied'), 'the retries to end');
  });

  it('fails to start, closing all, when the host function cannot listen: when made, and when re-applied', async () => {
    await assert.rejects(start({ hostFacing: 'tcp:192.0.2.77:4420' }), { code: 'ERR_DPU_HOST_FUNCTION', message: /cannot make the host function/ });
    assert.equal(existsSync(join(dir, 'gw.sock')), false);
    await start();
    await stop();
    const squatter = createServer().listen(hostPort, '127.0.0.1');
    await once(squatter, 'listening');
    try {
      await assert.rejects(start(), { code: 'ERR_DPU_HOST_FUNCTION',
        message: new RegExp(`is not listening on tcp 127\\.0\\.0\\.1:${hostPort}: nvmeSubsystems/host-function/nvmeControllers/host-function-0: `) });
    } finally {
      squatter.close();
    }
    assert.equal(existsSync(join(dir, 'gw.sock')), false);
    await start();
    assert.equal((await hostFunction()).controllers.length, 1);
  });

  it('refuses bad options and a missing or inactive RDMA device with typed errors, starting nothing', async () => {
    await assert.rejects(startDpu(options({ rdmaDevices: ['rdmagate-absent0'] })),
      { code: 'ERR_DPU_RDMA_DEVICE', message: /rdmagate-absent0/ });
    assert.equal(existsSync(stateDir), false);
    assert.equal(existsSync(join(dir, 'gw.sock')), false);
    await assert.rejects(startDpu(options({ hostFacing: 'fc:1.2.3.4:4420' })), { code: 'ERR_INVALID_ARG', message: /hostFacing: the transport/ });
    await assert.rejects(startDpu(options({ hostSubsystemNqn: 'nqn.bad' })), { code: 'ERR_INVALID_ARG', message: /hostSubsystemNqn must be an NQN/ });
    await assert.rejects(startDpu(options({ serial: 'x'.repeat(21) })), { code: 'ERR_INVALID_ARG', message: /serial/ });

    const port = (state: string) => ({ number: 1, state, linkLayer: 'ethernet', activeMtu: 1024, lid: 0, gids: [] });
    const device = (name: string, state: string) => ({ name, guid: '0', transport: 'infiniband', limits: {}, ports: [port(state)] }) as
      unknown as RdmaDevice;
    const list = () => [device('rxe0', 'active'), device('rxe1', 'down')];
    assert.deepEqual(checkRdmaDevices(['rxe0'], list).map((d) => d.name), ['rxe0']);
    assert.throws(() => checkRdmaDevices(['rxe1'], list), { code: 'ERR_DPU_RDMA_DEVICE', message: /'rxe1' has no active port \(port 1 down\)/ });
    assert.throws(() => checkRdmaDevices(['mlx5_0'], list), { code: 'ERR_DPU_RDMA_DEVICE', message: /'mlx5_0' does not exist; this machine has rxe0, rxe1/ });
    assert.throws(() => checkRdmaDevices(['rxe0'], () => { throw new Error('RDMA is unavailable: no libibverbs'); }),
      { code: 'ERR_DPU_RDMA_DEVICE', message: /cannot be checked: RDMA is unavailable/ });

    assert.deepEqual(parseHostFacing('rdma:[fd00::1]:4420'), { trtype: 'rdma', traddr: 'fd00::1', trsvcid: 4420, adrfam: 'IPv6' });
    assert.throws(() => parseHostFacing('tcp:fd00::1:4420'), { code: 'ERR_INVALID_ARG' });
    assert.throws(() => parseHostFacing('tcp:dpu.example:4420'), { code: 'ERR_INVALID_ARG', message: /must be an IP address/ });
    assert.throws(() => parseHostFacing('tcp:127.0.0.1:0'), { code: 'ERR_INVALID_ARG', message: /port/ });
  });

  it('rdmagate dpu prints `dpu ready` and exits 0 on SIGTERM; a missing RDMA device fails it', async () => {
    mkdirSync(stateDir);
    const child = spawn(process.execPath, [MAIN, 'dpu', '--state-dir', stateDir, '--gateway-socket', join(dir, 'cli.sock'),
      '--opi-listen', '127.0.0.1:0', '--host-facing', `tcp:127.0.0.1:${hostPort}`, '--host-nqn', HOSTNQN, '--serial', 'DPU-CLI-1',
      '--log-level', 'error']);
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d; });
    const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d;
        for (const line of out.split('\n')) {
          if (line.includes('"dpu ready"')) resolve(JSON.parse(line) as Record<string, unknown>);
        }
      });
      child.once('exit', (code) => reject(new Error(`dpu exited early (${code}): ${out}${err}`)));
    });
    assert.equal(ready.level, 'info');
    assert.equal(ready.gatewaySocket, join(dir, 'cli.sock'));
    assert.deepEqual(ready.hostFunction, { nqn: DEFAULT_HOST_SUBSYSTEM_NQN, trtype: 'tcp', traddr: '127.0.0.1', trsvcid: hostPort });
    const c = opiClient(String(ready.opiAddress));
    try {
      const s = await c.call<NvmeSubsystem>(FE, 'GetNvmeSubsystem', { name: 'nvmeSubsystems/host-function' });
      assert.deepEqual([s.spec?.serial_number, s.spec?.hostnqn], ['DPU-CLI-1', HOSTNQN]);
      // The kernel host is served (a real one here: whatever it answers, it is not UNIMPLEMENTED).
      await assert.rejects(c.kernel.rescan({ subnqn: volumeNqn(VOLUME) }), (e: unknown) =>
        e instanceof OpiClientError && /NOT_FOUND/.test(e.message));
    } finally {
      c.close();
      child.kill('SIGTERM');
    }
    assert.equal(await new Promise((r) => child.once('exit', r)), 0, err);

    const bad = spawn(process.execPath, [MAIN, 'dpu', '--state-dir', join(dir, 'bad'), '--gateway-socket', join(dir, 'bad.sock'),
      '--opi-listen', '127.0.0.1:0', '--rdma-device', 'rxe-absent0,rxe-absent1']);
    let badErr = '';
    bad.stderr.on('data', (d: Buffer) => { badErr += d; });
    assert.equal(await new Promise((r) => bad.once('exit', r)), 1);
    assert.match(badErr, /RDMA device 'rxe-absent0'.*\(ERR_DPU_RDMA_DEVICE\)/);
  });
});
