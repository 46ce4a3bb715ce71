/**
 * Our NVMe/RDMA host in the lab guest (Soft-RoCE, scripts/lab-rdma-env.sh): against the
 * Linux kernel target (nvmet-rdma over a brd ramdisk on rxe0) and against our own target
 * (on rxe1). Skips itself elsewhere (not root, no nvmet, no RDMA devices).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import {
  BufferPool, NvmeConnectError, Target, connect, discover, rdma, type Controller, type IoBuffer,
} from '../../lib';
import { heldWriteSurvivesReconnect, pattern, same, untilQpairs } from './helpers';
import { kernelNvmetAvailable, ramDisk, startKernelTarget, type KernelTarget } from './kernel-nvmet';
import { kernelResources, settledResources, until } from '../rdma/helpers';

const KERNEL_NQN = 'nqn.2026-11.io.rdmagate:host-rdma-kernel';
const OUR_NQN = 'nqn.2026-11.io.rdmagate:host-rdma-ours';
const A1 = '192.168.77.1';  // rxe0: the kernel target
const A2 = '192.168.77.2';  // rxe1: our target
const PORT = 4420;
const DISK_MIB = 64;
const SIZES = [512, 1024, 4096, 8192, 16384, 32768, 65536, 131072];



describe('our NVMe/RDMA host (lab, Soft-RoCE)', function () {
  this.timeout(600000);
  let start: rdma.RdmaResourceCounts;
  let pool: BufferPool | undefined;
  let src: IoBuffer;
  let dst: IoBuffer;

  before(function () {
    if (!kernelNvmetAvailable() || !rdma.available().available || rdma.devices().length < 2) this.skip();
    start = rdma.resources();
    pool = new BufferPool({ chunkSize: 128 * 1024, capacity: 16 << 20 });
    src = pool.acquire();
    dst = pool.acquire();
  });

  /** Releases the suite's buffers and pool; once. */
  function closePool(): void {
    if (!pool) return;
    src.release();
    dst.release();
    pool.close();
    pool = undefined;
  }

  after(closePool);

  /** The same checks against either target: sizes, copies, queue depth, and the other commands. */
  async function ioChecks(c: Controller, lbaBase: number): Promise<void> {
    const [q0, q1] = c.queuePairs;
    let lba = lbaBase;
    let copiedSmall = 0;
    let copiedLarge = 0;
    for (const bytes of SIZES) {
      pattern(src, bytes, bytes + lbaBase);
      dst.fill(0);
      const before = c.counters().bytesCopied;
      await q0.write(1, lba, bytes / 512, src);
      await q1.read(1, lba, bytes / 512, dst);
      assert.ok(same(src, dst, bytes), `${bytes} bytes read back`);
      if (bytes <= c.inCapsuleDataSize) copiedSmall += c.counters().bytesCopied - before;
      else copiedLarge += c.counters().bytesCopied - before;
      lba += bytes / 512;
    }
    const small = SIZES.filter((b) => b <= c.inCapsuleDataSize).reduce((a, b) => a + b, 0);
    assert.equal(copiedSmall, small, 'writes up to the in-capsule size are copied into the capsule, once');
    assert.equal(copiedLarge, 0, 'larger I/O moves by RDMA READ/WRITE straight from and to the buffer');

    const bufs = Array.from({ length: 32 }, () => pool!.acquire());
    try {
      await Promise.all(bufs.map((b, i) => {
        pattern(b, 8192, 1000 + i);
        return c.queuePairs[i % 2].write(1, lbaBase + 4096 + i * 16, 16, b);
      }));
      bufs.forEach((b) => b.fill(0));
      await Promise.all(bufs.map((b, i) => c.queuePairs[(i + 1) % 2].read(1, lbaBase + 4096 + i * 16, 16, b)));
      const check = new Uint8Array(8192);
      bufs.forEach((b, i) => {
        pattern(check, 8192, 1000 + i);
        assert.ok(Buffer.from(check).equals(Buffer.from(b.buffer, b.byteOffset, 8192)), `buffer ${i} of 32 in flight`);
      });
    } finally {
      for (const b of bufs) b.release();
    }

    await q0.flush(1);
    pattern(src, 65536, 7);
    await q0.write(1, lbaBase + 8192, 128, src);
    await q1.writeZeroes(1, lbaBase + 8192, 128);
    dst.fill(0xff);
    await q0.read(1, lbaBase + 8192, 128, dst);
    assert.ok(dst.subarray(0, 65536).every((x) => x === 0), 'zeros after Write Zeroes');
    await q1.deallocate(1, lbaBase + 8192, 128);
    await q0.flush(1);
  }

  describe('against the Linux kernel target (nvmet-rdma)', () => {
    let target: KernelTarget;
    const options = () => ({ transport: 'rdma' as const, traddr: A1, trsvcid: PORT, subnqn: KERNEL_NQN });

    before(() => {
      target = startKernelTarget({ nqn: KERNEL_NQN, device: ramDisk(DISK_MIB), address: A1, port: PORT, portId: 7, trtype: 'rdma' });
    });
    after(() => target?.close());

    it('discovers the subsystem over RDMA', async () => {
      const entries = await discover({ transport: 'rdma', traddr: A1 });
      const e = entries.find((x) => x.subnqn === KERNEL_NQN);
      assert.ok(e, `discovery log: ${JSON.stringify(entries)}`);
      assert.equal(e.trtype, 'rdma');
      assert.equal(e.adrfam, 'ipv4');
      assert.equal(e.traddr, A1);
      assert.equal(e.trsvcid, String(PORT));
    });

    it('connects 2 I/O queues, identifies, moves 512 B .. 128 KiB, flush, write zeroes, deallocate, close', async () => {
      const c = await connect({ ...options(), nrIoQueues: 2 });
      try {
        assert.equal(c.transport, 'rdma');
        assert.equal(c.state, 'live');
        assert.equal(c.queuePairs.length, 2);
        const id = await c.identify();
        assert.equal(id.subnqn, KERNEL_NQN);
        assert.equal(id.cntlid, c.cntlid);
        assert.match(id.mn, /Linux/);
        assert.equal(c.namespaces.length, 1);
        assert.equal(c.namespaces[0].size, DISK_MIB << 20);
        assert.ok(c.inCapsuleDataSize > 0 && c.inCapsuleDataSize <= 4096, `in-capsule ${c.inCapsuleDataSize}`);
        console.log(`      cntlid ${c.cntlid}, ${id.mn} ${id.fr}, queue size ${c.queueSize}, in-capsule ${c.inCapsuleDataSize} B, ` +
          `mdts ${c.maxTransfer || 'none'}`);
        await ioChecks(c, 0);
        assert.equal(c.counters().digestErrors, 0);
      } finally {
        await c.close();
      }
      assert.equal(c.state, 'closed');
      await assert.rejects(c.queuePairs[0].read(1, 0, 1, dst), { code: 'ERR_NVME_DISCONNECTED' });
    });

    it("polled by the JS thread (polling 'event-loop'): the same I/O checks", async () => {
      const c = await connect({ ...options(), nrIoQueues: 2, polling: 'event-loop' });
      try {
        await ioChecks(c, 16384);
      } finally {
        await c.close();
      }
      assert.equal(c.state, 'closed');
    });

    it('reconnects when the subsystem leaves the port and comes back, resending held I/O', async () => {
      const r = await connect({ ...options(), ioFailureMode: 'retry', reconnectDelay: 1, ctrlLossTmo: 60, timeoutMs: 5000 });
      try {
        await heldWriteSurvivesReconnect(r, target, src, dst);
        assert.ok(r.counters().reconnects >= 1);
      } finally {
        await r.close();
      }
    });

    it('leaves no QP, CQ, MR, PD or cm id behind once the controller and its pool are closed', async () => {
      const before = rdma.resources();
      const own = new BufferPool({ chunkSize: 64 * 1024, capacity: 4 << 20 });
      const b = own.acquire();
      const c = await connect({ ...options(), nrIoQueues: 2 });
      pattern(b, 65536, 5);
      await c.queuePairs[0].write(1, 40000, 128, b);
      await c.queuePairs[1].read(1, 40000, 128, b);
      const during = rdma.resources();
      assert.ok(during.qps >= before.qps + 3 && during.mrs > before.mrs, `while connected: ${JSON.stringify(during)}`);
      await c.close();
      b.release();
      own.close();
      assert.deepEqual(await settledResources((now) => isDeepStrictEqual(now, before)), before);
    });
  });

  describe('against our target', () => {
    let target: Target;

    before(() => {
      target = new Target({ reactors: 2, inCapsuleDataSize: 4096 });
      target.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: DISK_MIB << 20, blockSize: 512 });
      target.addSubsystem({ nqn: OUR_NQN, serialNumber: 'RDMAHOST1' }).addNamespace({ bdev: 'Malloc0', nsid: 1 });
      target.listen({ transport: 'rdma', address: A2, port: PORT });
    });
    after(() => target?.closeSync());

    it('discovers, connects 2 I/O queues, and passes the same I/O checks; the target moved the data by RDMA', async () => {
      const entries = await discover({ transport: 'rdma', traddr: A2 });
      assert.ok(entries.some((e) => e.subnqn === OUR_NQN && e.trtype === 'rdma' && e.traddr === A2), JSON.stringify(entries));
      const c = await connect({ transport: 'rdma', traddr: A2, subnqn: OUR_NQN, nrIoQueues: 2 });
      try {
        const id = await c.identify();
        assert.equal(id.sn.trim(), 'RDMAHOST1');
        assert.equal(c.inCapsuleDataSize, 4096);
        await ioChecks(c, 0);
        const io = target.qpairs().filter((q) => q.transport === 'rdma' && q.qid > 0);
        assert.equal(io.length, 2);
        const moved = io.reduce((a, q) => a + q.rdmaReadBytes + q.rdmaWriteBytes, 0);
        assert.ok(moved > 2 * SIZES.filter((b) => b > 4096).reduce((a, b) => a + b, 0), `RDMA moved ${moved} bytes`);
      } finally {
        await c.close();
      }
    });

    it('a connect, I/O and close cycle leaves the verbs objects as it found them', async () => {
      // The target registered its own pools during the test before; its side of the
      // connections goes asynchronously, once it sees the disconnect, and a qpair is
      // unbound only once its verbs objects are gone.
      await untilQpairs(target, 0);
      const before = rdma.resources();
      const c = await connect({ transport: 'rdma', traddr: A2, subnqn: OUR_NQN, nrIoQueues: 2 });
      pattern(src, 131072, 11);
      await c.queuePairs[0].write(1, 50000, 256, src);
      await c.queuePairs[1].read(1, 50000, 256, dst);
      assert.ok(same(src, dst, 131072));
      await c.close();
      assert.deepEqual(await settledResources((now) => isDeepStrictEqual(now, before)), before);
    });

    it('a host killed mid-transfer: the target frees its queue pairs, and QPs, CQs and MRs return to the baseline', async () => {
      const ours = () => target.qpairs().filter((q) => q.transport === 'rdma').length;
      await until(() => ours() === 0, 'earlier hosts to be gone', 30000);
      const kernelBefore = kernelResources();
      const oursBefore = rdma.resources();
      const child = spawn(process.execPath, [join(__dirname, 'fixtures', 'rdma-io-child.js'), A2, OUR_NQN],
        { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = once(child, 'exit');
      try {
        await new Promise<void>((resolve, reject) => {
          child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('io')) resolve(); });
          child.once('exit', (code) => reject(new Error(`the child host exited (${code}) before its I/O began`)));
        });
        assert.equal(ours(), 3, 'admin and 2 I/O queues while the host runs');
        assert.ok(kernelResources().qp > kernelBefore.qp, 'the host QPs exist');
      } finally {
        child.kill('SIGKILL');
      }
      const [, signal] = await exited;
      assert.equal(signal, 'SIGKILL');
      // The kernel tears down the dead host's QPs; the target sees the disconnects.
      await until(() => ours() === 0, 'the target to drop the dead host\'s queue pairs', 30000);
      const oursAfter = await settledResources((now) => now.qps === oursBefore.qps && now.cqs === oursBefore.cqs
        && now.cmIds === oursBefore.cmIds);
      const kernelAfter = kernelResources();
      assert.equal(oursAfter.qps, oursBefore.qps);
      assert.equal(oursAfter.cmIds, oursBefore.cmIds);
      assert.equal(kernelAfter.qp, kernelBefore.qp);
      assert.equal(kernelAfter.cq, kernelBefore.cq);
      assert.equal(oursAfter.cqs, oursBefore.cqs);
      // Our target may have grown its own pools meanwhile (registered once, kept); every
      // other MR change would be the dead host's.
      assert.equal(kernelAfter.mr - kernelBefore.mr, oursAfter.mrs - oursBefore.mrs, 'the host\'s MRs are gone');
      // And the target serves the next host.
      const c = await connect({ transport: 'rdma', traddr: A2, subnqn: OUR_NQN, nrIoQueues: 1 });
      pattern(src, 65536, 21);
      await c.queuePairs[0].write(1, 60000, 128, src);
      await c.queuePairs[0].read(1, 60000, 128, dst);
      assert.ok(same(src, dst, 65536));
      await c.close();
    });

    it('a controller that rejects the connect request: NvmeConnectError naming the NVMe/RDMA reason', async () => {
      // Our target takes queues of at most 16 entries; the admin queue asks for 32, as Linux's does.
      const small = new Target({ maxQueueDepth: 16 });
      try {
        small.listen({ transport: 'rdma', address: A2, port: PORT + 1 });
        await assert.rejects(connect({ transport: 'rdma', traddr: A2, trsvcid: PORT + 1, subnqn: OUR_NQN }), (e: unknown) => {
          assert.ok(e instanceof NvmeConnectError, String(e));
          assert.equal(e.code, 'ERR_NVME_CONNECT');
          assert.equal(e.errno, 111);
          assert.match(e.message, /invalid host send queue size \(NVMe\/RDMA reject status 0x04\)/);
          return true;
        });
      } finally {
        small.closeSync();
      }
    });
  });

  describe('at the end', () => {
    it('every QP, CQ and cm id made in this process is gone', async () => {
      closePool();
      const now = await settledResources((n) => isDeepStrictEqual({ ...n, mrs: 0, pds: 0 }, { ...start, mrs: 0, pds: 0 }));
      // Registered memory is checked per controller above; our target's own buffer pools
      // are its business (test/lab/target-kernel-rdma-host.test.ts).
      console.log(`      MRs ${now.mrs - start.mrs}, PDs ${now.pds - start.pds} left by our targets`);
      assert.deepEqual({ ...now, mrs: 0, pds: 0 }, { ...start, mrs: 0, pds: 0 });
    });
  });
});
