/**
 * NVMe/TCP TLS through the OPI bridge, against a real gateway and a real backend target in
 * this process. NvmeRemoteController.tcp.psk: the PSK goes to a 0600 file in the bridge's key
 * directory and the gateway's keyring, the controller's path attaches over TLS to a backend
 * whose listener requires it, and I/O through the DPU's front subsystem reaches the backend; a
 * restart over a gateway that lost everything attaches over TLS again; the PSK is never
 * answered, saved in the state file or repeated in an error. NvmeSubsystem.spec.psk: the host
 * is allowed with the PSK and the subsystem's TCP controllers are secure channels, so the host
 * connects over TLS only. Malformed PSKs, and PSKs where they cannot apply, are refused.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BufferPool, Target, nvmf } from '../../lib';
import { encodeTlsPsk } from '../../lib/nvmf';
import { OpiStatus } from '../../lib/opi';
import type { NvmeRemoteController, NvmeSubsystem } from '../../lib/opi/messages';
import { rejectsOverOpi as rejects } from '../support/csi-assert';
import { opiBridgeHarness } from '../support/opi-bridge-harness';
import { tlsPsk } from '../support/tls-psk';

const BACKEND_NQN = 'nqn.2026-12.io.rdmagate:opi-tls-backend';
const FRONT_NQN = 'nqn.2026-12.io.rdmagate:opi-tls-front';
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000071a5';
const FRONT_HOST = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000071a6';
const RC = 'NvmeRemoteControllerService';
const AIO = 'AioVolumeService';
const FE = 'FrontendNvmeService';

let nextPort = 23000 + Math.floor(Math.random() * 8000);
const port = () => nextPort++;

const body = (k: string) => k.split(':')[2]!;
const bytesOf = (k: string) => Buffer.from(k, 'utf8');

describe('OPI bridge: NVMe/TCP TLS (tcp.psk, spec.psk) over the gateway', function () {
  this.timeout(60000);
  const KEY = tlsPsk();
  let backend: Target;
  let securePort: number;
  const pool = new BufferPool({ chunkSize: 64 * 1024 });
  const h = opiBridgeHarness('rdmagate-opi-tls-');
  const { call, gw, aioFile } = h;

  const tlsPath = (trsvcid: number) => ({ trtype: 'NVME_TRANSPORT_TYPE_TCP', traddr: '127.0.0.1',
    fabrics: { trsvcid, subnqn: BACKEND_NQN, adrfam: 'NVME_ADDRESS_FAMILY_IPV4', hostnqn: HOSTNQN } });
  const ctrl = (psk?: string) => ({ multipath: 'NVME_MULTIPATH_FAILOVER', tcp: { hdgst: false, ddgst: false, ...(psk ? { psk: bytesOf(psk) } : {}) } });
  const keyNames = async () => ((await gw<{ name: string }[]>('keyring_get_keys')).map((k) => k.name)).sort();
  const keyFiles = () => (existsSync(h.keyDir) ? readdirSync(h.keyDir).filter((f) => !f.startsWith('.')).sort() : []);

  /** Writes `seed`-patterned blocks through `c` and reads them back, then checks the backend holds them (over TLS, as HOSTNQN). */
  async function roundTrip(c: nvmf.Controller, lba: number, seed: number): Promise<void> {
    const w = pool.acquire();
    const r = pool.acquire();
    try {
      for (let i = 0; i < 4096; i++) w[i] = (i * 13 + seed) & 0xff;
      await c.queuePairs[0]!.write(1, BigInt(lba), 8, w);
      const direct = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: securePort, subnqn: BACKEND_NQN, hostnqn: HOSTNQN, psk: KEY,
        ctrlLossTmo: 0, timeoutMs: 5000 });
      try {
        await direct.queuePairs[0]!.read(1, BigInt(lba), 8, r);
      } finally {
        await direct.close();
      }
      assert.ok(Buffer.from(r.buffer, r.byteOffset, 4096).equals(Buffer.from(w.buffer, w.byteOffset, 4096)), 'the backend holds what was written');
    } finally {
      w.release();
      r.release();
    }
  }

  before(() => {
    backend = new Target({ reactors: 1 });
    backend.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: 4 << 20 });
    backend.addSubsystem({ nqn: BACKEND_NQN, allowAnyHost: false, hosts: [{ nqn: HOSTNQN, psk: KEY }] }).addNamespace({ bdev: 'Malloc0', nsid: 1 });
    securePort = backend.listen({ transport: 'tcp', address: '127.0.0.1', port: 0, secureChannel: true }).port;
  });

  after(() => backend.closeSync());

  it('refuses what is not a PSK, and a PSK where it cannot apply, with INVALID_ARGUMENT that does not repeat it', async () => {
    const bad: [string, RegExp][] = [
      ['not a key at all', /nvme_remote_controller\.tcp\.psk is not an NVMe\/TCP TLS PSK: it must be/],
      [encodeTlsPsk(randomBytes(48), 1), /tcp\.psk is not an NVMe\/TCP TLS PSK: it must be/],
      [KEY.replace(/.(?=:$)/, (c) => (c === 'A' ? 'Q' : 'A')), /tcp\.psk is not an NVMe\/TCP TLS PSK/],
      [`DHHC-1:01:${body(KEY)}:`, /tcp\.psk is not an NVMe\/TCP TLS PSK/],
    ];
    for (const [psk, message] of bad) {
      const e = await rejects(call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: ctrl(psk), nvme_remote_controller_id: 'rc1' }),
        OpiStatus.INVALID_ARGUMENT, message);
      assert.ok(!e.message.includes(psk) && !e.message.includes(body(psk) ?? psk), e.message);
    }
    await rejects(call(FE, 'CreateNvmeSubsystem', { nvme_subsystem: { spec: { nqn: FRONT_NQN, psk: bytesOf(KEY) } } }),
      OpiStatus.INVALID_ARGUMENT, /spec\.psk needs nvme_subsystem\.spec\.hostnqn: a TLS PSK is one host's/);
    // A PSK'd controller's path is NVMe/TCP.
    await call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: ctrl(KEY), nvme_remote_controller_id: 'rc1' });
    await rejects(call(RC, 'CreateNvmePath', { parent: 'nvmeRemoteControllers/rc1', nvme_path: { ...tlsPath(securePort),
      trtype: 'NVME_TRANSPORT_TYPE_RDMA' } }), OpiStatus.INVALID_ARGUMENT, /has a TLS PSK \(tcp\.psk\), which is NVMe\/TCP's/);
    await call(RC, 'DeleteNvmeRemoteController', { name: 'nvmeRemoteControllers/rc1' });
    assert.deepEqual(keyFiles(), [], 'its key file went with it');
    assert.deepEqual(await keyNames(), []);

    // A bridge with no key directory takes no PSK: FAILED_PRECONDITION, and nothing is made.
    h.client.close();
    await h.bridge.close();
    await h.startBridge({ statePath: null });
    await rejects(call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: ctrl(KEY), nvme_remote_controller_id: 'rc2' }),
      OpiStatus.FAILED_PRECONDITION, /no key directory/);
    assert.deepEqual((await call<{ nvme_remote_controllers: unknown[] }>(RC, 'ListNvmeRemoteControllers')).nvme_remote_controllers, []);
  });

  it('tcp.psk: a 0600 key file and a keyring entry, never answered or saved; the path attaches over TLS and I/O reaches the backend', async () => {
    const parent = 'nvmeRemoteControllers/rc1';
    const made = await call<NvmeRemoteController>(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: ctrl(KEY), nvme_remote_controller_id: 'rc1' });
    assert.equal(made.tcp?.psk.length, 0, 'the PSK is not answered');
    assert.deepEqual(await call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: ctrl(KEY), nvme_remote_controller_id: 'rc1' }), made,
      'the same PSK: the same controller');
    await rejects(call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: ctrl(tlsPsk()), nvme_remote_controller_id: 'rc1' }),
      OpiStatus.ALREADY_EXISTS);
    await rejects(call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: ctrl(), nvme_remote_controller_id: 'rc1' }),
      OpiStatus.ALREADY_EXISTS, /another spec/);
    const [file] = keyFiles();
    assert.match(file!, /^opi_rc_rc1_psk_\d+$/);
    assert.equal(statSync(join(h.keyDir, file!)).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(h.keyDir, file!), 'utf8'), `${KEY}\n`);

    await call(RC, 'CreateNvmePath', { parent, nvme_path: tlsPath(securePort), nvme_path_id: 'p1' });
    const ctrls = await gw<{ name: string; ctrlrs: { trid: { trsvcid: string } }[] }[]>('bdev_nvme_get_controllers');
    assert.deepEqual(ctrls.map((c) => [c.name, c.ctrlrs[0]!.trid.trsvcid]), [['rc1', String(securePort)]]);
    assert.deepEqual(await keyNames(), [file]);
    for (const got of [await call<NvmeRemoteController>(RC, 'GetNvmeRemoteController', { name: parent }),
      ...(await call<{ nvme_remote_controllers: NvmeRemoteController[] }>(RC, 'ListNvmeRemoteControllers')).nvme_remote_controllers]) {
      assert.equal(got.tcp?.psk.length, 0, 'Get and List answer psk empty');
    }
    const saved = readFileSync(h.statePath, 'utf8');
    assert.ok(!saved.includes(body(KEY)) && saved.includes(file!), 'the state file names the key, never holds it');

    // An attached controller's PSK cannot change; an update that does not name it keeps it.
    await rejects(call(RC, 'UpdateNvmeRemoteController', { nvme_remote_controller: { name: parent, ...ctrl(tlsPsk()) } }),
      OpiStatus.FAILED_PRECONDITION, /is attached: psk/);
    await rejects(call(RC, 'UpdateNvmeRemoteController', { nvme_remote_controller: { name: parent, tcp: {} }, update_mask: { paths: ['tcp.psk'] } }),
      OpiStatus.FAILED_PRECONDITION, /is attached: psk/);
    await call(RC, 'UpdateNvmeRemoteController', { nvme_remote_controller: { name: parent, ...ctrl(), multipath: 'NVME_MULTIPATH_MULTIPATH' } });
    assert.deepEqual(keyFiles(), [file], 'kept');

    // The DPU's front: the backend's namespace to a host, whose I/O goes over TLS to the backend.
    await call(FE, 'CreateNvmeSubsystem', { nvme_subsystem: { spec: { nqn: FRONT_NQN } }, nvme_subsystem_id: 'front' });
    const frontPort = port();
    await call(FE, 'CreateNvmeController', { parent: 'nvmeSubsystems/front', nvme_controller_id: 'c0', nvme_controller: { spec: {
      trtype: 'NVME_TRANSPORT_TYPE_TCP', fabrics_id: { traddr: '127.0.0.1', trsvcid: String(frontPort), adrfam: 'NVME_ADDRESS_FAMILY_IPV4' } } } });
    await call(FE, 'CreateNvmeNamespace', { parent: 'nvmeSubsystems/front', nvme_namespace_id: 'n1',
      nvme_namespace: { spec: { volume_name_ref: `${parent}/nvmeRemoteNamespaces/1` } } });
    const host = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: frontPort, subnqn: FRONT_NQN, hostnqn: FRONT_HOST, ctrlLossTmo: 0 });
    try {
      await roundTrip(host, 64, 5);
    } finally {
      await host.close();
    }
    await call(FE, 'DeleteNvmeNamespace', { name: 'nvmeSubsystems/front/nvmeNamespaces/n1' });
    await call(FE, 'DeleteNvmeController', { name: 'nvmeSubsystems/front/nvmeControllers/c0' });
    await call(FE, 'DeleteNvmeSubsystem', { name: 'nvmeSubsystems/front' });

    await call(RC, 'DeleteNvmePath', { name: `${parent}/nvmePaths/p1` });
    await call(RC, 'DeleteNvmeRemoteController', { name: parent });
    assert.deepEqual(await keyNames(), [], 'off the keyring');
    assert.deepEqual(keyFiles(), [], 'and out of the key directory');
  });

  it('no PSK, or another one, to a backend that requires TLS: the path is refused and nothing is left behind', async () => {
    for (const [id, psk] of [['plain', undefined], ['wrong', tlsPsk()]] as const) {
      await call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: ctrl(psk), nvme_remote_controller_id: id });
      const e = await rejects(call(RC, 'CreateNvmePath', { parent: `nvmeRemoteControllers/${id}`, nvme_path: tlsPath(securePort) }),
        OpiStatus.UNAVAILABLE);
      if (psk) assert.ok(!e.message.includes(body(psk)), e.message);
      await call(RC, 'DeleteNvmeRemoteController', { name: `nvmeRemoteControllers/${id}` });
    }
    assert.deepEqual(await gw('bdev_nvme_get_controllers'), []);
    assert.deepEqual(await keyNames(), []);
    assert.deepEqual(keyFiles(), []);
  });

  it('restarted over a gateway that lost everything, adds the PSK to its keyring again and attaches over TLS', async () => {
    await call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: ctrl(KEY), nvme_remote_controller_id: 'rc1' });
    await call(RC, 'CreateNvmePath', { parent: 'nvmeRemoteControllers/rc1', nvme_path: tlsPath(securePort), nvme_path_id: 'p1' });
    const names = await keyNames();
    h.client.close();
    await h.bridge.close();
    await h.gateway.close();
    await h.startGateway();
    assert.deepEqual(await keyNames(), [], 'a fresh gateway');
    await h.startBridge();
    assert.deepEqual(await keyNames(), names);
    const ctrls = await gw<{ name: string }[]>('bdev_nvme_get_controllers');
    assert.deepEqual(ctrls.map((c) => c.name), ['rc1']);
    assert.deepEqual((await gw<{ name: string }[]>('bdev_get_bdevs')).map((b) => b.name), ['rc1n1'], 'attached, over TLS');
  });

  it('spec.psk: the host allowed with it, the TCP controllers secure channels; the host connects over TLS only', async () => {
    const filename = aioFile('vol.img', 4 << 20);
    await call(AIO, 'CreateAioVolume', { aio_volume: { filename, block_size: 512 }, aio_volume_id: 'v1' });
    const hostKey = tlsPsk(2);
    const sub = await call<NvmeSubsystem>(FE, 'CreateNvmeSubsystem', { nvme_subsystem_id: 'front',
      nvme_subsystem: { spec: { nqn: FRONT_NQN, hostnqn: FRONT_HOST, psk: bytesOf(hostKey) } } });
    assert.equal(sub.spec?.psk.length, 0, 'the PSK is not answered');
    assert.deepEqual(await call(FE, 'CreateNvmeSubsystem', { nvme_subsystem_id: 'front',
      nvme_subsystem: { spec: { nqn: FRONT_NQN, hostnqn: FRONT_HOST, psk: bytesOf(hostKey) } } }), sub, 'the same PSK: the same subsystem');
    const frontPort = port();
    const controller = (p: number, trtype = 'NVME_TRANSPORT_TYPE_TCP') => ({ spec: { trtype,
      fabrics_id: { traddr: '127.0.0.1', trsvcid: String(p), adrfam: 'NVME_ADDRESS_FAMILY_IPV4' } } });
    await call(FE, 'CreateNvmeController', { parent: 'nvmeSubsystems/front', nvme_controller_id: 'c0', nvme_controller: controller(frontPort) });
    await rejects(call(FE, 'CreateNvmeController', { parent: 'nvmeSubsystems/front', nvme_controller: controller(port(), 'NVME_TRANSPORT_TYPE_RDMA') }),
      OpiStatus.FAILED_PRECONDITION, /has a TLS PSK: its controllers are NVMe\/TCP secure-channel listeners/);
    await call(FE, 'CreateNvmeNamespace', { parent: 'nvmeSubsystems/front', nvme_namespace_id: 'n1', nvme_namespace: { spec: { volume_name_ref: 'aioVolumes/v1' } } });

    type Sub = { hosts: { nqn: string; psk?: string }[]; listen_addresses: { trsvcid: string; secure_channel?: boolean }[] };
    const [there] = await gw<Sub[]>('nvmf_get_subsystems', { nqn: FRONT_NQN });
    assert.equal(there!.hosts.length, 1);
    assert.match(there!.hosts[0]!.psk ?? '', /^opi_ss_front_psk_\d+$/);
    assert.deepEqual(there!.listen_addresses.map((l) => [l.trsvcid, l.secure_channel]), [[String(frontPort), true]]);

    const connect = (psk?: string) => nvmf.connect({ traddr: '127.0.0.1', trsvcid: frontPort, subnqn: FRONT_NQN, hostnqn: FRONT_HOST,
      ctrlLossTmo: 0, timeoutMs: 5000, ...(psk ? { psk } : {}) });
    const c = await connect(hostKey);
    await c.close();
    await assert.rejects(connect(), { code: 'ERR_NVME_CONNECT' }, 'no TLS: refused');

    // A new PSK by update (the mask names it): the host is allowed with it, the old one no longer opens it.
    const next = tlsPsk();
    await call(FE, 'UpdateNvmeSubsystem', { nvme_subsystem: { name: 'nvmeSubsystems/front', spec: { psk: bytesOf(next) } },
      update_mask: { paths: ['spec.psk'] } });
    await assert.rejects(connect(hostKey), { code: 'ERR_NVME_CONNECT' }, 'the old PSK: refused');
    const d = await connect(next);
    await d.close();
    assert.equal(keyFiles().length, 1, 'the old key file is gone');
    // An update that does not name it keeps it; clearing it under a secure controller is refused.
    await call(FE, 'UpdateNvmeSubsystem', { nvme_subsystem: { name: 'nvmeSubsystems/front', spec: { nqn: FRONT_NQN, hostnqn: FRONT_HOST } } });
    await (await connect(next)).close();
    await rejects(call(FE, 'UpdateNvmeSubsystem', { nvme_subsystem: { name: 'nvmeSubsystems/front', spec: {} }, update_mask: { paths: ['spec.psk'] } }),
      OpiStatus.FAILED_PRECONDITION, /has controllers .* delete them before clearing a PSK/);
    const got = await call<NvmeSubsystem>(FE, 'GetNvmeSubsystem', { name: 'nvmeSubsystems/front' });
    assert.equal(got.spec?.psk.length, 0);

    await call(FE, 'DeleteNvmeNamespace', { name: 'nvmeSubsystems/front/nvmeNamespaces/n1' });
    await call(FE, 'DeleteNvmeController', { name: 'nvmeSubsystems/front/nvmeControllers/c0' });
    await call(FE, 'DeleteNvmeSubsystem', { name: 'nvmeSubsystems/front' });
    assert.deepEqual(await keyNames(), []);
    assert.deepEqual(keyFiles(), []);
  });
});
