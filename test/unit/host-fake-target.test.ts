/**
 * The NVMe/TCP host against a fake controller (host-fake-controller.ts): each test bends
 * one thing (a bad ICResp, a C2HTermReq, an error status, a command never answered, a
 * dropped connection) and checks that the host turns it into a typed error, without
 * crash or hang.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  BufferPool, Controller, NvmeConnectError, NvmeDisconnectedError, NvmeError, NvmeTimeoutError,
  NvmeTransportError, connect, discover, hostResources, type IoBuffer,
} from '../../lib';
import { BLOCK, BLOCKS, SUBNQN, icResp, settle, withFake } from './host-fake-controller';

const code = (c: string) => ({ code: c });

describe('NVMe/TCP host against a fake controller', function () {
  this.timeout(20000);
  let pool: BufferPool;
  let buf: IoBuffer;

  before(() => {
    pool = new BufferPool({ chunkSize: 64 * 1024 });
    buf = pool.acquire();
  });
  after(() => {
    buf.release();
    pool.close();
  });
  afterEach(async () => {
    await settle();
    assert.equal(hostResources().sockets, 0, 'every host socket is closed');
  });

  it('connects, identifies, and moves data in-capsule and through R2T/H2CData', async () => {
    await withFake((f) => { f.incapsule = 4096; }, async (fake, o) => {
      const c = await connect({ ...o, nrIoQueues: 2, reactors: 2 });
      assert.equal(c.identity.sn, 'FAKE0001');
      assert.equal(c.identity.mn, 'fake controller');
      assert.equal(c.identity.subnqn, SUBNQN);
      assert.equal(c.inCapsuleDataSize, 4096);
      assert.equal(c.maxTransfer, 128 * 1024);
      assert.equal(c.queuePairs.length, 2);
      assert.deepEqual(c.namespaces.map((n) => [n.nsid, n.blocks, n.blockSize, n.uuid]),
        [[1, BLOCKS, BLOCK, '00112233-4455-6677-8899-aabbccddeeff']]);
      let copiedBeforeLast = -1;
      for (const bytes of [512, 4096, 16384, 65536]) {
        if (bytes === 65536) copiedBeforeLast = c.counters().bytesCopied;
        for (let i = 0; i < bytes; i++) buf[i] = (i * 31 + bytes) & 0xff;
        const expect = Buffer.from(buf.subarray(0, bytes));
        await c.queuePairs[0].write(1, 16, bytes / BLOCK, buf);
        assert.deepEqual(fake.disk.subarray(16 * BLOCK, 16 * BLOCK + bytes), expect);
        buf.fill(0);
        await c.queuePairs[1].read(1, 16, bytes / BLOCK, buf);
        assert.deepEqual(Buffer.from(buf.subarray(0, bytes)), expect);
      }
      assert.ok(fake.h2cPdus >= 2, 'the large writes went through R2T');
      const counters = c.counters();
      // Small payloads may be copied out of the host's staging buffer; after a large one
      // it stages headers only, so the last (64 KiB) read landed in place.
      assert.equal(counters.bytesCopied, copiedBeforeLast);
      assert.ok(counters.r2ts >= 2);
      await c.close();
      assert.equal(c.state, 'closed');
    });
  });

  it('connects over IPv6', async () => {
    await withFake(() => undefined, async (_fake, o) => {
      const c = await connect(o);
      buf.fill(0x5a, 0, 512);
      await c.queuePairs[0].write(1, 3, 1, buf);
      buf.fill(0, 0, 512);
      await c.queuePairs[0].read(1, 3, 1, buf);
      assert.equal(buf[511], 0x5a);
      await c.close();
    }, '::1');
  });

  it('splits H2C data by MAXH2CDATA', async () => {
    await withFake((f) => {
      f.incapsule = 0;
      f.onIcReq = (conn) => { conn.send(icResp(4096)); return true; };
    }, async (fake, o) => {
      const c = await connect(o);
      await c.queuePairs[0].write(1, 0, 32, buf);
      assert.equal(fake.h2cPdus, 4, '16 KiB in 4 KiB H2CData PDUs');
      await c.close();
    });
  });

  it('keeps at most queueSize commands outstanding and queues the rest', async () => {
    await withFake(() => undefined, async (fake, o) => {
      const c = await connect({ ...o, queueSize: 4 });
      assert.equal(c.queuePairs[0].depth, 4);
      await Promise.all(Array.from({ length: 40 }, (_, i) => c.queuePairs[0].read(1, i, 1, buf, (i % 16) * BLOCK)));
      assert.ok(fake.maxIoInFlight <= 4, `at most 4 in flight, saw ${fake.maxIoInFlight}`);
      await c.close();
    });
  });

  it('completes a read from C2HData with SUCCESS and no response capsule', async () => {
    await withFake((f) => {
      f.onIo = (cmd) => {
        if (cmd.opcode !== 0x02) return false;
        cmd.conn.c2h(cmd.cid, Buffer.alloc(((cmd.cdw12 & 0xffff) + 1) * BLOCK, 0xab), 0x04 | 0x08);
        return true;
      };
    }, async (_fake, o) => {
      const c = await connect({ ...o, disableSqFlow: true });
      buf.fill(0);
      await c.queuePairs[0].read(1, 0, 2, buf);
      assert.ok(buf.subarray(0, 1024).every((x) => x === 0xab));
      await c.close();
    });
  });

  it('turns an error completion into NvmeError with sct, sc, dnr and a name', async () => {
    await withFake((f) => {
      f.onIo = (cmd) => { cmd.conn.respond(cmd.cid, { status: 0x4080 }); return true; };  // DNR, LBA out of range
    }, async (_fake, o) => {
      const c = await connect(o);
      await assert.rejects(c.queuePairs[0].write(1, 0, 1, buf), (e: unknown) => {
        assert.ok(e instanceof NvmeError);
        assert.equal(e.code, 'ERR_NVME_STATUS');
        assert.equal(e.sct, 0);
        assert.equal(e.sc, 0x80);
        assert.equal(e.dnr, true);
        assert.equal(e.statusName, 'LBA out of range');
        return true;
      });
      assert.equal(c.state, 'live', 'an error status does not hurt the connection');
      await c.close();
    });
  });

  it('a rejected Connect is NvmeConnectError with the status', async () => {
    await withFake((f) => {
      f.onConnect = (cmd) => { cmd.conn.respond(cmd.cid, { status: 0x184 }); return true; };  // connect: invalid host
    }, async (_fake, o) => {
      await assert.rejects(connect(o), (e: unknown) => {
        assert.ok(e instanceof NvmeConnectError);
        assert.equal(e.status?.sct, 1);
        assert.equal(e.status?.sc, 0x84);
        assert.match(e.message, /invalid host/);
        return true;
      });
    });
  });

  it('an invalid ICResp is NvmeTransportError', async () => {
    await withFake((f) => { f.onIcReq = (conn) => { conn.send(icResp(100)); return true; }; }, async (_fake, o) => {
      await assert.rejects(connect(o), (e: unknown) => e instanceof NvmeTransportError && /maxh2cdata|invalid/i.test(e.message));
    });
    await withFake((f) => { f.onIcReq = (conn) => { conn.send(icResp(4096, 1)); return true; }; }, async (_fake, o) => {
      await assert.rejects(connect(o), code('ERR_NVME_TRANSPORT'));
    });
  });

  it('a C2HTermReq during connect or I/O is NvmeTransportError', async () => {
    await withFake((f) => { f.onIcReq = (conn) => { conn.termReq(2); return true; }; }, async (_fake, o) => {
      await assert.rejects(connect(o), (e: unknown) => e instanceof NvmeTransportError && /C2HTermReq/.test(e.message));
    });
    await withFake((f) => {
      f.onIo = (cmd) => { cmd.conn.termReq(1); return true; };
    }, async (_fake, o) => {
      const c = await connect({ ...o, ctrlLossTmo: 0 });
      const events: string[] = [];
      c.on('disconnect', (e: Error, reconnecting: boolean) => events.push(`disconnect ${(e as NvmeTransportError).code} ${reconnecting}`));
      c.on('error', (e: Error) => events.push(`error ${(e as NvmeDisconnectedError).code}`));
      await assert.rejects(c.queuePairs[0].read(1, 0, 1, buf), code('ERR_NVME_TRANSPORT'));
      while (c.state !== 'removed') await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(events, ['disconnect ERR_NVME_TRANSPORT false', 'error ERR_NVME_DISCONNECTED']);
      await assert.rejects(c.queuePairs[0].read(1, 0, 1, buf), code('ERR_NVME_DISCONNECTED'));
      await c.close();
    });
  });

  it('garbage from the controller fails the connection, not the process', async () => {
    await withFake((f) => {
      f.onIo = (cmd) => { cmd.conn.c2h(cmd.cid + 7, Buffer.alloc(512)); return true; };  // unknown command id
    }, async (_fake, o) => {
      const c = await connect({ ...o, ctrlLossTmo: 0 });
      await assert.rejects(c.queuePairs[0].read(1, 0, 1, buf), code('ERR_NVME_TRANSPORT'));
      await c.close();
    });
    await withFake((f) => {
      f.onIo = (cmd) => { cmd.conn.send(Buffer.from([0x42, 0, 24, 0, 24, 0, 0, 0, ...new Array(16).fill(0)])); return true; };
    }, async (_fake, o) => {
      const c = await connect({ ...o, ctrlLossTmo: 0 });
      await assert.rejects(c.queuePairs[0].read(1, 0, 1, buf), code('ERR_NVME_TRANSPORT'));
      await c.close();
    });
  });

  it('a command never answered is aborted, then fails with NvmeTimeoutError', async () => {
    await withFake((f) => { f.onIo = () => true; }, async (fake, o) => {
      const c = await connect({ ...o, timeoutMs: 300, ctrlLossTmo: 0 });
      c.on('disconnect', () => undefined);
      await assert.rejects(c.queuePairs[0].read(1, 0, 1, buf), (e: unknown) => e instanceof NvmeTimeoutError);
      assert.equal(fake.aborts.length, 1, 'one Abort was sent for it');
      assert.ok(c.counters().timeouts >= 1);
      await c.close();
    });
  });

  it('connect times out against a controller that never answers ICReq', async () => {
    await withFake((f) => { f.onIcReq = () => true; }, async (_fake, o) => {
      await assert.rejects(connect({ ...o, timeoutMs: 300 }), (e: unknown) => e instanceof NvmeConnectError && /timed out/.test(e.message));
    });
  });

  it('sends Keep Alive every half KATO', async () => {
    await withFake(() => undefined, async (fake, o) => {
      const c = await connect({ ...o, keepAliveTmo: 0.2 });
      await new Promise((r) => setTimeout(r, 700));
      assert.ok(fake.keepAlives >= 3, `${fake.keepAlives} Keep Alives`);
      await c.close();
    });
  });

  it('reconnects after losing the controller and resends held I/O (retry mode)', async () => {
    let drops = 1;
    await withFake((f) => {
      f.onIo = (cmd) => {
        if (cmd.opcode !== 0x02 || drops === 0) return false;
        drops--;
        f.dropAll();
        return true;
      };
    }, async (_fake, o) => {
      const c = await connect({ ...o, ioFailureMode: 'retry', reconnectDelay: 0.05, ctrlLossTmo: 5 });
      const events: string[] = [];
      c.on('disconnect', (_e: Error, reconnecting: boolean) => events.push(`disconnect ${reconnecting}`));
      c.on('reconnect', () => events.push('reconnect'));
      // The resent read and the 'reconnect' event come back on separate paths, in either order.
      const reconnected = once(c, 'reconnect');
      await c.queuePairs[0].read(1, 0, 1, buf);
      await reconnected;
      assert.deepEqual(events, ['disconnect true', 'reconnect']);
      assert.equal(c.state, 'live');
      assert.ok(c.counters().retries >= 1);
      await c.queuePairs[0].read(1, 0, 1, buf);
      await c.close();
    });
  });

  it('fails I/O in flight at once in fail mode, and gives up after ctrlLossTmo', async () => {
    await withFake((f) => {
      f.onIo = () => {
        f.dropAll();
        f.server.close();  // and refuse reconnects
        return true;
      };
    }, async (_fake, o) => {
      const c = await connect({ ...o, reconnectDelay: 0.05, ctrlLossTmo: 0.2 });
      const gaveUp = once(c, 'error');
      await assert.rejects(c.queuePairs[0].read(1, 0, 1, buf), code('ERR_NVME_DISCONNECTED'));
      const [err] = await gaveUp as [Error];
      assert.ok(err instanceof NvmeDisconnectedError);
      assert.equal(c.state, 'removed');
      await c.close();
    });
  });

  it('close() fails what is outstanding and leaves no socket', async () => {
    await withFake((f) => { f.onIo = () => true; }, async (_fake, o) => {
      const c = await connect({ ...o, nrIoQueues: 2 });
      const pending = c.queuePairs[1].read(1, 0, 1, buf);
      const closed = c.close();
      await assert.rejects(pending, code('ERR_NVME_DISCONNECTED'));
      await closed;
      assert.equal(buf.inflight, 0, 'the buffer is free again');
      await assert.rejects(c.queuePairs[0].read(1, 0, 1, buf), code('ERR_NVME_DISCONNECTED'));
      await c.close();  // idempotent
    });
  });

  it('discovery against a controller that rejects Get Log Page is a typed error', async () => {
    await withFake(() => undefined, async (_fake, o) => {
      await assert.rejects(discover({ traddr: o.traddr, trsvcid: o.trsvcid }), code('ERR_NVME_STATUS'));
    });
  });

  it('Controller cannot be built by hand', () => {
    assert.throws(() => new (Controller as unknown as new (...a: unknown[]) => unknown)(Symbol('x'), 1, {}, {}), TypeError);
  });
});
