import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { BufferPool, RdmaConnectError, Target, rdma } from '../../lib';
import { controllerFor, disconnectAll, fio, inLab, namespaceDevice, run, tryRun } from './helpers';
import { settledResources } from '../rdma/helpers';

const NQN = 'nqn.2026-11.io.rdmagate:kernel-rdma-host';
const A1 = '192.168.77.1';  // rxe0 (scripts/lab-rdma-env.sh)
const A2 = '192.168.77.2';  // rxe1
const PORT = 4420;

function controllersOf(nqn: string): string[] {
  return run('sh', ['-c', `grep -l '^${nqn}$' /sys/class/nvme/*/subsysnqn 2>/dev/null || true`]).split('\n').filter(Boolean);
}

describe('the Linux kernel nvme-rdma host against our NVMe/RDMA target (lab, Soft-RoCE)', function () {
  this.timeout(600000);
  let target: Target;
  let startCounts: rdma.RdmaResourceCounts;

  before(function () {
    if (!inLab() || rdma.devices().length < 2) this.skip();
    startCounts = rdma.resources();
    target = new Target({ reactors: 2, inCapsuleDataSize: 4096 });
    target.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: 64 << 20, blockSize: 512 });
    target.addSubsystem({ nqn: NQN, serialNumber: 'RDMA0001' }).addNamespace({ bdev: 'Malloc0', nsid: 1 });
    target.listen({ transport: 'rdma', address: A1, port: PORT });
    target.listen({ transport: 'rdma', address: A2, port: PORT });
  });

  after(() => {
    if (!target) return;
    disconnectAll(NQN);
    target.closeSync();
  });

  it('nvme discover -t rdma lists the subsystem on both interfaces', () => {
    const out = JSON.parse(run('nvme', ['discover', '-t', 'rdma', '-a', A1, '-s', String(PORT), '-o', 'json'])) as
      { records: { trtype: string; subnqn: string; traddr: string }[] };
    const recs = out.records.filter((r) => r.subnqn === NQN);
    assert.deepEqual(recs.map((r) => [r.trtype, r.traddr]).sort(), [['rdma', A1], ['rdma', A2]]);
  });

  it('nvme connect -t rdma, then fio verify=crc32c from 512 B to 128 KiB on several I/O queues', async () => {
    run('nvme', ['connect', '-t', 'rdma', '-a', A1, '-s', String(PORT), '-n', NQN, '-i', '2']);
    const dev = await namespaceDevice(NQN);
    const id = JSON.parse(run('nvme', ['id-ctrl', `/dev/${controllerFor(NQN)}`, '-o', 'json'])) as { sn: string; subnqn: string };
    assert.equal(id.sn.trim(), 'RDMA0001');
    const jobs = fio(['--name=rdma-verify', `--filename=${dev}`, '--ioengine=libaio', '--direct=1', '--rw=randwrite',
      '--bsrange=512-128k', '--iodepth=16', '--numjobs=2', '--size=8m', '--offset_increment=16m',
      '--verify=crc32c', '--verify_fatal=1', '--do_verify=1']);
    for (const j of jobs) {
      assert.equal(j.error, 0);
      assert.ok(j.read.io_bytes > 0);
    }
    assert.equal(target.controllers()[0].queues, 3);
    // Each queue is a connection of its own, handed to the target's reactors in turn.
    const reactors = target.qpairs().filter((q) => q.transport === 'rdma').map((q) => q.reactor);
    assert.equal(reactors.length, 3);
    assert.deepEqual([...new Set(reactors)].sort(), ['nvmf-tgt-0', 'nvmf-tgt-1'], 'queues on both reactors');
    // Capsules land in one shared receive queue per device and reactor: one device here, two reactors.
    const srqSupported = rdma.devices().every((d) => d.limits.maxSrq > 0);
    assert.equal(rdma.resources().srqs - startCounts.srqs, srqSupported ? 2 : 0);
    // And complete on one completion queue per reactor and device.
    assert.equal(rdma.resources().cqs - startCounts.cqs, 2, 'three queue pairs, one CQ per reactor');
  });

  it('moves I/O data by RDMA READ/WRITE with no CPU copies beyond in-capsule data', async () => {
    const dev = await namespaceDevice(NQN);
    const stats = () => target.qpairs().filter((q) => q.transport === 'rdma' && q.qid > 0);
    const start = stats().reduce((a, q) => ({ r: a.r + q.rdmaReadBytes, c: a.c + q.bytesCopied }), { r: 0, c: 0 });
    // 64 KiB writes are far over the 4 KiB in-capsule size: all of it must come by RDMA READ.
    fio(['--name=big', `--filename=${dev}`, '--ioengine=libaio', '--direct=1', '--rw=write', '--bs=64k',
      '--iodepth=4', '--size=4m']);
    const after = stats().reduce((a, q) => ({ r: a.r + q.rdmaReadBytes, c: a.c + q.bytesCopied }), { r: 0, c: 0 });
    assert.equal(after.r - start.r, 4 << 20, 'every byte by RDMA READ');
    assert.equal(after.c - start.c, 0, 'no CPU copies');
  });

  it('disconnects and reconnects, through the second interface too', async () => {
    run('nvme', ['disconnect', '-n', NQN]);
    assert.equal(controllerFor(NQN), undefined);
    run('nvme', ['connect', '-t', 'rdma', '-a', A1, '-s', String(PORT), '-n', NQN, '-i', '1']);
    run('nvme', ['connect', '-t', 'rdma', '-a', A2, '-s', String(PORT), '-n', NQN, '-i', '1']);
    assert.equal(controllersOf(NQN).length, 2, 'one controller per interface');
    const dev = await namespaceDevice(NQN);
    const jobs = fio(['--name=two-paths', `--filename=${dev}`, '--ioengine=libaio', '--direct=1', '--rw=randrw',
      '--bs=4k', '--iodepth=8', '--size=4m', '--verify=crc32c', '--verify_fatal=1', '--do_verify=1']);
    assert.equal(jobs[0].error, 0);
    const peers = target.controllers().map((c) => c.peer.split(':')[0]).sort();
    assert.deepEqual(peers, [A1, A2]);
    // Receive queues are the target's, per device and reactor: a third listener, on a device in
    // use already, adds queue pairs but no receive queue.
    const srqSupported = rdma.devices().every((d) => d.limits.maxSrq > 0);
    const srqs = () => rdma.resources().srqs - startCounts.srqs;
    assert.equal(srqs(), srqSupported ? 4 : 0, 'two devices, two reactors');
    const third = target.listen({ transport: 'rdma', address: A1, port: PORT + 1 });
    run('nvme', ['connect', '-t', 'rdma', '-a', A1, '-s', String(third.port), '-n', NQN, '-i', '1']);
    assert.equal(controllersOf(NQN).length, 3);
    assert.equal(srqs(), srqSupported ? 4 : 0, 'the third listener shares them');
    assert.equal(rdma.resources().qps - startCounts.qps, 6);
    assert.equal(rdma.resources().cqs - startCounts.cqs, 4, 'six queue pairs complete on one CQ per device and reactor');
    run('nvme', ['disconnect', '-n', NQN]);
    third.close();
  });

  it('rejects connect requests with bad NVMe/RDMA private data with the spec status', async () => {
    // (A too-short request cannot be sent here: the IB CM pads private data to 56 bytes.)
    const cases: [string, Uint8Array, number][] = [
      ['bad record format', pdata({ recfmt: 1 }), 2],
      ['bad queue id', pdata({ qid: 5000 }), 3],
      ['bad host send queue size', pdata({ hsqsize: 0 }), 4],
      ['bad host receive queue size', pdata({ hrqsize: 0 }), 5],
    ];
    for (const [what, pd, sts] of cases) {
      await assert.rejects(rdma.connect({ address: A1, port: PORT, privateData: pd }), (e: RdmaConnectError) => {
        assert.equal(e.code, 'ERR_RDMA_CONNECT', what);
        assert.ok(e.privateData.length >= 4, `${what}: reject private data`);
        const view = Buffer.from(e.privateData);
        assert.equal(view.readUInt16LE(2), sts, what);
        return true;
      });
    }
  });

  it('fails only the request whose keyed SGL has a bad key; the target serves others', async () => {
    // A raw NVMe/RDMA admin connect whose Connect data is behind a key that does not exist.
    const pool = new BufferPool({ chunkSize: 8192 });
    const conn = await rdma.connect({ address: A1, port: PORT, privateData: pdata({}) });
    const rx = pool.acquire();
    const got = conn.postReceive(rx);
    const cmd = pool.acquire();
    cmd.fill(0);
    const v = Buffer.from(cmd.buffer, cmd.byteOffset, 64);
    v.writeUInt8(0x7f, 0); v.writeUInt8(0x40, 1); v.writeUInt16LE(7, 2); v.writeUInt8(0x01, 4);
    v.writeBigUInt64LE(0x1000n, 24); v.writeUIntLE(1024, 32, 3); v.writeUInt32LE(0xdeadbeef, 35); v.writeUInt8(0x40, 39);
    v.writeUInt16LE(31, 44);
    await conn.send(cmd, { length: 64 });
    // The RDMA READ fails: the queue pair goes to error and the target drops it.
    await got.then(() => undefined, () => undefined);
    await new Promise<void>((r) => (conn.state === 'closed' ? r() : conn.once('disconnect', () => r())));
    for (const b of [rx, cmd]) b.release();
    pool.close();
    // Everyone else is unaffected.
    run('nvme', ['connect', '-t', 'rdma', '-a', A1, '-s', String(PORT), '-n', NQN, '-i', '1']);
    const dev = await namespaceDevice(NQN);
    assert.equal(fio(['--name=after', `--filename=${dev}`, '--ioengine=libaio', '--direct=1', '--rw=read', '--bs=4k', '--size=1m'])[0].error, 0);
    run('nvme', ['disconnect', '-n', NQN]);
  });

  it('frees QPs, CQs and cm ids after the hosts are gone', async () => {
    const now = await settledResources((n) => n.qps === startCounts.qps && n.cqs === startCounts.cqs
      && n.cmIds === startCounts.cmIds + 2);
    assert.equal(now.qps, startCounts.qps);
    assert.equal(now.cqs, startCounts.cqs);
    assert.equal(now.cmIds - startCounts.cmIds, 2, 'only the two listeners remain');
    assert.equal(tryRun('nvme', ['list-subsys']).status, 0);
  });

  it('closing the target frees every verbs object it made: QPs, CQs, MRs, PDs, cm ids', async () => {
    // A host that connected but never sent Connect must be torn down too.
    const idle = await rdma.connect({ address: A1, port: PORT, privateData: pdata({}) });
    target.closeSync();
    await new Promise<void>((r) => (idle.state === 'closed' ? r() : idle.once('disconnect', () => r())));
    if (global.gc) global.gc();
    assert.deepEqual(await settledResources((n) => isDeepStrictEqual(n, startCounts)), startCounts);
  });
});

function pdata(o: { recfmt?: number; qid?: number; hrqsize?: number; hsqsize?: number }): Uint8Array {
  const b = Buffer.alloc(32);
  b.writeUInt16LE(o.recfmt ?? 0, 0);
  b.writeUInt16LE(o.qid ?? 0, 2);
  b.writeUInt16LE(o.hrqsize ?? 32, 4);
  b.writeUInt16LE(o.hsqsize ?? 31, 6);
  return Uint8Array.from(b);
}
