/**
 * A hostile or broken TCP peer cannot starve the target: nothing but Connect runs before
 * Connect, a queue holds a bounded share of the pool for data it has not sent, every
 * half-finished step has a deadline, and connections are capped per listener and address.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Target } from '../../lib';
import { until } from '../rdma/helpers';
import { PDU, type Pdu, WireClient, parseCqe, rw, setSgl } from '../support/nvme-tcp-wire';

const NQN = 'nqn.2026-12.io.rdmagate:hostile-test';
const WRITE_BLOCKS = 256; // 128 KiB of 512-byte blocks: a transport SGL, so an R2T

/** The next PDU, or undefined when none comes within `ms` (the connection stays open). */
async function nextWithin(c: WireClient, ms: number): Promise<Pdu | null | undefined> {
  try {
    return await c.next(ms);
  } catch {
    return undefined;
  }
}

describe('NVMe/TCP target against hostile peers', function () {
  this.timeout(30000);
  let target: Target;
  let port: number;
  const clients: WireClient[] = [];

  function start(options: ConstructorParameters<typeof Target>[0] = {}): void {
    target = new Target({ maxIoSize: 128 * 1024, ...options });
    target.createBdev({ type: 'malloc', name: 'Malloc0', numBlocks: 16384, blockSize: 512 });
    target.addSubsystem({ nqn: NQN, allowAnyHost: true }).addNamespace({ bdev: 'Malloc0', nsid: 1 });
    port = target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
  }

  async function client(): Promise<WireClient> {
    const c = await WireClient.open(port);
    clients.push(c);
    return c;
  }

  async function ioQueue(): Promise<WireClient> {
    const admin = await client();
    const a = await admin.connectQueue({ subnqn: NQN, kato: 0 });
    assert.equal(a.sc, 0, 'admin connect');
    const io = await client();
    assert.equal((await io.connectQueue({ subnqn: NQN, qid: 1, cntlid: a.dw0 & 0xffff, sqsize: 128 })).sc, 0, 'io connect');
    return io;
  }

  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
    target?.closeSync();
  });

  it('answers every command before Connect with Command Sequence Error, with no R2T and no buffer taken', async () => {
    start({ bufferPoolBytes: 2 << 20 });  // 16 buffers: one hostile queue could take them all
    const hostile: WireClient[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await client();
      await c.icreq();
      for (let n = 0; n < 64; n++) c.sendCommand(rw(0x01, 1, n * WRITE_BLOCKS, WRITE_BLOCKS));
      hostile.push(c);
    }
    for (const c of hostile) {
      for (let n = 0; n < 64; n++) {
        const p = await c.next();
        assert.equal(p?.type, PDU.Rsp, 'a response, not an R2T');
        const cqe = parseCqe(p!.header.subarray(8, 24));
        assert.deepEqual([cqe.sct, cqe.sc, cqe.dnr], [0, 0x0c, true], 'Command Sequence Error, do not retry');
      }
    }
    // In-capsule data before Connect is read past and dropped; the queue can still connect.
    const early = await client();
    await early.icreq();
    const w = rw(0x01, 1, 0, 8);
    setSgl(w, 'incapsule', 4096);
    early.sendCommand(w, Buffer.alloc(4096, 0xee));
    const p = await early.next();
    assert.equal(parseCqe(p!.header.subarray(8, 24)).sc, 0x0c);
    // A Connect's own data may still come by R2T (NVMe/RDMA's hosts send it by RDMA READ).
    const byR2t = await client();
    await byR2t.icreq();
    const connect = Buffer.alloc(64);
    connect.writeUInt8(0x7f, 0);
    connect.writeUInt8(0x40, 1);
    connect.writeUInt8(0x01, 4);
    connect.writeUInt16LE(31, 44);
    const data = Buffer.alloc(1024);
    data.writeUInt16LE(0xffff, 16);
    data.write(NQN, 256, 'ascii');
    data.write('nqn.2014-08.org.nvmexpress:uuid:6f1f3c1e-8d0b-4b53-9d2e-0c6b1f0a7a11', 512, 'ascii');
    assert.equal((await byR2t.execute(connect, { writeData: data })).cqe.sc, 0, 'Connect with its data by R2T');
    // A legitimate host still gets buffers: 16 writes of 128 KiB at once, all through.
    const io = await ioQueue();
    const block = Buffer.alloc(WRITE_BLOCKS * 512, 0x5a);
    const writes = await Promise.all(Array.from({ length: 4 }, (_, n) =>
      io.execute(rw(0x01, 1, n * WRITE_BLOCKS, WRITE_BLOCKS), { writeData: block })));
    for (const r of writes) assert.equal(r.cqe.sc, 0);
    const read = await io.execute(rw(0x02, 1, 0, WRITE_BLOCKS));
    assert.ok(read.data.equals(block));
  });

  it('a connected queue that never sends its data holds at most 2 MiB of the pool; the rest waits in order', async () => {
    start({ bufferPoolBytes: 8 << 20 });  // 64 buffers of 128 KiB
    const greedy = await ioQueue();
    const cids: number[] = [];
    for (let n = 0; n < 64; n++) cids.push(greedy.sendCommand(rw(0x01, 1, n * WRITE_BLOCKS, WRITE_BLOCKS)));
    const r2ts: Pdu[] = [];
    for (;;) {
      const p = await nextWithin(greedy, 1000);
      if (!p) break;
      assert.equal(p.type, PDU.R2T);
      r2ts.push(p);
    }
    assert.equal(r2ts.length, 16, '2 MiB of R2Ts out at once');
    assert.deepEqual(r2ts.map((p) => p.header.readUInt16LE(8)), cids.slice(0, 16), 'the oldest commands first');
    // Another host is served meanwhile: the pool still has buffers.
    const other = await ioQueue();
    const data = Buffer.alloc(WRITE_BLOCKS * 512, 0x33);
    assert.equal((await other.execute(rw(0x01, 1, 0, WRITE_BLOCKS), { writeData: data })).cqe.sc, 0);
    // The first R2T answered: its command completes and the 17th command gets its R2T.
    const first = r2ts[0]!;
    greedy.sendH2CData(first.header.readUInt16LE(8), first.header.readUInt16LE(10), 0, data, true);
    const seen = [await greedy.next(), await greedy.next()].map((p) => p!.type).sort();
    assert.deepEqual(seen, [PDU.Rsp, PDU.R2T].sort());
  });

  describe('deadlines', () => {
    const deadlines = { icReqMs: 300, connectMs: 600, pduMs: 300, dataMs: 300 };

    it('closes a connection that sends no ICReq, or no Connect', async () => {
      start({ deadlines });
      const silent = await client();
      const noConnect = await client();
      await noConnect.icreq();
      await silent.waitClosed();
      await noConnect.waitClosed();
      // The reactor gives the admission back as it closes, which the peer may see first.
      await until(() => target.listeners()[0]!.connections === 0, 'their admissions given back');
    });

    it('closes a connection that stops mid-header, mid-capsule or before answering an R2T', async () => {
      start({ deadlines });
      const midHeader = await ioQueue();
      midHeader.raw(Buffer.from([PDU.Cmd, 0, 72, 0]));
      const midCapsule = await ioQueue();
      const w = rw(0x01, 1, 0, 8);
      setSgl(w, 'incapsule', 4096);
      const capsule = Buffer.alloc(72 + 4096);
      capsule.writeUInt8(PDU.Cmd, 0);
      capsule.writeUInt8(72, 2);
      capsule.writeUInt8(72, 3);
      capsule.writeUInt32LE(capsule.length, 4);
      w.copy(capsule, 8);
      midCapsule.raw(capsule.subarray(0, 72 + 1000));
      const noData = await ioQueue();
      noData.sendCommand(rw(0x01, 1, 0, WRITE_BLOCKS));
      assert.equal((await noData.next())?.type, PDU.R2T);
      for (const c of [midHeader, midCapsule, noData]) await c.waitClosed();
    });

    it('keeps an idle connected queue, and one that streams PDUs for longer than any deadline', async () => {
      start({ deadlines });
      const idle = await ioQueue();
      const busy = await ioQueue();
      const data = Buffer.alloc(4096, 0x42);
      const until = Date.now() + 1500;
      for (let n = 0; Date.now() < until; n++) {
        assert.equal((await busy.execute(rw(0x01, 1, (n % 64) * 8, 8), { writeData: data })).cqe.sc, 0);
      }
      assert.equal((await idle.execute(rw(0x02, 1, 0, 8))).cqe.sc, 0);
      assert.ok(!idle.closed && !busy.closed);
    });
  });

  it('caps connections per host address; a refused one is closed at once and counted', async () => {
    start({ maxConnectionsPerAddress: 2 });
    const a = await client();
    const b = await client();
    await a.icreq();
    await b.icreq();
    const third = await client();
    await third.waitClosed();
    let l = target.listeners()[0]!;
    assert.equal(l.connections, 2);
    assert.equal(l.refusedConnections, 1);
    a.close();
    // Once one closes, a new connection is admitted again.
    for (;;) {
      const next = await client();
      const ic = await next.icreq().catch(() => undefined);
      if (ic) break;
    }
    l = target.listeners()[0]!;
    assert.equal(l.connections, 2);
  });

  it('refuses deadlines and caps that are not integers in range', () => {
    assert.throws(() => new Target({ deadlines: { pduMs: 0 } }), { code: 'ERR_INVALID_ARG' });
    assert.throws(() => new Target({ maxConnectionsPerAddress: -1 }), { code: 'ERR_INVALID_ARG' });
  });
});

describe('NVMe/TCP target out of file descriptors', function () {
  this.timeout(60000);

  it('pauses accepting (no spin), keeps serving, and accepts again once fds are free', async () => {
    const script = join(__dirname, '..', 'support', 'fd-limited-target.js');
    const child = spawn('bash', ['-c', `ulimit -n 64 && exec "${process.execPath}" "${script}"`], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const line = async () => JSON.parse((await lines.next()).value as string) as Record<string, number>;
    const clients: WireClient[] = [];
    try {
      const { port } = await line();
      // Connect until one gets no ICResp: the target is out of fds, and that connection
      // waits in the listen backlog.
      let pending: WireClient | undefined;
      while (!pending) {
        const c = await WireClient.open(port!);
        clients.push(c);
        c.sendIcReq();
        if ((await nextWithin(c, 1500)) === undefined) pending = c;
        assert.ok(clients.length < 64, 'the fd limit is reached');
      }
      child.stdin!.write('stats\n');
      const starved = await line();
      assert.ok(starved.acceptPauses! >= 1, 'accepting paused');
      assert.equal(starved.connections, clients.length - 1, 'every connection accepted is still open');
      // The ones it has are served meanwhile.
      const served = clients[0]!;
      served.sendCommand(Buffer.alloc(64));  // not connected: a Command Sequence Error comes back
      assert.equal((await served.next())?.type, PDU.Rsp);
      // Five close: the pending connection is accepted and answered.
      for (const c of clients.splice(1, 5)) c.close();
      const ic = await pending.next(10000);
      assert.equal(ic?.type, PDU.IcResp);
      child.stdin!.write('stats\n');
      const after = await line();
      // A spin would retry accept() without end; paused, it retried a few times a second.
      assert.ok(after.acceptPauses! < 100, `accept retried ${after.acceptPauses} times`);
    } finally {
      for (const c of clients) c.close();
      child.stdin!.end();
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });
});
