/**
 * DH-HMAC-CHAP with Linux as the host: `nvme connect --dhchap-secret [--dhchap-ctrl-secret]`
 * to our target over NVMe/TCP and NVMe/RDMA (Soft-RoCE), keys made by nvme-cli's
 * gen-dhchap-key, data checked by fio. Refusals: a wrong key, no key, a key for another
 * host, a wrong controller key; each refused, and the target goes on serving.
 * Runs in the lab guest on a kernel with NVME_HOST_AUTH (LAB_SUITE=trixie: 6.12).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Target } from '../../lib';
import { controllerFor, disconnectAll, fio, namespaceDevice, run } from '../lab/helpers';

const NQN = 'nqn.2026-12.io.rdmagate:dhchap-kernel-host';
const HOST = 'nqn.2014-08.org.nvmexpress:uuid:6d1e5f3a-9b0c-4c7e-8a41-2f1d7e3b9c01';
const OTHER = 'nqn.2014-08.org.nvmexpress:uuid:6d1e5f3a-9b0c-4c7e-8a41-2f1d7e3b9c02';
const RDMA_ADDRESS = '192.168.77.1';  // rxe0 (scripts/lab-rdma-env.sh)
const PORT = 4420;

/** A secret as Linux's tools make it: `nvme gen-dhchap-key --hmac=N --nqn=...`. */
function genKey(hmac: number, nqn: string): string {
  return run('nvme', ['gen-dhchap-key', `--hmac=${hmac}`, `--nqn=${nqn}`]).trim();
}

/** The kernel's log since `mark` lines. */
function dmesgSince(mark: number): string {
  return run('dmesg', []).split('\n').slice(mark).join('\n');
}
const dmesgLines = () => run('dmesg', []).split('\n').length;

/** Each queue of our target's controllers: qid, and what its DH-HMAC-CHAP negotiated. */
function queueAuth(target: Target): string[] {
  return target.qpairs().map((q) => `${q.qid} ${q.auth?.state} ${q.auth?.digest} ${q.auth?.dhgroup} ${q.auth?.bidirectional}`).sort();
}

/** nvme connect with 2 I/O queues; slow under emulation, where FFDHE-8192 takes seconds per queue. */
function connect(transport: 'tcp' | 'rdma', hostnqn: string, ...extra: string[]) {
  const address = transport === 'tcp' ? '127.0.0.1' : RDMA_ADDRESS;
  const args = ['connect', '-t', transport, '-a', address, '-s', String(PORT), '-n', NQN, '--hostnqn', hostnqn, '-i', '2', ...extra];
  const r = spawnSync('nvme', args, { encoding: 'utf8', timeout: 300000 });
  return { status: r.status, stderr: `${r.stderr ?? ''}${r.error ? ` (${r.error.message})` : ''}` };
}

describe('the Linux kernel host authenticates to our target with DH-HMAC-CHAP (lab, 6.12)', function () {
  this.timeout(600000);
  let target: Target;
  let hostKey: string;
  let ctrlKey: string;

  before(() => {
    assert.ok(readFileSync('/proc/version', 'utf8').match(/Linux version 6\.(1[2-9]|[2-9]\d)/), 'the lab-auth suite runs on 6.12 or later');
    hostKey = genKey(1, HOST);
    ctrlKey = genKey(3, NQN);
    target = new Target({ reactors: 2 });
    target.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: 64 << 20, blockSize: 512 });
    const s = target.addSubsystem({ nqn: NQN, allowAnyHost: false });
    s.addNamespace({ bdev: 'Malloc0', nsid: 1 });
    s.addHost({ nqn: HOST, dhchapKey: hostKey, dhchapCtrlrKey: ctrlKey });
    s.addHost({ nqn: OTHER, dhchapKey: genKey(1, OTHER) });
    target.listen({ transport: 'tcp', address: '127.0.0.1', port: PORT });
    target.listen({ transport: 'rdma', address: RDMA_ADDRESS, port: PORT });
  });

  afterEach(() => disconnectAll(NQN));
  after(() => target?.closeSync());

  for (const transport of ['tcp', 'rdma'] as const) {
    it(`${transport}: nvme connect --dhchap-secret, on the admin and every I/O queue, then fio verify`, async () => {
      const mark = dmesgLines();
      const r = connect(transport, HOST, '--dhchap-secret', hostKey);
      assert.equal(r.status, 0, r.stderr);
      const dev = await namespaceDevice(NQN);
      assert.match(dmesgSince(mark), /qid 0: authenticated/);
      // Every queue authenticated; the target prefers the strongest hash and group the host offers.
      assert.deepEqual(queueAuth(target), ['0 completed sha512 ffdhe8192 false', '1 completed sha512 ffdhe8192 false',
        '2 completed sha512 ffdhe8192 false']);
      const jobs = fio(['--name=dhchap', `--filename=${dev}`, '--ioengine=libaio', '--direct=1', '--rw=randwrite',
        '--bsrange=4k-64k', '--iodepth=8', '--size=4m', '--verify=crc32c', '--verify_fatal=1', '--do_verify=1']);
      assert.equal(jobs[0].error, 0);
      assert.ok(jobs[0].read.io_bytes > 0, 'the verify pass read the data back');
      assert.equal(target.controllers().length, 1);
    });

    it(`${transport}: two-way, --dhchap-ctrl-secret: the kernel checks our controller's response`, async () => {
      const mark = dmesgLines();
      const r = connect(transport, HOST, '--dhchap-secret', hostKey, '--dhchap-ctrl-secret', ctrlKey);
      assert.equal(r.status, 0, r.stderr);
      await namespaceDevice(NQN);
      assert.match(dmesgSince(mark), /qid 0: controller authenticated/);
      assert.deepEqual(queueAuth(target).map((q) => q.split(' ').pop()), ['true', 'true', 'true']);
      const id = JSON.parse(run('nvme', ['id-ctrl', `/dev/${controllerFor(NQN)}`, '-o', 'json'])) as { subnqn: string };
      assert.equal(id.subnqn, NQN);
    });
  }

  it('refuses a wrong secret, no secret, and another host\'s secret; then still serves the right one', async () => {
    const wrong = connect('tcp', HOST, '--dhchap-secret', genKey(1, HOST));
    assert.notEqual(wrong.status, 0, 'a wrong secret is refused');
    const none = connect('tcp', HOST);
    assert.notEqual(none.status, 0, 'no secret is refused');
    const otherKey = connect('tcp', OTHER, '--dhchap-secret', hostKey);
    assert.notEqual(otherKey.status, 0, 'a secret of another host is refused');
    const badCtrl = connect('tcp', HOST, '--dhchap-secret', hostKey, '--dhchap-ctrl-secret', genKey(3, NQN));
    assert.notEqual(badCtrl.status, 0, 'the kernel refuses our controller when it expects another key');
    assert.deepEqual(target.controllers().filter((c) => c.hostnqn === HOST && c.queues > 1), []);
    const right = connect('tcp', HOST, '--dhchap-secret', hostKey);
    assert.equal(right.status, 0, right.stderr);
    await namespaceDevice(NQN);
  });

  it('applies nvmf_set_config-style digests and DH groups, and rotates keys without dropping a live host', async () => {
    target.setDhchapConfig({ digests: ['sha384'], dhgroups: ['ffdhe3072'] });
    assert.equal(connect('tcp', HOST, '--dhchap-secret', hostKey).status, 0);
    const dev = await namespaceDevice(NQN);
    assert.deepEqual(queueAuth(target), ['0 completed sha384 ffdhe3072 false', '1 completed sha384 ffdhe3072 false',
      '2 completed sha384 ffdhe3072 false']);
    const rotated = genKey(2, HOST);
    target.subsystem(NQN)!.setHostKeys(HOST, { dhchapKey: rotated });
    // The connected host goes on: its queues authenticated with the old key.
    run('dd', [`if=${dev}`, 'of=/dev/null', 'bs=4096', 'count=16', 'iflag=direct']);
    disconnectAll(NQN);
    assert.notEqual(connect('tcp', HOST, '--dhchap-secret', hostKey).status, 0, 'the old key no longer works');
    assert.equal(connect('tcp', HOST, '--dhchap-secret', rotated).status, 0, 'the new one does');
    target.setDhchapConfig({ digests: ['sha512', 'sha384', 'sha256'], dhgroups: ['ffdhe8192', 'ffdhe6144', 'ffdhe4096', 'ffdhe3072', 'ffdhe2048', 'null'] });
  });
});
