/**
 * DH-HMAC-CHAP through the gateway, driven by its JSON-RPC as SPDK's users drive SPDK's:
 * keys added to the keyring from root-only files (keyring_file_add_key), the backend
 * attached to Linux's nvmet with its keys (bdev_nvme_attach_controller dhchap_key,
 * dhchap_ctrlr_key), and the export's host given its own (nvmf_subsystem_add_host), for
 * `nvme connect --dhchap-secret` from Linux's host over NVMe/RDMA. fio verify end to end;
 * then a rotation (nvmf_subsystem_set_keys) that the connected kernel host re-authenticates
 * to on request, and save_config, which names keys and holds no secret.
 * Runs in the lab guest on a kernel with NVME_HOST_AUTH and NVME_TARGET_AUTH (6.12).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway, type JsonObject } from '../../lib';
import { controllerFor, disconnectAll, fio, namespaceDevice, run, sleep } from '../lab/helpers';
import { ramDisk, startKernelTarget, type KernelTarget } from '../lab/kernel-nvmet';

const BACKEND_NQN = 'nqn.2026-12.io.rdmagate:dhchap-gw-backend';
const FRONT_NQN = 'nqn.2026-12.io.rdmagate:dhchap-gw-front';
const GATEWAY_HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:7a3c0f52-1e44-4a8e-9d1b-5b2e6c4f0a10';
const HOST = 'nqn.2014-08.org.nvmexpress:uuid:7a3c0f52-1e44-4a8e-9d1b-5b2e6c4f0a11';
const RDMA_ADDRESS = '192.168.77.1';

const genKey = (hmac: number, nqn: string) => run('nvme', ['gen-dhchap-key', `--hmac=${hmac}`, `--nqn=${nqn}`]).trim();

describe('DH-HMAC-CHAP on both sides of the gateway, through its RPCs (lab, 6.12)', function () {
  this.timeout(600000);
  let backend: KernelTarget;
  let gateway: Gateway;
  let dir: string;
  const secrets: Record<string, string> = {};
  const rpc = (method: string, params?: JsonObject) => gateway.rpc(method, params);

  /** A key file as an operator makes it: mode 0600, then keyring_file_add_key. */
  async function addKey(name: string, secret: string): Promise<void> {
    secrets[name] = secret;
    const path = join(dir, `${name}.key`);
    writeFileSync(path, `${secret}\n`, { mode: 0o600 });
    await rpc('keyring_file_add_key', { name, path });
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-keys-'));
    const backendHostKey = genKey(2, GATEWAY_HOSTNQN);
    const backendCtrlKey = genKey(2, BACKEND_NQN);
    backend = startKernelTarget({ nqn: BACKEND_NQN, device: ramDisk(64), port: 4440, portId: 4440,
      hosts: [{ nqn: GATEWAY_HOSTNQN, dhchapKey: backendHostKey, dhchapCtrlKey: backendCtrlKey, hash: 'hmac(sha384)', dhgroup: 'ffdhe3072' }] });
    gateway = new Gateway({ socketPath: null, configPath: null, log: () => undefined, target: { reactors: 2 } });
    await gateway.start();
    await addKey('backend-host', backendHostKey);
    await addKey('backend-ctrl', backendCtrlKey);
    await addKey('front-host', genKey(1, HOST));
    await addKey('front-ctrl', genKey(3, FRONT_NQN));
  });

  after(async () => {
    disconnectAll(FRONT_NQN);
    await gateway?.close();
    backend?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('attaches the backend with its keys, exports it to a host with its own, and the kernel host runs fio through both', async () => {
    const bdevs = await rpc('bdev_nvme_attach_controller', {
      name: 'Nvme0', trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: '4440', subnqn: BACKEND_NQN,
      hostnqn: GATEWAY_HOSTNQN, dhchap_key: 'backend-host', dhchap_ctrlr_key: 'backend-ctrl',
    }) as string[];
    assert.deepEqual(bdevs, ['Nvme0n1']);
    await rpc('nvmf_create_transport', { trtype: 'RDMA' });
    await rpc('nvmf_create_subsystem', { nqn: FRONT_NQN, serial_number: 'DHCHAPGW01' });
    await rpc('nvmf_subsystem_add_ns', { nqn: FRONT_NQN, namespace: { bdev_name: 'Nvme0n1' } });
    await rpc('nvmf_subsystem_add_host', { nqn: FRONT_NQN, host: HOST, dhchap_key: 'front-host', dhchap_ctrlr_key: 'front-ctrl' });
    await rpc('nvmf_subsystem_add_listener', { nqn: FRONT_NQN,
      listen_address: { trtype: 'RDMA', adrfam: 'IPv4', traddr: RDMA_ADDRESS, trsvcid: '4441' } });

    const refused = spawnSync('nvme', ['connect', '-t', 'rdma', '-a', RDMA_ADDRESS, '-s', '4441', '-n', FRONT_NQN, '--hostnqn', HOST],
      { encoding: 'utf8', timeout: 300000 });
    assert.notEqual(refused.status, 0, 'no secret: refused');
    run('nvme', ['connect', '-t', 'rdma', '-a', RDMA_ADDRESS, '-s', '4441', '-n', FRONT_NQN, '--hostnqn', HOST, '-i', '2',
      '--dhchap-secret', secrets['front-host'], '--dhchap-ctrl-secret', secrets['front-ctrl']], 300000);
    const dev = await namespaceDevice(FRONT_NQN);
    const jobs = fio(['--name=gw-auth', `--filename=${dev}`, '--ioengine=libaio', '--direct=1', '--rw=randwrite',
      '--bsrange=4k-128k', '--iodepth=8', '--size=8m', '--verify=crc32c', '--verify_fatal=1', '--do_verify=1']);
    assert.equal(jobs[0].error, 0);
    const qpairs = await rpc('nvmf_subsystem_get_qpairs', { nqn: FRONT_NQN }) as { qid: number; auth?: JsonObject }[];
    assert.equal(qpairs.length, 3);
    for (const q of qpairs) assert.deepEqual(q.auth, { state: 'completed', digest: 'sha512', dhgroup: 'ffdhe8192' });
  });

  it('rotates the host\'s keys (nvmf_subsystem_set_keys): the connected kernel host re-authenticates with the new one on request', async () => {
    await addKey('front-host-2', genKey(1, HOST));
    await rpc('nvmf_subsystem_set_keys', { nqn: FRONT_NQN, host: HOST, dhchap_key: 'front-host-2', dhchap_ctrlr_key: 'front-ctrl' });
    const dev = await namespaceDevice(FRONT_NQN);
    const ctrl = controllerFor(FRONT_NQN)!;
    const authenticated = () => run('dmesg', []).split('\n').filter((l) => l.includes(`${ctrl}: qid 0: authenticated`)).length;
    const before = authenticated();
    // Linux re-authenticates every queue when its secret is written (sysfs), and goes on
    // with its I/O meanwhile.
    writeFileSync(`/sys/class/nvme/${ctrl}/dhchap_secret`, secrets['front-host-2']);
    const end = Date.now() + 120000;
    while (authenticated() === before && Date.now() < end) await sleep(200);
    assert.equal(authenticated(), before + 1, 'the admin queue re-authenticated with the new key');
    const jobs = fio(['--name=after-rotation', `--filename=${dev}`, '--ioengine=libaio', '--direct=1', '--rw=randrw',
      '--bs=4k', '--iodepth=4', '--size=4m', '--offset=16m', '--verify=crc32c', '--verify_fatal=1', '--do_verify=1']);
    assert.equal(jobs[0].error, 0);
    assert.equal(readFileSync(`/sys/class/nvme/${ctrl}/state`, 'utf8').trim(), 'live', 'the controller stayed connected');
    const qpairs = await rpc('nvmf_subsystem_get_qpairs', { nqn: FRONT_NQN }) as { auth?: { state: string } }[];
    assert.deepEqual(qpairs.map((q) => q.auth?.state), ['completed', 'completed', 'completed']);
    // And the old key is refused to a new connection.
    const old = spawnSync('nvme', ['connect', '-t', 'rdma', '-a', RDMA_ADDRESS, '-s', '4441', '-n', FRONT_NQN, '--hostnqn', HOST,
      '--dhchap-secret', secrets['front-host']!, '--duplicate-connect'], { encoding: 'utf8', timeout: 300000 });
    assert.notEqual(old.status, 0, 'the old key no longer admits a host');
  });

  it('save_config names the keys and their files, and holds no secret', async () => {
    const config = JSON.stringify(await rpc('save_config'));
    for (const name of Object.keys(secrets)) assert.ok(config.includes(`"${name}"`), name);
    for (const [name, secret] of Object.entries(secrets)) {
      assert.ok(!config.includes(secret.split(':')[2]!), `the secret of ${name} is not in the config`);
    }
  });
});
