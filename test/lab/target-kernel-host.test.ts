import assert from 'node:assert/strict';
import { readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { Target } from '../../lib';
import { controllerFor, disconnectAll, fio, inLab, namespaceDevice, run, sleep, tryRun, untilQpairs } from './helpers';

const NQN = 'nqn.2026-11.io.rdmagate:kernel-host';
const PORT = 4420;
const SIZE = 64 * 1024 * 1024;

describe('the Linux kernel host against our NVMe/TCP target (lab)', function () {
  this.timeout(600000);
  let target: Target;

  before(function () {
    if (!inLab()) this.skip();
    target = new Target({ reactors: 2 });
    target.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: SIZE, blockSize: 512 });
    const s = target.addSubsystem({ nqn: NQN, serialNumber: 'KHOST0001', modelNumber: 'rdmagate lab' });
    s.addNamespace({ bdev: 'Malloc0', nsid: 1, uuid: '2b7e1516-28ae-4d2a-abf7-158809cf4f3c' });
    target.listen({ transport: 'tcp', address: '127.0.0.1', port: PORT });
  });

  after(() => {
    if (target) {
      disconnectAll(NQN);
      target.closeSync();
    }
  });

  it('nvme discover lists the subsystem', () => {
    const out = JSON.parse(run('nvme', ['discover', '-t', 'tcp', '-a', '127.0.0.1', '-s', String(PORT), '-o', 'json'])) as
      { records: { trtype: string; subnqn: string; traddr: string; trsvcid: string; subtype: string }[] };
    const rec = out.records.find((r) => r.subnqn === NQN);
    assert.ok(rec, `discovery records: ${JSON.stringify(out.records)}`);
    assert.equal(rec.trtype, 'tcp');
    assert.equal(rec.traddr, '127.0.0.1');
    assert.equal(rec.trsvcid, String(PORT));
  });

  it('nvme connect, id-ctrl and id-ns see what the target serves', async () => {
    run('nvme', ['connect', '-t', 'tcp', '-a', '127.0.0.1', '-s', String(PORT), '-n', NQN, '-i', '2']);
    const dev = await namespaceDevice(NQN);
    const ctrl = `/dev/${controllerFor(NQN)}`;
    const id = JSON.parse(run('nvme', ['id-ctrl', ctrl, '-o', 'json'])) as { sn: string; mn: string; subnqn: string; mdts: number; cntrltype: number };
    assert.equal(id.sn.trim(), 'KHOST0001');
    assert.equal(id.mn.trim(), 'rdmagate lab');
    assert.equal(id.subnqn, NQN);
    assert.equal(id.mdts, 5);
    const ns = JSON.parse(run('nvme', ['id-ns', dev, '-o', 'json'])) as { nsze: number; lbafs: { ds: number }[] };
    assert.equal(ns.nsze, SIZE / 512);
    assert.equal(ns.lbafs[0].ds, 9);
    const uuid = readFileSync(`/sys/block/${dev.slice(5)}/uuid`, 'utf8').trim();
    assert.equal(uuid, '2b7e1516-28ae-4d2a-abf7-158809cf4f3c');
    assert.equal(target.controllers().length, 1);
    assert.equal(target.controllers()[0].queues, 3, 'admin + 2 I/O queues');
  });

  it('fio with verify=crc32c, 512 B to 128 KiB, several jobs', async () => {
    const dev = await namespaceDevice(NQN);
    const jobs = fio(['--name=verify', `--filename=${dev}`, '--ioengine=libaio', '--direct=1', '--rw=randwrite',
      '--bsrange=512-128k', '--iodepth=16', '--numjobs=3', '--size=8m', '--offset_increment=16m',
      '--verify=crc32c', '--verify_fatal=1', '--do_verify=1', '--group_reporting=0']);
    assert.equal(jobs.length, 3);
    for (const j of jobs) {
      assert.equal(j.error, 0);
      assert.equal(j.write.io_bytes, 8 * 1024 * 1024);
      assert.ok(j.read.io_bytes > 0, 'the verify pass read the data back');
    }
  });

  it('write-zeroes, deallocate and flush through nvme-cli read back as expected', async () => {
    const dev = await namespaceDevice(NQN);
    run('dd', ['if=/dev/urandom', `of=${dev}`, 'bs=4096', 'count=4', 'oflag=direct']);
    run('nvme', ['write-zeroes', dev, '-s', '0', '-c', '7']);        // blocks 0-7
    run('nvme', ['dsm', dev, '--ad', '-s', '16', '-b', '8']);         // blocks 16-23
    run('nvme', ['flush', dev]);
    const bytes = readBlocks(dev, 0, 32);
    assert.ok(bytes.subarray(0, 4096).equals(Buffer.alloc(4096)), 'write-zeroes');
    assert.ok(!bytes.subarray(4096, 8192).equals(Buffer.alloc(4096)), 'untouched blocks keep their data');
    assert.ok(bytes.subarray(8192, 12288).equals(Buffer.alloc(4096)), 'deallocated');
  });

  it('disconnects cleanly, and the target forgets the controller', async () => {
    run('nvme', ['disconnect', '-n', NQN]);
    assert.equal(controllerFor(NQN), undefined);
    const end = Date.now() + 5000;
    while (target.controllers().length && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.equal(target.controllers().length, 0);
  });

  it('connects with header and data digests and passes a verify run', async () => {
    run('nvme', ['connect', '-t', 'tcp', '-a', '127.0.0.1', '-s', String(PORT), '-n', NQN, '-i', '1', '-g', '-G']);
    const dev = await namespaceDevice(NQN);
    const jobs = fio(['--name=digests', `--filename=${dev}`, '--ioengine=libaio', '--direct=1', '--rw=randrw',
      '--bsrange=4k-64k', '--iodepth=8', '--size=4m', '--verify=crc32c', '--verify_fatal=1', '--do_verify=1']);
    assert.equal(jobs[0].error, 0);
    run('nvme', ['disconnect', '-n', NQN]);
  });

  it('a file bdev that grows: the kernel host learns the new size from the notice, and writes there land in the file', async () => {
    const nqn = 'nqn.2026-11.io.rdmagate:grow';
    const file = '/tmp/rdmagate-grow.img';
    writeFileSync(file, Buffer.alloc(0));
    truncateSync(file, 16 << 20);
    target.createBdev({ type: 'file', name: 'Grow0', path: file, blockSize: 512 });
    target.addSubsystem({ nqn, serialNumber: 'GROW0001' }).addNamespace({ bdev: 'Grow0', nsid: 1 });
    const qpairs = target.qpairs().length;
    try {
      run('nvme', ['connect', '-t', 'tcp', '-a', '127.0.0.1', '-s', String(PORT), '-n', nqn]);
      const dev = await namespaceDevice(nqn);
      const sectors = () => Number(readFileSync(`/sys/block/${dev.slice(5)}/size`, 'utf8'));
      assert.equal(sectors(), (16 << 20) / 512);
      truncateSync(file, 48 << 20);
      assert.equal(target.resizeBdev('Grow0'), true);
      const end = Date.now() + 20000;
      while (sectors() !== (48 << 20) / 512 && Date.now() < end) await sleep(100);
      assert.equal(sectors(), (48 << 20) / 512, 'the block device grew without a rescan by hand');
      const last = (48 << 20) / 512 - 8;
      run('sh', ['-c', `printf 'grown%.0s' $(seq 800) | head -c 4096 | dd of=${dev} bs=512 seek=${last} count=8 oflag=direct status=none`]);
      const onFile = readFileSync(file).subarray(last * 512, last * 512 + 4096);
      assert.equal(onFile.subarray(0, 10).toString(), 'growngrown');
      run('nvme', ['disconnect', '-n', nqn]);
    } finally {
      disconnectAll(nqn);
      await untilQpairs(target, qpairs);
      target.removeSubsystem(nqn);
      target.deleteBdev('Grow0');
      rmSync(file, { force: true });
    }
  });

  it('rejects a connect to an unknown subsystem, and one from a host not allowed', () => {
    const unknown = tryRun('nvme', ['connect', '-t', 'tcp', '-a', '127.0.0.1', '-s', String(PORT), '-n', 'nqn.2026-11.io.rdmagate:nope']);
    assert.notEqual(unknown.status, 0);
    target.subsystem(NQN)!.allowAnyHost(false);
    const denied = tryRun('nvme', ['connect', '-t', 'tcp', '-a', '127.0.0.1', '-s', String(PORT), '-n', NQN]);
    assert.notEqual(denied.status, 0);
    assert.equal(controllerFor(NQN), undefined);
    target.subsystem(NQN)!.allowAnyHost(true);
  });
});

function readBlocks(dev: string, first: number, count: number): Buffer {
  const out = run('sh', ['-c', `dd if=${dev} bs=512 skip=${first} count=${count} iflag=direct status=none | od -An -v -tx1`]);
  return Buffer.from(out.replace(/\s+/g, ''), 'hex');
}
