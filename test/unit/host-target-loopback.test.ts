import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { BufferPool, Target, nvmf } from '../../lib';

const NQN = 'nqn.2026-11.io.rdmagate:loopback';

function fill(buf: Uint8Array, seed: number): void {
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 131 + seed * 7 + (i >> 12)) & 0xff;
}

/**
 * Runs `body` in a child process, after starting a target there (`target`, `port`, NQN),
 * and prints 'done' once the body and target.close() are through. Nothing else holds the
 * process, so it shows whether the host lets the process exit, and when.
 */
function runScript(body: string): SpawnSyncReturns<string> {
  const script = `
    const { BufferPool, Target, nvmf } = require(${JSON.stringify(join(__dirname, '../../lib'))});
    const NQN = '${NQN}';
    (async () => {
      const target = new Target({ reactors: 1 });
      target.createBdev({ type: 'malloc', name: 'M', sizeBytes: 1 << 20 });
      target.addSubsystem({ nqn: NQN }).addNamespace({ bdev: 'M', nsid: 1 });
      const port = target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
      ${body}
      target.close();
      console.log('done');
    })();`;
  return spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000 });
}

describe('our host against our target (loopback TCP)', function () {
  this.timeout(30000);
  let target: Target;
  let port: number;
  let pool: BufferPool;

  beforeEach(() => {
    target = new Target({ reactors: 2 });
    target.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: 16 << 20 });
    target.addSubsystem({ nqn: NQN, serialNumber: 'LOOP0001', modelNumber: 'rdmagate loopback' })
      .addNamespace({ bdev: 'Malloc0', nsid: 1, uuid: '6e4f5d40-1c1f-4b7b-9d8f-3a3c2b1a0f99' });
    port = target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
    pool = new BufferPool({ chunkSize: 128 * 1024 });
  });

  afterEach(() => {
    target.closeSync();
  });

  it('discovers the subsystem', async () => {
    const entries = await nvmf.discover({ traddr: '127.0.0.1', trsvcid: port });
    const e = entries.find((x) => x.subnqn === NQN);
    assert.ok(e, JSON.stringify(entries));
    assert.equal(e.trtype, 'tcp');
    assert.equal(e.trsvcid, String(port));
  });

  for (const [digests, recvPipe] of [[false, true], [true, true], [false, false], [true, false]]) {
    it(`connects with 2 I/O queues and moves 512 B .. 128 KiB both ways${digests ? ' with digests' : ''}` +
      `${recvPipe ? '' : ', without the receive pipe'}`, async () => {
      const c = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, nrIoQueues: 2,
        headerDigest: digests, dataDigest: digests, recvPipe });
      try {
        assert.equal(c.identity.sn, 'LOOP0001');
        assert.equal(c.identity.mn, 'rdmagate loopback');
        assert.equal(c.queuePairs.length, 2);
        assert.equal(c.namespaces[0].blockSize, 512);
        assert.equal(c.namespaces[0].uuid, '6e4f5d40-1c1f-4b7b-9d8f-3a3c2b1a0f99');
        const [q0, q1] = c.queuePairs;
        let lba = 0;
        let copiedBeforeLast = -1;
        for (const bytes of [512, 4096, 8192, 8704, 65536, 131072]) {
          if (bytes === 131072) copiedBeforeLast = c.counters().bytesCopied;
          const w = pool.acquire();
          fill(w, bytes);
          await q0.write(1, lba, bytes / 512, w);
          const r = pool.acquire();
          r.fill(0);
          await q1.read(1, lba, bytes / 512, r);
          assert.ok(Buffer.from(r.buffer, r.byteOffset, bytes).equals(Buffer.from(w.buffer, w.byteOffset, bytes)), `${bytes} B`);
          w.release();
          r.release();
          lba += 256;
        }
        // With the receive pipe, small payloads may be copied out of the host's staging buffer;
        // once a large one has arrived it stages headers only, so the 128 KiB read landed in
        // place. Without it, every read did.
        assert.equal(c.counters().bytesCopied, copiedBeforeLast, 'the 128 KiB read is not copied');
        if (!recvPipe) assert.equal(copiedBeforeLast, 0, 'no read is copied without the receive pipe');
      } finally {
        await c.close();
      }
    });
  }

  it('flush, write zeroes and deallocate', async () => {
    const c = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN });
    const q = c.queuePairs[0];
    const b = pool.acquire();
    fill(b, 3);
    await q.write(1, 0, 64, b);
    await q.flush(1);
    await q.writeZeroes(1, 0, 8);
    await q.deallocate(1, 16, 8);
    const r = pool.acquire();
    await q.read(1, 0, 32, r);
    assert.ok(Buffer.from(r.buffer, r.byteOffset, 4096).equals(Buffer.alloc(4096)));
    assert.ok(Buffer.from(r.buffer, r.byteOffset + 4096, 4096).equals(Buffer.from(b.buffer, b.byteOffset + 4096, 4096)));
    assert.ok(Buffer.from(r.buffer, r.byteOffset + 8192, 4096).equals(Buffer.alloc(4096)));
    b.release();
    r.release();
    await c.close();
  });

  it('refuses out-of-range I/O before sending it, and surfaces NVMe errors as typed errors', async () => {
    const c = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN });
    const b = pool.acquire();
    await assert.rejects(c.queuePairs[0].read(1, (16 << 20) / 512 - 1, 8, b), { code: 'ERR_OUT_OF_RANGE' });
    // The namespace goes away on the target: the next read gets Invalid Namespace back.
    target.subsystem(NQN)!.removeNamespace(1);
    await assert.rejects(c.queuePairs[0].read(1, 0, 8, b), (e: Error & { code: string; sc: number; sct: number }) =>
      e.code === 'ERR_NVME_STATUS' && e.sct === 0 && e.sc === 0x0b);
    b.release();
    await c.close();
  });

  it('submits a tick\'s commands as one batch, and fails only the one native code refuses', async () => {
    const c = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN });
    const q = c.queuePairs[0];
    const [a, b, d] = [pool.acquire(), pool.acquire(), pool.acquire()];
    fill(a, 1);
    fill(d, 2);
    const ops = [q.write(1, 0, 8, a), q.read(1, 0, 8, b), q.write(1, 8, 8, d)];
    // Checked and queued, not yet submitted: released now, b's chunk is gone when the batch goes in.
    b.release();
    const [first, second, third] = await Promise.allSettled(ops);
    assert.equal(first.status, 'fulfilled');
    assert.ok(second.status === 'rejected' && (second.reason as { code?: string }).code === 'ERR_BUFFER_RELEASED');
    assert.equal(third.status, 'fulfilled', 'the entry after the refused one went in');
    assert.equal(q.outstanding, 0);
    const r = pool.acquire();
    await q.read(1, 0, 16, r);
    assert.ok(Buffer.from(r.buffer, r.byteOffset, 4096).equals(Buffer.from(a.buffer, a.byteOffset, 4096)));
    assert.ok(Buffer.from(r.buffer, r.byteOffset + 4096, 4096).equals(Buffer.from(d.buffer, d.byteOffset, 4096)));
    for (const x of [a, d, r]) x.release();
    await c.close();
  });

  it('sees a namespace added on the target after a rescan', async () => {
    const c = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN });
    target.createBdev({ type: 'null', name: 'Null1', numBlocks: 2048 });
    target.subsystem(NQN)!.addNamespace({ bdev: 'Null1', nsid: 2 });
    const ns = await c.rescanNamespaces();
    assert.deepEqual(ns.map((n) => n.nsid), [1, 2]);
    await c.close();
  });

  it('disconnects a host once it is taken off the subsystem, or its listener is', async () => {
    const A = 'nqn.2014-08.org.nvmexpress:uuid:0a0a0a0a-0000-4000-8000-000000000001';
    const B = 'nqn.2014-08.org.nvmexpress:uuid:0b0b0b0b-0000-4000-8000-000000000002';
    const s = target.subsystem(NQN)!;
    s.addHost(A);
    s.addHost(B);
    const second = target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
    s.addListener({ address: '127.0.0.1', port });
    s.addListener({ address: '127.0.0.1', port: second });
    s.allowAnyHost(false);
    const opts = { traddr: '127.0.0.1', subnqn: NQN, ctrlLossTmo: 0 };
    const a = await nvmf.connect({ ...opts, trsvcid: port, hostnqn: A });
    const b = await nvmf.connect({ ...opts, trsvcid: second, hostnqn: B });
    const aLost = once(a, 'disconnect');
    s.removeHost(A);
    await aLost;
    const buf = pool.acquire();
    await b.queuePairs[0].read(1, 0, 8, buf);  // B is still allowed, on its listener
    const bLost = once(b, 'disconnect');
    s.removeListener({ address: '127.0.0.1', port: second });
    await bLost;
    buf.release();
    await a.close();
    await b.close();
    assert.equal(target.controllers().length, 0);
  });

  it('is rejected by a target that does not allow its host NQN', async () => {
    target.subsystem(NQN)!.allowAnyHost(false);
    await assert.rejects(nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, ctrlLossTmo: 0 }),
      (e: Error & { code: string }) => /ERR_NVME/.test(e.code));
  });

  for (const polling of ['reactor', 'event-loop']) {
    it(`a controller given up, then closed: close() resolves before the process exits (polled by ${polling})`, () => {
      // Giving up lets the process exit; close() must hold it again until 'closed' is in.
      for (let run = 0; run < 3; run++) {
        const r = runScript(`
          target.subsystem(NQN).addListener({ address: '127.0.0.1', port });
          const c = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, ctrlLossTmo: 0, polling: '${polling}' });
          const lost = new Promise((resolve) => c.once('disconnect', resolve));
          target.subsystem(NQN).removeListener({ address: '127.0.0.1', port });
          await lost;
          await c.close();`);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout.trim(), 'done', `run ${run}: close() had not resolved when the process exited`);
      }
    });
  }

  describe("polled by the JS thread (polling 'event-loop')", () => {
    it('moves data on many queues of two controllers at once, beside one polled by a reactor', async () => {
      const opts = { traddr: '127.0.0.1', trsvcid: port, subnqn: NQN };
      const controllers = [
        await nvmf.connect({ ...opts, polling: 'event-loop', nrIoQueues: 3 }),
        await nvmf.connect({ ...opts, polling: 'event-loop', dataDigest: true }),
        await nvmf.connect({ ...opts, polling: 'reactor' }),
      ];
      const queues = controllers.flatMap((c) => c.queuePairs);
      const BLOCKS = 16;  // 8 KiB a unit, 64 units per controller
      // Each controller writes its own third of the namespace, 64 writes in flight, then
      // every unit is read back through another of its queues and compared.
      await Promise.all(controllers.map(async (c, ci) => {
        const units = Array.from({ length: 64 }, (_, u) => (ci * 64 + u) * BLOCKS);
        const written = units.map((lba, u) => {
          const w = pool.acquire();
          fill(w, ci * 100 + u);
          return { lba, w };
        });
        await Promise.all(written.map(({ lba, w }, u) => c.queuePairs[u % c.queuePairs.length].write(1, lba, BLOCKS, w)));
        await Promise.all(written.map(async ({ lba, w }, u) => {
          const r = pool.acquire();
          await c.queuePairs[(u + 1) % c.queuePairs.length].read(1, lba, BLOCKS, r);
          assert.ok(Buffer.from(r.buffer, r.byteOffset, BLOCKS * 512).equals(Buffer.from(w.buffer, w.byteOffset, BLOCKS * 512)),
            `controller ${ci}, LBA ${lba}`);
          r.release();
          w.release();
        }));
      }));
      assert.equal(queues.length, 5);
      for (const q of queues) assert.equal(q.outstanding, 0);
      // A bad command completes with its NVMe status on the polled path too.
      target.subsystem(NQN)!.removeNamespace(1);
      const b = pool.acquire();
      await assert.rejects(controllers[0].queuePairs[2].read(1, 0, 8, b), { code: 'ERR_NVME_STATUS', sc: 0x0b });
      b.release();
      await Promise.all(controllers.map((c) => c.close()));
      assert.ok(controllers.every((c) => c.state === 'closed'));
    });

    it('keeps the association alive while idle, and hears of its loss', async () => {
      target.subsystem(NQN)!.addListener({ address: '127.0.0.1', port });
      const c = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, polling: 'event-loop',
        keepAliveTmo: 1, ctrlLossTmo: 0 });
      let lost = false;
      c.on('disconnect', () => { lost = true; });
      // Idle for 2.5 keep-alive timeouts: the poller slows down, and Keep Alive still goes out.
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(lost, false);
      assert.equal(target.controllers().length, 1);
      const b = pool.acquire();
      await c.queuePairs[0].read(1, 0, 8, b);
      const lostNow = once(c, 'disconnect');
      target.subsystem(NQN)!.removeListener({ address: '127.0.0.1', port });
      await lostNow;
      await assert.rejects(c.queuePairs[0].read(1, 0, 8, b), { code: 'ERR_NVME_DISCONNECTED' });
      b.release();
      await c.close();
    });

    it('reconnects, and resends I/O held meanwhile', async () => {
      const s = target.subsystem(NQN)!;
      s.addListener({ address: '127.0.0.1', port });
      const c = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, polling: 'event-loop',
        ioFailureMode: 'retry', reconnectDelay: 0.05, ctrlLossTmo: 30 });
      try {
        const lost = once(c, 'disconnect');
        s.removeListener({ address: '127.0.0.1', port });
        const [, reconnecting] = await lost;
        assert.equal(reconnecting, true);
        const w = pool.acquire();
        fill(w, 77);
        const held = c.queuePairs[0].write(1, 512, 8, w);
        const back = once(c, 'reconnect');
        s.addListener({ address: '127.0.0.1', port });
        await back;
        await held;
        const r = pool.acquire();
        await c.queuePairs[0].read(1, 512, 8, r);
        assert.ok(Buffer.from(r.buffer, r.byteOffset, 4096).equals(Buffer.from(w.buffer, w.byteOffset, 4096)));
        assert.ok(c.counters().reconnects >= 1);
        w.release();
        r.release();
      } finally {
        await c.close();
      }
    });

    it('stops polling once its last controller is closed: the process exits by itself', () => {
      const r = runScript(`
        const c = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, polling: 'event-loop' });
        const pool = new BufferPool({ chunkSize: 4096 });
        const b = pool.acquire();
        await c.queuePairs[0].read(1, 0, 8, b);
        b.release();
        await c.close();`);
      assert.equal(r.signal, null, 'the process was still running after 20 s');
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'done');
    });
  });
});
