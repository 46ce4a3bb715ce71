/**
 * Our NVMe/TCP host against the Linux kernel target (nvmet-tcp over a brd ramdisk) in
 * the lab guest. Skips itself elsewhere (not root, or no nvmet).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, readlinkSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import {
  BufferPool, connect, discover, hostResources, type Controller, type IoBuffer,
} from '../../lib';
import { heldWriteSurvivesReconnect, pattern, same, sleep } from './helpers';
import { kernelNvmetAvailable, ramDisk, startKernelTarget, type KernelTarget } from './kernel-nvmet';

const NQN = 'nqn.2026-11.io.rdmagate:host-lab';
const PORT = 4420;
const DISK_MIB = 64;

function openSockets(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
    } catch {
      return false;  // closed while we looked
    }
  }).length;
}

describe('our NVMe/TCP host against the Linux kernel target (lab)', function () {
  this.timeout(300000);
  let target: KernelTarget;
  let pool: BufferPool;
  let src: IoBuffer;
  let dst: IoBuffer;
  let c: Controller;
  let baselineSockets = 0;
  const options = () => ({ traddr: '127.0.0.1', trsvcid: PORT, subnqn: NQN });

  before(function () {
    if (!kernelNvmetAvailable()) this.skip();
    target = startKernelTarget({ nqn: NQN, device: ramDisk(DISK_MIB), port: PORT });
    pool = new BufferPool({ chunkSize: 128 * 1024, capacity: 16 << 20 });
    src = pool.acquire();
    dst = pool.acquire();
    baselineSockets = openSockets();
  });

  after(async () => {
    await c?.close();
    src?.release();
    dst?.release();
    pool?.close();
    target?.close();
  });

  it('discovers the subsystem', async () => {
    const entries = await discover({ traddr: '127.0.0.1', trsvcid: PORT });
    const e = entries.find((x) => x.subnqn === NQN);
    assert.ok(e, `discovery log: ${JSON.stringify(entries)}`);
    assert.equal(e.trtype, 'tcp');
    assert.equal(e.adrfam, 'ipv4');
    assert.equal(e.subtype, 'nvme subsystem');
    assert.equal(e.traddr, '127.0.0.1');
    assert.equal(e.trsvcid, String(PORT));
    assert.equal(hostResources().sockets, 0, 'discovery disconnected');
  });

  it('connects with 2 I/O queues and identifies controller and namespace', async () => {
    c = await connect({ ...options(), nrIoQueues: 2 });
    assert.equal(c.state, 'live');
    assert.equal(c.queuePairs.length, 2);
    const id = await c.identify();
    assert.equal(id.subnqn, NQN);
    assert.equal(id.cntrltype, 1, 'an I/O controller');
    assert.equal(id.cntlid, c.cntlid);
    assert.match(id.mn, /Linux/);
    assert.ok(id.nn >= 1);
    assert.ok(id.ioccsz * 16 > 64, 'in-capsule data supported');
    assert.equal(c.namespaces.length, 1);
    const ns = c.namespaces[0];
    assert.equal(ns.nsid, 1);
    assert.equal(ns.blockSize, 512);
    assert.equal(ns.size, DISK_MIB << 20);
    assert.ok(ns.uuid, 'nvmet gives every namespace a UUID');
    const again = await c.identifyNamespace(1);
    assert.deepEqual(again, ns);
    console.log(`      cntlid ${c.cntlid}, ${id.mn} ${id.fr}, queue size ${c.queueSize}, in-capsule ${c.inCapsuleDataSize} B, ` +
      `mdts ${c.maxTransfer || 'none'}, uuid ${ns.uuid}`);
  });

  /** Writes 512 B .. 128 KiB on queue 0 and reads each back on queue 1; the bytes each read copied. */
  async function writeAndReadBack(ctrl: Controller): Promise<Map<number, number>> {
    const copied = new Map<number, number>();
    let lba = 0;
    for (const bytes of [512, 1024, 4096, 8192, 16384, 32768, 65536, 131072]) {
      pattern(src, bytes, bytes);
      dst.fill(0);
      await ctrl.queuePairs[0].write(1, lba, bytes / 512, src);
      const before = ctrl.counters().bytesCopied;
      await ctrl.queuePairs[1].read(1, lba, bytes / 512, dst);
      copied.set(bytes, ctrl.counters().bytesCopied - before);
      assert.ok(same(src, dst, bytes), `${bytes} bytes read back`);
      lba += bytes / 512;
    }
    return copied;
  }

  it('writes 512 B .. 128 KiB (in-capsule and R2T) and reads them back on the other queue', async () => {
    const before = c.counters();
    const copied = await writeAndReadBack(c);
    const after = c.counters();
    assert.ok(after.r2ts > before.r2ts, 'writes above the in-capsule size went through R2T');
    // The receive pipe copies small payloads out of its staging buffer; after the first
    // large one it stages headers alone, so larger reads land in place.
    for (const bytes of [32768, 65536, 131072]) assert.equal(copied.get(bytes), 0, `${bytes} B read without a CPU copy`);
  });

  it('without the receive pipe, moves all data without a CPU copy of ours', async () => {
    const zeroCopy = await connect({ ...options(), nrIoQueues: 2, recvPipe: false });
    try {
      const copied = await writeAndReadBack(zeroCopy);
      assert.deepEqual([...copied.values()].filter((n) => n > 0), [], JSON.stringify([...copied]));
      assert.equal(zeroCopy.counters().bytesCopied, 0, 'identify data too');
    } finally {
      await zeroCopy.close();
    }
  });

  it("polled by the JS thread (polling 'event-loop'): the same transfers, and keep-alive while idle", async () => {
    const polled = await connect({ ...options(), nrIoQueues: 2, polling: 'event-loop', keepAliveTmo: 1 });
    try {
      let lost = false;
      polled.on('disconnect', () => { lost = true; });
      await sleep(2500);
      await writeAndReadBack(polled);
      assert.equal(lost, false);
      assert.equal(polled.counters().digestErrors, 0);
    } finally {
      await polled.close();
    }
  });

  it('keeps many commands in flight on both queues', async () => {
    const bufs = Array.from({ length: 32 }, () => pool.acquire());
    try {
      await Promise.all(bufs.map((b, i) => {
        pattern(b, 4096, 1000 + i);
        return c.queuePairs[i % 2].write(1, 4096 + i * 8, 8, b);
      }));
      await Promise.all(bufs.map((b) => b.fill(0)).map((b, i) => c.queuePairs[(i + 1) % 2].read(1, 4096 + i * 8, 8, b)));
      const check = new Uint8Array(4096);
      bufs.forEach((b, i) => {
        pattern(check, 4096, 1000 + i);
        assert.ok(Buffer.from(check).equals(Buffer.from(b.buffer, b.byteOffset, 4096)), `buffer ${i}`);
      });
    } finally {
      for (const b of bufs) b.release();
    }
  });

  it('flush, write zeroes (reads back zeros) and deallocate', async () => {
    await c.queuePairs[0].flush(1);
    pattern(src, 65536, 7);
    await c.queuePairs[0].write(1, 8192, 128, src);
    await c.queuePairs[1].writeZeroes(1, 8192, 128);
    dst.fill(0xff);
    await c.queuePairs[0].read(1, 8192, 128, dst);
    assert.ok(dst.subarray(0, 65536).every((x) => x === 0), 'zeros after Write Zeroes');
    await c.queuePairs[1].deallocate(1, 8192, 128);
    await c.queuePairs[0].flush(1);
  });

  it('keep-alive keeps an idle controller alive', async () => {
    const k = await connect({ ...options(), keepAliveTmo: 2 });
    let lost = false;
    k.on('disconnect', () => { lost = true; });
    await sleep(5000);
    assert.equal(lost, false);
    await k.queuePairs[0].read(1, 0, 1, dst);
    await k.close();
  });

  it('header and data digests', async () => {
    const d = await connect({ ...options(), headerDigest: true, dataDigest: true });
    assert.equal(d.headerDigest, true);
    assert.equal(d.dataDigest, true);
    for (const bytes of [512, 16384, 131072]) {
      pattern(src, bytes, bytes + 1);
      dst.fill(0);
      await d.queuePairs[0].write(1, 16384, bytes / 512, src);
      await d.queuePairs[0].read(1, 16384, bytes / 512, dst);
      assert.ok(same(src, dst, bytes), `${bytes} bytes with digests`);
    }
    assert.equal(d.counters().digestErrors, 0);
    await d.close();
  });

  it('reads complete from C2HData SUCCESS when SQ flow control is off', async () => {
    const s = await connect({ ...options(), disableSqFlow: true });
    pattern(src, 8192, 99);
    await s.queuePairs[0].write(1, 20000, 16, src);
    dst.fill(0);
    await s.queuePairs[0].read(1, 20000, 16, dst);
    assert.ok(same(src, dst, 8192));
    await s.close();
  });

  it('reconnects when the subsystem leaves the port and comes back, resending held I/O', async () => {
    const r = await connect({ ...options(), ioFailureMode: 'retry', reconnectDelay: 1, ctrlLossTmo: 60 });
    await heldWriteSurvivesReconnect(r, target, src, dst);
    await r.close();
  });

  it("a namespace that nvmet grows: the notice reaches the host, which reads the new size ('namespacesChanged')", async () => {
    const nqn = 'nqn.2026-11.io.rdmagate:host-lab-grow';
    const file = '/tmp/rdmagate-nvmet-grow.img';
    writeFileSync(file, Buffer.alloc(0));
    truncateSync(file, 16 << 20);
    const grow = startKernelTarget({ nqn, device: file, port: PORT + 7, portId: 7, bufferedIo: true });
    try {
      const g = await connect({ traddr: '127.0.0.1', trsvcid: PORT + 7, subnqn: nqn });
      try {
        assert.equal(g.namespaces[0].size, 16 << 20);
        const bs = g.namespaces[0].blockSize;  // nvmet serves a file in the file system's blocks
        const told = once(g, 'namespacesChanged');
        truncateSync(file, 40 << 20);
        writeFileSync(`/sys/kernel/config/nvmet/subsystems/${nqn}/namespaces/1/revalidate_size`, '1');
        assert.deepEqual(await told, [[1]]);
        assert.equal(g.namespaces[0].size, 40 << 20);
        pattern(src, 4096, 77);
        await g.queuePairs[0].write(1, (40 << 20) / bs - 4096 / bs, 4096 / bs, src);
        await g.queuePairs[0].read(1, (40 << 20) / bs - 4096 / bs, 4096 / bs, dst);
        assert.ok(same(src, dst, 4096), 'the new last blocks hold what was written');
      } finally {
        await g.close();
      }
    } finally {
      grow.close();
      rmSync(file, { force: true });
    }
  });

  it('close leaves no socket behind', async () => {
    await c.close();
    assert.equal(c.state, 'closed');
    await assert.rejects(c.queuePairs[0].read(1, 0, 1, dst), { code: 'ERR_NVME_DISCONNECTED' });
    assert.equal(hostResources().sockets, 0);
    assert.equal(openSockets(), baselineSockets);
  });
});
