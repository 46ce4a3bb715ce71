/**
 * A CSI volume that requires NVMe/TCP TLS, with Linux's nvme-cli as the node's host: the
 * controller publishes it with a PSK derived from a master secret (the CO's Secret) for the
 * volume and the node, the gateway's keyring gets it from a 0600 file and exports the volume
 * on its TLS address (a secure channel), and the `default` node role stages it with
 * `nvme connect --tls --tls-key` (tlshd does Linux's handshake); a stage without the Secret
 * is refused before anything connects, and unpublish leaves no key behind.
 * Runs in the LAB_SUITE=trixie guest (6.12 with NVMe/TCP TLS, nvme-cli 2.13, tlshd).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { csiLab } from './csi-harness';

describe('a CSI volume that requires NVMe/TCP TLS, staged by the kernel host (lab, trixie)', function () {
  this.timeout(600000);
  let tlshd: ChildProcess;

  before(() => {
    spawnSync('modprobe', ['-a', 'tls', 'nvme-tcp']);
    tlshd = spawn('tlshd', ['-s'], { stdio: 'ignore' });
  });

  const lab = csiLab({
    name: 'rdmagate-csi-tls-lab',
    tcp: { traddr: '127.0.0.1', trsvcid: 4460 },
    tls: { traddr: '127.0.0.1', trsvcid: 4461 },
    secrets: { 'tls-master-secret': 'a master secret of the lab, at least 32 bytes long' },
  });

  after(() => {
    tlshd?.kill();
  });

  it('publishes with a per-volume PSK, stages with nvme connect --tls --tls-key, and cleans up', async () => {
    const { gateway, keyDir, logged } = lab;
    const v = await lab.createAndPublish('lab-tls', { transport: 'tcp', tls: 'true' });
    assert.equal(readdirSync(keyDir).length, 1, 'one PSK file');
    assert.equal((await gateway.rpc('keyring_get_keys') as unknown[]).length, 1);
    const listeners = gateway.target.listeners();
    assert.ok(listeners.some((l) => l.trsvcid === 4461 && l.secureChannel), 'the volume is exported on the secure channel');

    const ctrl = await lab.stageWithSecret(v);
    // Over TLS on every queue, the record layer in our kernel's hands on the gateway's side too.
    assert.ok(readFileSync(`/sys/class/nvme/${ctrl}/tls_key`, 'utf8').trim().length > 0, 'the kernel host used a TLS key');
    const qpairs = gateway.target.qpairs();
    assert.ok(qpairs.length >= 2 && qpairs.every((q) => q.tls?.ktls === true), JSON.stringify(qpairs.map((q) => q.tls)));

    await lab.unstageAndUnpublish(v);
    assert.deepEqual(await gateway.rpc('keyring_get_keys'), [], 'the key left the keyring');
    assert.ok(!existsSync(keyDir) || readdirSync(keyDir).length === 0, 'and its file is gone');
    assert.ok(!logged.some((l) => l.includes('NVMeTLSkey-1:')), 'no PSK in the logs');
  });
});
