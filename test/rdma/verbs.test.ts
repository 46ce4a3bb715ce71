import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { BufferPool, RdmaCompletionError, RdmaConnection, RdmaListener, rdma } from '../../lib';
import { ADDRESS, kernelResources, pattern, settledResources, until } from './helpers';

const MiB = 1024 * 1024;

async function pair(options: { privateData?: Uint8Array } = {}):
  Promise<{ listener: RdmaListener; client: RdmaConnection; server: RdmaConnection }> {
  const listener = new RdmaListener({ address: ADDRESS, port: 0 });
  const accepted = listener.accept();
  const client = await rdma.connect({ address: ADDRESS, port: listener.port, ...options });
  const server = await accepted;
  return { listener, client, server };
}

describe('RDMA verbs (real device)', function () {
  this.timeout(60000);
  let start: rdma.RdmaResourceCounts;
  before(() => { start = rdma.resources(); });

  it('discovers devices with active ports, GIDs and limits', () => {
    const devs = rdma.devices();
    assert.ok(devs.length >= 1, 'at least one RDMA device');
    const d = devs[0];
    assert.match(d.guid, /^[0-9a-f]{16}$/);
    assert.ok(d.limits.maxQp > 0 && d.limits.maxMr > 0 && d.limits.maxSge > 0);
    const port = d.ports[0];
    assert.equal(port.number, 1);
    assert.ok(devs.some((x) => x.ports.some((p) => p.state === 'active' && p.gids.length > 0)));
    assert.ok(['ethernet', 'infiniband'].includes(port.linkLayer));
  });

  it('connects and accepts through rdma_cm, with private data', async () => {
    const { listener, client, server } = await pair({ privateData: Uint8Array.from([1, 2, 3]) });
    assert.equal(client.state, 'open');
    assert.equal(server.state, 'open');
    assert.match(client.peerAddress, new RegExp(`^${ADDRESS.replace(/\./g, '\\.')}:${listener.port}$`));
    await client.close();
    await server.close();
    listener.close();
  });

  it('registers each pool region once per device, never per I/O', async () => {
    const pool = new BufferPool({ chunkSize: 64 * 1024, regionSize: 2 * MiB, capacity: 8 * MiB });
    const { listener, client, server } = await pair();
    const bufs = Array.from({ length: 40 }, () => pool.acquire()); // 40 x 64 KiB: two regions
    assert.equal(pool.stats().regions, 2);
    const mrsBefore = rdma.resources().mrs;
    for (const b of bufs) client.remoteKey(b);
    // Client and server share one device, hence one protection domain: 2 regions, 2 MRs.
    assert.equal(pool.stats().registrations, 2);
    assert.equal(rdma.resources().mrs - mrsBefore, 2);
    const rkeys = new Set(bufs.map((b) => server.remoteKey(b).key));
    assert.equal(rkeys.size, 2, 'one rkey per region');
    assert.equal(rdma.resources().mrs - mrsBefore, 2, 'no registration per buffer or per connection');
    assert.equal(pool.stats().registeredBytes, 4 * MiB);
    for (const b of bufs) b.release();
    await client.close();
    await server.close();
    listener.close();
    pool.close();
    assert.equal(rdma.resources().mrs, mrsBefore, 'closing the pool deregisters its regions');
  });

  it('SEND/RECV delivers the bytes into the posted buffer', async () => {
    const pool = new BufferPool({ chunkSize: 4096 });
    const { listener, client, server } = await pair();
    const rx = pool.acquire();
    const received = server.postReceive(rx);
    const tx = pool.acquire();
    pattern(tx, 42);
    await client.send(tx, { length: 3000 });
    assert.equal(await received, 3000);
    assert.deepEqual(rx.subarray(0, 3000), tx.subarray(0, 3000));
    // A small send goes inline.
    const rx2 = pool.acquire();
    const r2 = server.postReceive(rx2);
    tx.set([9, 8, 7]);
    await client.send(tx, { length: 3 });
    assert.equal(await r2, 3);
    assert.deepEqual([...rx2.subarray(0, 3)], [9, 8, 7]);
    assert.equal(client.counters().bytesSent, 3003);
    assert.equal(server.counters().bytesReceived, 3003);
    assert.equal(client.counters().bytesCopied, 0);
    for (const b of [rx, rx2, tx]) b.release();
    await client.close();
    await server.close();
    listener.close();
    pool.close();
  });

  it('RDMA WRITE then READ back 1 MiB, content checked', async () => {
    const pool = new BufferPool({ chunkSize: MiB, regionSize: 4 * MiB, capacity: 16 * MiB });
    const { listener, client, server } = await pair();
    // The server advertises its buffer with a SEND, as an application would.
    const target = pool.acquire();
    target.fill(0);
    const advert = pool.acquire();
    const remote = server.remoteKey(target);
    const view = new DataView(advert.buffer, advert.byteOffset);
    view.setBigUint64(0, remote.address, true);
    view.setUint32(8, remote.key, true);
    view.setUint32(12, remote.length, true);
    const ad = pool.acquire();
    const gotAdvert = client.postReceive(ad);
    await server.send(advert, { length: 16 });
    assert.equal(await gotAdvert, 16);
    const adv = new DataView(ad.buffer, ad.byteOffset);
    const where = { address: adv.getBigUint64(0, true), key: adv.getUint32(8, true), length: adv.getUint32(12, true) };
    assert.equal(where.length, MiB);

    const src = pool.acquire();
    pattern(src, 7);
    await client.write(src, where);
    assert.deepEqual(Buffer.from(target.buffer, target.byteOffset, MiB), Buffer.from(src.buffer, src.byteOffset, MiB));

    target[12345] ^= 0xff; // the server changes one byte; the client must read it back
    const back = pool.acquire();
    await client.read(back, where);
    assert.equal(back[12345], src[12345] ^ 0xff);
    back[12345] ^= 0xff;
    assert.ok(Buffer.from(back.buffer, back.byteOffset, MiB).equals(Buffer.from(src.buffer, src.byteOffset, MiB)));
    assert.equal(client.counters().bytesWritten, MiB);
    assert.equal(client.counters().bytesRead, MiB);
    for (const b of [target, advert, ad, src, back]) b.release();
    await client.close();
    await server.close();
    listener.close();
    pool.close();
  });

  it('misuse of a remote key (out of bounds) fails that operation with a typed error, and the process lives on', async () => {
    const pool = new BufferPool({ chunkSize: 64 * 1024 });
    const { listener, client, server } = await pair();
    const target = pool.acquire();
    const remote = server.remoteKey(target);
    const src = pool.acquire();
    const beyond = { ...remote, address: remote.address + BigInt(pool.stats().mappedBytes) * 64n };
    await assert.rejects(client.write(src, beyond), (e: RdmaCompletionError) => {
      assert.equal(e.code, 'ERR_RDMA_COMPLETION');
      assert.ok(e.status === 10 || e.status === 9, `remote access or invalid request error, got ${e.status}`);
      return true;
    });
    await client.close();
    await server.close();
    listener.close();
    // A new connection still works.
    const again = await pair();
    const rx = pool.acquire();
    const r = again.server.postReceive(rx);
    await again.client.send(src, { length: 100 });
    assert.equal(await r, 100);
    for (const b of [target, src, rx]) b.release();
    await again.client.close();
    await again.server.close();
    again.listener.close();
    pool.close();
  });

  it('misuse of a remote key after deregistration fails with a typed error', async () => {
    const serverPool = new BufferPool({ chunkSize: 64 * 1024 });
    const clientPool = new BufferPool({ chunkSize: 64 * 1024 });
    const { listener, client, server } = await pair();
    const target = serverPool.acquire();
    const remote = server.remoteKey(target);
    const src = clientPool.acquire();
    await client.write(src, remote); // valid while registered
    target.release();
    serverPool.close(); // deregisters the region: the key is dead
    await assert.rejects(client.write(src, remote), { code: 'ERR_RDMA_COMPLETION' });
    src.release();
    await client.close();
    await server.close();
    listener.close();
    clientPool.close();
  });

  it('refuses to release a buffer with a receive in flight, and fails it on disconnect', async () => {
    const pool = new BufferPool({ chunkSize: 4096 });
    const { listener, client, server } = await pair();
    const rx = pool.acquire();
    const pending = server.postReceive(rx);
    const outcome = pending.then(() => null, (e: Error) => e);
    assert.equal(rx.inflight, 1);
    assert.throws(() => rx.release(), { code: 'ERR_BUFFER_BUSY' });
    assert.throws(() => pool.close(), { code: 'ERR_POOL_BUSY' });
    await client.close();
    assert.equal(((await outcome) as RdmaCompletionError | null)?.code, 'ERR_RDMA_DISCONNECTED');
    await until(() => server.state === 'closed', 'the server side to close');
    assert.equal(rx.inflight, 0);
    rx.release();
    listener.close();
    pool.close();
  });

  it('frees every QP, CQ, MR and cm id on disconnect (native and kernel counts)', async () => {
    // A listener closes on its reactor thread: the test before may still be closing its own.
    const before = await settledResources((now) => now.cmIds === start.cmIds && now.eventChannels === start.eventChannels);
    const kernelBefore = kernelResources();
    const pool = new BufferPool({ chunkSize: 4096 });
    for (let round = 0; round < 3; round++) {
      const { listener, client, server } = await pair();
      const b = pool.acquire();
      client.remoteKey(b);
      const r = server.postReceive(pool.acquire()).catch(() => undefined);
      assert.equal(rdma.resources().qps - before.qps, 2);
      await client.close();
      await r;
      await until(() => server.state === 'closed', 'the server side to close');
      listener.close();
      b.release();
    }
    if (global.gc) global.gc();
    await until(() => pool.stats().allocatedBytes === 0, 'dropped buffers to return to the pool');
    pool.close();
    assert.deepEqual(await settledResources((now) => isDeepStrictEqual(now, before)), before);
    assert.deepEqual(kernelResources(), kernelBefore);
  });

  it('connections of one reactor on one device share one completion queue, grown as they join', async () => {
    const before = await settledResources((now) => now.qps === start.qps && now.cqs === start.cqs);
    const depth = { sendDepth: 512, receiveDepth: 512 };
    const listener = new RdmaListener({ address: ADDRESS, port: 0, ...depth });
    const pairs: [RdmaConnection, RdmaConnection][] = [];
    for (let i = 0; i < 6; i++) {
      const accepted = listener.accept();
      const client = await rdma.connect({ address: ADDRESS, port: listener.port, ...depth });
      pairs.push([client, await accepted]);
    }
    // 12 queue pairs that may each have 1,024 completions outstanding: far past the
    // 1,024 entries the CQ starts with, so it was resized as they joined.
    assert.equal(rdma.resources().qps - before.qps, 12);
    assert.equal(rdma.resources().cqs - before.cqs, 1, 'one CQ for the reactor and the device');
    // Each connection gets its own completions, with many in flight on all of them at once.
    const pool = new BufferPool({ chunkSize: 4096, capacity: 16 * MiB });
    const exchange = async (from: RdmaConnection, to: RdmaConnection, seed: number): Promise<void> => {
      const rx = Array.from({ length: 64 }, () => pool.acquire());
      const tx = Array.from({ length: 64 }, (_, i) => { const b = pool.acquire(); pattern(b, seed + i); return b; });
      const received = rx.map((b) => to.postReceive(b));
      await Promise.all(tx.map((b, i) => from.send(b, { length: 1000 + i })));
      assert.deepEqual(await Promise.all(received), tx.map((_, i) => 1000 + i));
      rx.forEach((b, i) => assert.deepEqual(b.subarray(0, 1000 + i), tx[i].subarray(0, 1000 + i)));
      for (const b of [...rx, ...tx]) b.release();
    };
    await Promise.all(pairs.flatMap(([client, server], i) =>
      [exchange(client, server, 1000 * i + 1), exchange(server, client, 1000 * i + 500)]));
    for (const [client, server] of pairs) {
      await client.close();
      await until(() => server.state === 'closed', 'the server side to close');
    }
    listener.close();
    pool.close();
    const after = await settledResources((now) => now.qps === before.qps && now.cqs === before.cqs);
    assert.equal(after.cqs, before.cqs, 'the CQ goes with its last connection');
  });

  it('emits disconnect on both sides when one closes', async () => {
    const { listener, client, server } = await pair();
    const serverGone = new Promise((r) => server.once('disconnect', r));
    await client.close();
    await serverGone;
    assert.equal(server.state, 'closed');
    const pool = new BufferPool({ chunkSize: 4096 });
    const b = pool.acquire();
    await assert.rejects(client.send(b), { code: 'ERR_RDMA_DISCONNECTED' });
    b.release();
    pool.close();
    listener.close();
  });

  it('rejects a connect to a port nobody listens on with a typed error', async () => {
    await assert.rejects(rdma.connect({ address: ADDRESS, port: 1 }), { code: 'ERR_RDMA_CONNECT' });
  });
});
