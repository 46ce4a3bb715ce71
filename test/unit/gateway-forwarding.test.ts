import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufferPool, Target, nvmf } from '../../lib';

const BACKEND_NQN = 'nqn.2026-11.io.rdmagate:backend';
const FRONT_NQN = 'nqn.2026-11.io.rdmagate:gateway';

function fill(buf: Uint8Array, seed: number): void {
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 29 + seed * 11 + (i >> 9)) & 0xff;
}

describe('gateway forwarding: an NVMe/TCP backend re-exported by the target', function () {
  this.timeout(60000);
  let dir: string;
  let image: string;
  let backend: Target;
  let gateway: Target;
  let backendPort: number;
  let frontPort: number;
  const pool = new BufferPool({ chunkSize: 128 * 1024 });

  function startBackend(port = 0): number {
    backend = new Target({ reactors: 1 });
    backend.createBdev({ type: 'file', name: 'Disk0', path: image, blockSize: 512 });
    backend.addSubsystem({ nqn: BACKEND_NQN, serialNumber: 'BACKEND1' })
      .addNamespace({ bdev: 'Disk0', nsid: 1, uuid: '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9' });
    return backend.listen({ transport: 'tcp', address: '127.0.0.1', port }).port;
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-gw-'));
    image = join(dir, 'backend.img');
    writeFileSync(image, Buffer.alloc(0));
    truncateSync(image, 8 << 20);
    backendPort = startBackend();
    gateway = new Target({ reactors: 2 });
    const bdevs = await gateway.attachNvmeController({ name: 'Nvme0', traddr: '127.0.0.1', trsvcid: backendPort,
      subnqn: BACKEND_NQN, reconnectDelay: 1, ctrlLossTmo: 20 });
    assert.deepEqual(bdevs.map((b) => [b.name, b.numBlocks, b.blockSize, b.uuid]),
      [['Nvme0n1', (8 << 20) / 512, 512, '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9']]);
    gateway.addSubsystem({ nqn: FRONT_NQN, serialNumber: 'GATEWAY1' })
      .addNamespace({ bdev: 'Nvme0n1', nsid: 1, uuid: bdevs[0].uuid });
    frontPort = gateway.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
  });

  afterEach(() => {
    gateway?.closeSync();
    backend?.closeSync();
    rmSync(dir, { recursive: true, force: true });
  });

  it('forwards writes and reads, 512 B to 128 KiB, and the data lands on the backend', async () => {
    const front = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: frontPort, subnqn: FRONT_NQN, nrIoQueues: 2 });
    const direct = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: backendPort, subnqn: BACKEND_NQN });
    try {
      let lba = 0;
      for (const bytes of [512, 4096, 16384, 65536, 131072]) {
        const w = pool.acquire();
        fill(w, bytes);
        await front.queuePairs[lba % 2].write(1, lba, bytes / 512, w);
        const viaGateway = pool.acquire();
        await front.queuePairs[(lba + 1) % 2].read(1, lba, bytes / 512, viaGateway);
        const onBackend = pool.acquire();
        await direct.queuePairs[0].read(1, lba, bytes / 512, onBackend);
        const expect = Buffer.from(w.buffer, w.byteOffset, bytes);
        assert.ok(Buffer.from(viaGateway.buffer, viaGateway.byteOffset, bytes).equals(expect), `${bytes} B through the gateway`);
        assert.ok(Buffer.from(onBackend.buffer, onBackend.byteOffset, bytes).equals(expect), `${bytes} B on the backend`);
        for (const b of [w, viaGateway, onBackend]) b.release();
        lba += 512;
      }
      await front.queuePairs[0].writeZeroes(1, 0, 8);
      await front.queuePairs[0].deallocate(1, 512, 8);
      await front.queuePairs[0].flush(1);
      const z = pool.acquire();
      await direct.queuePairs[0].read(1, 0, 8, z);
      assert.ok(Buffer.from(z.buffer, z.byteOffset, 4096).equals(Buffer.alloc(4096)), 'write zeroes reached the backend');
      await direct.queuePairs[0].read(1, 512, 8, z);
      assert.ok(Buffer.from(z.buffer, z.byteOffset, 4096).equals(Buffer.alloc(4096)), 'deallocate reached the backend');
      z.release();
    } finally {
      await front.close();
      await direct.close();
    }
  });

  it('a backend namespace that grows: the gateway\'s bdev follows from the backend\'s notice, and tells its own hosts', async () => {
    const front = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: frontPort, subnqn: FRONT_NQN });
    try {
      assert.equal((await front.identifyNamespace(1)).blocks, 16384);
      const told = once(front, 'namespacesChanged');
      truncateSync(image, 24 << 20);
      assert.equal(backend.resizeBdev('Disk0'), true);
      const blocks = () => gateway.bdevs().find((b) => b.name === 'Nvme0n1')!.numBlocks;
      const end = Date.now() + 10000;
      while (blocks() !== (24 << 20) / 512 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      assert.equal(blocks(), (24 << 20) / 512, 'the gateway bdev took the backend\'s new size');
      assert.deepEqual(await told, [[1]], 'the gateway told its host');
      assert.equal(front.namespaces[0].blocks, (24 << 20) / 512, 'the host read the namespace again');
      const w = pool.acquire();
      fill(w, 5);
      await front.queuePairs[0].write(1, (24 << 20) / 512 - 8, 8, w);
      w.release();
    } finally {
      await front.close();
    }
  });

  it('a backend that grew while it was away: the gateway finds the new size when it reconnects, and tells its host', async () => {
    const front = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: frontPort, subnqn: FRONT_NQN, timeoutMs: 30000 });
    // A host of the backend's own, which reconnects too.
    const direct = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: backendPort, subnqn: BACKEND_NQN, reconnectDelay: 1,
      ctrlLossTmo: 20 });
    try {
      const told = once(front, 'namespacesChanged');
      const directTold = once(direct, 'namespacesChanged');
      backend.closeSync();
      truncateSync(image, 12 << 20);  // no notice can reach anyone now
      await new Promise((r) => setTimeout(r, 500));
      startBackend(backendPort);
      assert.deepEqual(await told, [[1]]);
      assert.equal(gateway.bdevs().find((b) => b.name === 'Nvme0n1')!.numBlocks, (12 << 20) / 512);
      assert.equal(front.namespaces[0].blocks, (12 << 20) / 512);
      assert.deepEqual(await directTold, [[1]], 'our host found the change on reconnecting');
      assert.equal(direct.namespaces[0].blocks, (12 << 20) / 512);
    } finally {
      await front.close();
      await direct.close();
    }
  });

  it('passes backend NVMe errors through, and refuses to detach a backend in use', async () => {
    assert.throws(() => gateway.detachNvmeController('Nvme0'), { code: 'ERR_BUSY' });
    const [backendController] = gateway.nvmeControllers();
    assert.deepEqual([backendController.name, backendController.state], ['Nvme0', 'enabled']);
    // The backend host's own counters: the earlier tests' I/O went through it.
    assert.ok(backendController.counters.commands > 0 && backendController.counters.bytesReceived > 0);
    await assert.rejects(gateway.attachNvmeController({ name: 'Nvme0', traddr: '127.0.0.1', trsvcid: backendPort, subnqn: BACKEND_NQN }),
      { code: 'ERR_ALREADY_EXISTS' });
    await assert.rejects(gateway.attachNvmeController({ name: 'Nvme1', traddr: '127.0.0.1', trsvcid: 1, subnqn: BACKEND_NQN, ctrlLossTmo: 0 }),
      (e: Error & { code: string }) => /ERR_NVME/.test(e.code));
    await assert.rejects(gateway.attachNvmeController({ name: 'Nvme2', traddr: '127.0.0.1', trsvcid: backendPort, subnqn: BACKEND_NQN,
      polling: 'event-loop' } as Parameters<typeof gateway.attachNvmeController>[0]), { code: 'ERR_INVALID_ARG', message: /polled by the target's reactors/ });
    assert.deepEqual(gateway.nvmeControllers().map((c) => c.name), ['Nvme0'], 'a failed attach leaves nothing behind');
  });

  it('holds I/O while the backend restarts, then completes it; the frontend never reconnects', async () => {
    const front = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: frontPort, subnqn: FRONT_NQN, timeoutMs: 30000 });
    let frontDisconnects = 0;
    front.on('disconnect', () => frontDisconnects++);
    const before = pool.acquire();
    fill(before, 1);
    await front.queuePairs[0].write(1, 100, 64, before);
    backend.closeSync();                         // the backend goes away...
    const during = pool.acquire();
    fill(during, 2);
    const held = front.queuePairs[0].write(1, 200, 64, during);  // ...this write waits for it
    await new Promise((r) => setTimeout(r, 1500));
    startBackend(backendPort);               // it comes back on the same address, same disk
    await held;                              // acknowledged only once the backend has it
    const back = pool.acquire();
    await front.queuePairs[0].read(1, 200, 64, back);
    assert.ok(Buffer.from(back.buffer, back.byteOffset, 32768).equals(Buffer.from(during.buffer, during.byteOffset, 32768)));
    await front.queuePairs[0].read(1, 100, 64, back);
    assert.ok(Buffer.from(back.buffer, back.byteOffset, 32768).equals(Buffer.from(before.buffer, before.byteOffset, 32768)));
    assert.equal(frontDisconnects, 0);
    for (const b of [before, during, back]) b.release();
    await front.close();
  });

  it('a request pool that runs dry: in-capsule writes go on in memory of their own, and the host stays connected', async () => {
    // 16 buffers of 128 KiB. Reads held while the backend is away take them all.
    const small = new Target({ maxIoSize: 128 * 1024, bufferPoolBytes: 2 << 20 });
    try {
      const [bdev] = await small.attachNvmeController({ name: 'Nvme9', traddr: '127.0.0.1', trsvcid: backendPort,
        subnqn: BACKEND_NQN, reconnectDelay: 1, ctrlLossTmo: 20 });
      small.addSubsystem({ nqn: FRONT_NQN }).addNamespace({ bdev: bdev.name, nsid: 1 });
      const port = small.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
      const front = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: FRONT_NQN, queueSize: 64, timeoutMs: 30000 });
      let disconnects = 0;
      front.on('disconnect', () => disconnects++);
      backend.closeSync();
      const reads = Array.from({ length: 16 }, () => pool.acquire());
      const held = reads.map((b, i) => front.queuePairs[0].read(1, i * 256, 256, b));
      // 4 KiB writes travel in the capsule (8 KiB allowed): they find no chunk left.
      const writes = Array.from({ length: 4 }, (_, i) => {
        const b = pool.acquire();
        fill(b.subarray(0, 4096), 40 + i);
        return b;
      });
      const written = writes.map((b, i) => front.queuePairs[0].write(1, 8192 + i * 8, 8, b));
      for (let i = 0; i < 100 && small.qpairs().reduce((n, q) => n + q.poolExhausted, 0) < 4; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(small.qpairs().reduce((n, q) => n + q.poolExhausted, 0), 4, 'each write found the pool empty');
      startBackend(backendPort);
      await Promise.all([...held, ...written]);
      const back = pool.acquire();
      for (let i = 0; i < writes.length; i++) {
        await front.queuePairs[0].read(1, 8192 + i * 8, 8, back);
        assert.ok(Buffer.from(back.buffer, back.byteOffset, 4096).equals(Buffer.from(writes[i].buffer, writes[i].byteOffset, 4096)));
      }
      assert.equal(disconnects, 0, 'the host never lost its connection');
      for (const b of [...reads, ...writes, back]) b.release();
      await front.close();
    } finally {
      small.closeSync();
    }
  });

  it('a host that leaves while its write waits in the backend: the write lands later, and the gateway serves on', async () => {
    const front = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: frontPort, subnqn: FRONT_NQN, ctrlLossTmo: 0 });
    const data = pool.acquire();
    fill(data, 3);
    backend.closeSync();
    const held = front.queuePairs[0].write(1, 300, 64, data).catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 200));
    await front.close();                     // the gateway tears the queue down with the write in its bdev
    assert.ok(await held instanceof Error, 'the leaving host sees its write fail');
    for (let i = 0; i < 50 && gateway.qpairs().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(gateway.qpairs().length, 0, 'the gateway let go of the queues');
    startBackend(backendPort);               // the backend returns and acknowledges the held write
    const again = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: frontPort, subnqn: FRONT_NQN, timeoutMs: 30000 });
    const back = pool.acquire();
    const same = () => Buffer.from(back.buffer, back.byteOffset, 32768).equals(Buffer.from(data.buffer, data.byteOffset, 32768));
    // The held write and this read are resent after the backend's reconnect in no set order.
    for (let i = 0; i < 50; i++) {
      await again.queuePairs[0].read(1, 300, 64, back);
      if (same()) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(same(), 'the write that outlived its host reached the backend');
    for (const b of [data, back]) b.release();
    await again.close();
  });
});
