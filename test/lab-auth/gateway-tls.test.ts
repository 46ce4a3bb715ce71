/**
 * NVMe/TCP TLS on both sides of the gateway, driven by its JSON-RPC as SPDK's users drive
 * SPDK's: PSKs added to the keyring from root-only files (keyring_file_add_key), the
 * backend attached over TLS to Linux's nvmet (bdev_nvme_attach_controller psk; nvmet's
 * side handshakes through tlshd with the PSK in the .nvme keyring), and exported on a
 * secure-channel listener (nvmf_subsystem_add_listener secure_channel) to a host with its
 * own PSK (nvmf_subsystem_add_host psk), for `nvme connect --tls` from Linux's host. fio
 * verify end to end; plain NVMe/TCP to the export is refused; save_config names the keys.
 * Runs in the LAB_SUITE=trixie guest (6.12 with NVMe/TCP TLS, nvme-cli 2.13, tlshd).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway, type JsonObject } from '../../lib';
import { disconnectAll, fio, namespaceDevice, run } from '../lab/helpers';
import { ramDisk, startKernelTarget, type KernelTarget } from '../lab/kernel-nvmet';

const BACKEND_NQN = 'nqn.2026-12.io.rdmagate:tls-gw-backend';
const FRONT_NQN = 'nqn.2026-12.io.rdmagate:tls-gw-front';
const GATEWAY_HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:3b7d1e90-2c4f-4a6b-8d0e-1f2a3b4c5d60';
const HOST = 'nqn.2014-08.org.nvmexpress:uuid:3b7d1e90-2c4f-4a6b-8d0e-1f2a3b4c5d61';

const genKey = () => run('nvme', ['gen-tls-key', '--hmac=1']).trim();

describe('NVMe/TCP TLS on both sides of the gateway, through its RPCs (lab, trixie)', function () {
  this.timeout(600000);
  let tlshd: ChildProcess;
  let backend: KernelTarget;
  let gateway: Gateway;
  let dir: string;
  const keys: Record<string, string> = {};
  const rpc = (method: string, params?: JsonObject) => gateway.rpc(method, params);

  async function addKey(name: string, key: string): Promise<void> {
    keys[name] = key;
    const path = join(dir, `${name}.key`);
    writeFileSync(path, `${key}\n`, { mode: 0o600 });
    await rpc('keyring_file_add_key', { name, path });
  }

  before(async () => {
    run('modprobe', ['-a', 'tls', 'nvme-tcp', 'nvmet-tcp']);
    tlshd = spawn('tlshd', ['-s'], { stdio: 'ignore' });
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-psk-'));
    const backendKey = genKey();
    // nvmet finds the gateway's PSK in .nvme under the identity the gateway offers (version 0).
    run('nvme', ['check-tls-key', '--keyring=.nvme', `--keydata=${backendKey}`, '-n', GATEWAY_HOSTNQN, '-c', BACKEND_NQN,
      '--identity=0', '--insert']);
    backend = startKernelTarget({ nqn: BACKEND_NQN, device: ramDisk(64), port: 4450, portId: 4450,
      hosts: [{ nqn: GATEWAY_HOSTNQN }], tls: true });
    gateway = new Gateway({ socketPath: null, configPath: null, log: () => undefined, target: { reactors: 2 } });
    await gateway.start();
    await addKey('backend-psk', backendKey);
    await addKey('front-psk', genKey());
  });

  after(async () => {
    disconnectAll(FRONT_NQN);
    await gateway?.close();
    backend?.close();
    tlshd?.kill();
    spawnSync('bash', ['-c', 'for k in $(keyctl rlist %:.nvme); do keyctl unlink $k %:.nvme; done'], { stdio: 'ignore' });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('attaches the backend over TLS, exports it on a secure channel, and the kernel host runs fio through both', async () => {
    const bdevs = await rpc('bdev_nvme_attach_controller', {
      name: 'Nvme0', trtype: 'tcp', adrfam: 'ipv4', traddr: '127.0.0.1', trsvcid: '4450', subnqn: BACKEND_NQN,
      hostnqn: GATEWAY_HOSTNQN, psk: 'backend-psk',
    }) as string[];
    assert.deepEqual(bdevs, ['Nvme0n1']);
    await rpc('nvmf_create_transport', { trtype: 'TCP' });
    await rpc('nvmf_create_subsystem', { nqn: FRONT_NQN, serial_number: 'TLSGW01' });
    await rpc('nvmf_subsystem_add_ns', { nqn: FRONT_NQN, namespace: { bdev_name: 'Nvme0n1' } });
    await rpc('nvmf_subsystem_add_host', { nqn: FRONT_NQN, host: HOST, psk: 'front-psk' });
    await rpc('nvmf_subsystem_add_listener', { nqn: FRONT_NQN, secure_channel: true,
      listen_address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: '4451' } });

    const connect = (...extra: string[]) => spawnSync('nvme', ['connect', '-t', 'tcp', '-a', '127.0.0.1', '-s', '4451', '-n', FRONT_NQN,
      '--hostnqn', HOST, '-i', '2', ...extra], { encoding: 'utf8', timeout: 300000 });
    assert.notEqual(connect().status, 0, 'plain NVMe/TCP to the secure channel: refused');
    const r = connect('--tls', `--tls-key=${keys['front-psk']}`);
    assert.equal(r.status, 0, r.stderr);
    const dev = await namespaceDevice(FRONT_NQN);
    const jobs = fio(['--name=gw-tls', `--filename=${dev}`, '--ioengine=libaio', '--direct=1', '--rw=randwrite',
      '--bsrange=4k-128k', '--iodepth=8', '--size=8m', '--verify=crc32c', '--verify_fatal=1', '--do_verify=1']);
    assert.equal(jobs[0].error, 0);
    assert.ok(jobs[0].read.io_bytes > 0, 'the verify pass read the data back');
    const qpairs = gateway.target.qpairs();
    assert.equal(qpairs.length, 3);
    for (const q of qpairs) assert.deepEqual(q.tls, { cipher: 'TLS_AES_128_GCM_SHA256', ktls: true }, `front queue ${q.qid}`);
  });

  it('save_config names the keys and the secure channel, and holds no key', async () => {
    const config = JSON.stringify(await rpc('save_config'));
    assert.ok(config.includes('"secure_channel":true'));
    for (const name of Object.keys(keys)) assert.ok(config.includes(`"${name}"`), name);
    for (const [name, key] of Object.entries(keys)) assert.ok(!config.includes(key.split(':')[2]!), `the key of ${name} is not in the config`);
  });
});
