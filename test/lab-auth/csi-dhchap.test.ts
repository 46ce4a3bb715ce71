/**
 * A CSI volume that requires DH-HMAC-CHAP, with Linux's nvme-cli as the node's host: the
 * controller publishes it with keys derived from a master secret (the CO's Secret), the
 * gateway's keyring gets them from 0600 files, and the `default` node role stages it with
 * `nvme connect --dhchap-secret --dhchap-ctrl-secret`; a stage without the Secret is refused
 * before anything connects, and unpublish leaves no key behind.
 * Runs in the lab guest on a kernel with NVME_HOST_AUTH (6.12).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { csiLab } from './csi-harness';

describe('a CSI volume that requires DH-HMAC-CHAP, staged by the kernel host (lab, 6.12)', function () {
  this.timeout(600000);
  const lab = csiLab({
    name: 'rdmagate-csi-dhchap-lab',
    tcp: { traddr: '127.0.0.1', trsvcid: 4450 },
    secrets: { 'dhchap-master-secret': 'a master secret of the lab, at least 32 bytes long' },
  });

  it('publishes with per-volume keys, stages with nvme connect --dhchap-secret, and cleans up', async () => {
    const { gateway, keyDir, logged } = lab;
    const v = await lab.createAndPublish('lab-dhchap', { transport: 'tcp', dhchap: 'bidirectional' });
    const keyFiles = readdirSync(keyDir);
    assert.equal(keyFiles.length, 2, 'a host key and a controller key');
    const keys = await gateway.rpc('keyring_get_keys') as { name: string }[];
    assert.equal(keys.length, 2);

    const ctrl = await lab.stageWithSecret(v);
    // The kernel authenticated both ways, with the keys the controller derived and set.
    assert.match(readFileSync(`/sys/class/nvme/${ctrl}/dhchap_ctrl_secret`, 'utf8'), /^DHHC-1:00:/);
    const qpairs = await gateway.rpc('nvmf_subsystem_get_qpairs', { nqn: v.pc.subnqn! }) as { auth?: { state: string } }[];
    assert.ok(qpairs.length >= 2 && qpairs.every((q) => q.auth?.state === 'completed'), JSON.stringify(qpairs));

    await lab.unstageAndUnpublish(v);
    assert.deepEqual(await gateway.rpc('keyring_get_keys'), [], 'the keys left the keyring');
    assert.ok(!existsSync(keyDir) || readdirSync(keyDir).length === 0, 'and their files are gone');
    // No log line holds a key: the derived ones are DHHC-1:00 secrets, and no such string was logged.
    assert.ok(!logged.some((l) => l.includes('DHHC-1:')), 'no secret in the logs');
  });
});
