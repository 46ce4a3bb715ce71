import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Target } from '../../lib';
import { dhchapSecret } from '../support/dhchap-secret';
import { DISCOVERY_NQN, HOSTNQN, PDU, WireClient, rw, setSgl, sqe } from '../support/nvme-tcp-wire';

const NQN = 'nqn.2026-11.io.rdmagate:wire-test';
const BLOCKS = 2048; // 1 MiB of 512-byte blocks

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed * 13 + (i >> 9)) & 0xff;
  return b;
}

describe('NVMe/TCP target on the wire', function () {
  this.timeout(20000);
  let target: Target;
  let port: number;
  const clients: WireClient[] = [];

  async function client(): Promise<WireClient> {
    const c = await WireClient.open(port);
    clients.push(c);
    return c;
  }

  /** An enabled admin queue plus an I/O queue of the same controller. */
  async function controller(opts: { hdgst?: boolean; ddgst?: boolean } = {}): Promise<{ admin: WireClient; io: WireClient; cntlid: number }> {
    const admin = await client();
    const c = await admin.connectQueue({ subnqn: NQN, kato: 0, ...opts });
    assert.equal(c.sc, 0, 'admin connect');
    const io = await client();
    const ic = await io.connectQueue({ subnqn: NQN, qid: 1, cntlid: c.dw0 & 0xffff, sqsize: 32, ...opts });
    assert.equal(ic.sc, 0, 'io connect');
    return { admin, io, cntlid: c.dw0 & 0xffff };
  }

  beforeEach(() => {
    target = new Target({ maxIoSize: 128 * 1024 });
    target.createBdev({ type: 'malloc', name: 'Malloc0', numBlocks: BLOCKS, blockSize: 512 });
    const s = target.addSubsystem({ nqn: NQN, serialNumber: 'WIRE0001', modelNumber: 'rdmagate wire test' });
    s.addNamespace({ bdev: 'Malloc0', nsid: 1, nguid: '00112233445566778899aabbccddeeff' });
    port = target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
    target.closeSync();
  });

  it('connects, reports CAP/VS, enables, and identifies the controller and namespace', async () => {
    const admin = await client();
    const rsp = await admin.connectQueue({ subnqn: NQN, enable: false });
    assert.equal(rsp.sc, 0);
    const cntlid = rsp.dw0 & 0xffff;
    assert.ok(cntlid >= 1 && cntlid <= 0xffef);
    const cap = await admin.propertyGet(0x00, true);
    assert.equal(Number(cap.value & 0xffffn), 127, 'MQES');
    assert.equal(Number((cap.value >> 37n) & 1n), 1, 'NVM command set');
    assert.equal(Number((await admin.propertyGet(0x08)).value), 0x10300);
    // Before CC.EN, admin commands are refused.
    const early = await admin.execute(sqe(0x06, { cdw10: 1 }));
    assert.equal(early.cqe.sc, 0x0c, 'command sequence error before enable');
    assert.equal((await admin.propertySet(0x14, 0x460001)).sc, 0);
    assert.equal(Number((await admin.propertyGet(0x1c)).value) & 1, 1, 'CSTS.RDY');

    const idc = sqe(0x06, { cdw10: 1 });
    setSgl(idc, 'transport', 4096);
    const id = await admin.execute(idc);
    assert.equal(id.cqe.sc, 0);
    assert.equal(id.data.length, 4096);
    assert.equal(id.data.subarray(4, 24).toString('ascii').trim(), 'WIRE0001');
    assert.equal(id.data.subarray(24, 64).toString('ascii').trim(), 'rdmagate wire test');
    assert.equal(id.data[77], 5, 'MDTS: 128 KiB in 4 KiB pages');
    assert.equal(id.data.readUInt16LE(78), cntlid);
    assert.equal(id.data[111], 1, 'I/O controller');
    assert.equal(id.data.subarray(768, 768 + NQN.length).toString('ascii'), NQN);
    assert.equal(id.data.readUInt32LE(1792), (64 + 8192) / 16, 'IOCCSZ');

    const idn = sqe(0x06, { nsid: 1, cdw10: 0 });
    setSgl(idn, 'transport', 4096);
    const ns = await admin.execute(idn);
    assert.equal(Number(ns.data.readBigUInt64LE(0)), BLOCKS);
    assert.equal(ns.data[128 + 2], 9, 'LBA data size 2^9');
    assert.equal(ns.data.subarray(104, 120).toString('hex'), '00112233445566778899aabbccddeeff');

    const list = sqe(0x06, { cdw10: 2 });
    setSgl(list, 'transport', 4096);
    const active = await admin.execute(list);
    assert.equal(active.data.readUInt32LE(0), 1);
    assert.equal(active.data.readUInt32LE(4), 0);
    assert.deepEqual(target.controllers().map((c) => [c.cntlid, c.subnqn, c.hostnqn]), [[cntlid, NQN, HOSTNQN]]);
  });

  it('writes in-capsule and through R2T, and reads back through C2HData', async () => {
    const { io } = await controller();
    const small = pattern(4096, 1);
    const w1 = await io.execute(rw(0x01, 1, 8, 8), { writeData: small, inCapsule: true });
    assert.equal(w1.cqe.sc, 0);
    const big = pattern(128 * 1024, 2);
    const w2 = await io.execute(rw(0x01, 1, 100, 256), { writeData: big });
    assert.equal(w2.cqe.sc, 0);
    const r1 = await io.execute(rw(0x02, 1, 8, 8));
    assert.ok(r1.data.equals(small));
    const r2 = await io.execute(rw(0x02, 1, 100, 256));
    assert.ok(r2.data.equals(big));
  });

  it('checks header and data digests when negotiated', async () => {
    const { io } = await controller({ hdgst: true, ddgst: true });
    assert.ok(io.hdgst && io.ddgst);
    const data = pattern(64 * 1024, 3);
    assert.equal((await io.execute(rw(0x01, 1, 0, 128), { writeData: data })).cqe.sc, 0);
    const r = await io.execute(rw(0x02, 1, 0, 128));
    assert.ok(r.data.equals(data));
  });

  it('write zeroes, deallocate and flush', async () => {
    const { io } = await controller();
    await io.execute(rw(0x01, 1, 0, 16), { writeData: pattern(8192, 4) });
    assert.equal((await io.execute(sqe(0x08, { nsid: 1, cdw10: 0, cdw12: 7 }))).cqe.sc, 0);
    const r = await io.execute(rw(0x02, 1, 0, 16));
    assert.ok(r.data.subarray(0, 4096).equals(Buffer.alloc(4096)));
    assert.ok(r.data.subarray(4096).equals(pattern(8192, 4).subarray(4096)));
    const range = Buffer.alloc(16);
    range.writeUInt32LE(8, 4);      // nlb
    range.writeBigUInt64LE(8n, 8);  // slba
    const dsm = sqe(0x09, { nsid: 1, cdw10: 0, cdw11: 1 << 2 });
    assert.equal((await io.execute(dsm, { writeData: range, inCapsule: true })).cqe.sc, 0);
    const z = await io.execute(rw(0x02, 1, 0, 16));
    assert.ok(z.data.equals(Buffer.alloc(8192)));
    assert.equal((await io.execute(sqe(0x00, { nsid: 1 }))).cqe.sc, 0);
  });

  it('answers an unknown opcode with Invalid Command Opcode', async () => {
    const { admin, io } = await controller();
    const a = await admin.execute(sqe(0xc5));
    assert.deepEqual([a.cqe.sct, a.cqe.sc, a.cqe.dnr], [0, 0x01, true]);
    const i = await io.execute(sqe(0x7e, { nsid: 1 }));
    assert.deepEqual([i.cqe.sct, i.cqe.sc], [0, 0x01]);
  });

  it('answers a read or write past the namespace end with LBA Out of Range', async () => {
    const { io } = await controller();
    const r = await io.execute(rw(0x02, 1, BLOCKS - 4, 8));
    assert.deepEqual([r.cqe.sct, r.cqe.sc], [0, 0x80]);
    const w = await io.execute(rw(0x01, 1, BLOCKS, 1), { writeData: Buffer.alloc(512), inCapsule: true });
    assert.deepEqual([w.cqe.sct, w.cqe.sc], [0, 0x80]);
    const bad = await io.execute(rw(0x02, 7, 0, 1));
    assert.deepEqual([bad.cqe.sct, bad.cqe.sc], [0, 0x0b], 'invalid namespace');
  });

  it('answers a transfer over MDTS with Invalid Field', async () => {
    const { io } = await controller();
    const r = await io.execute(rw(0x02, 1, 0, 512)); // 256 KiB > 128 KiB
    assert.deepEqual([r.cqe.sct, r.cqe.sc], [0, 0x02]);
  });

  it('rejects Connect to an unknown subsystem NQN with Connect Invalid Parameters', async () => {
    const c = await client();
    const rsp = await c.connectQueue({ subnqn: 'nqn.2026-11.io.rdmagate:nope' });
    assert.deepEqual([rsp.sct, rsp.sc, rsp.dnr], [1, 0x82, true]);
    assert.equal(rsp.dw0, (1 << 16) | 256, 'IATTR data, IPO at subnqn');
  });

  it('rejects a host that is not on the allow-list with Connect Invalid Host', async () => {
    const s = target.subsystem(NQN)!;
    s.allowAnyHost(false);
    s.addHost('nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000001');
    const c = await client();
    const rsp = await c.connectQueue({ subnqn: NQN });
    assert.deepEqual([rsp.sct, rsp.sc], [1, 0x84]);
    s.addHost(HOSTNQN);
    const ok = await client();
    assert.equal((await ok.connectQueue({ subnqn: NQN })).sc, 0);
  });

  it('asks a host with keys to authenticate, and runs nothing but the authentication commands until it has', async () => {
    const s = target.subsystem(NQN)!;
    s.allowAnyHost(false);
    s.addHost({ nqn: HOSTNQN, dhchapKey: dhchapSecret(1) });
    const c = await client();
    const rsp = await c.connectQueue({ subnqn: NQN, enable: false });
    assert.equal(rsp.sc, 0);
    assert.equal(rsp.dw0 & (1 << 17), 1 << 17, 'AUTHREQ.ATR: authentication required');
    // Property Set (CC.EN), Identify: Authentication Required (SCT 1, SC 91h), with DNR.
    const cc = await c.propertySet(0x14, 0x460001);
    assert.deepEqual([cc.sct, cc.sc, cc.dnr], [1, 0x91, true]);
    const identify = await c.execute(sqe(0x06, { cdw10: 1 }), {});
    assert.deepEqual([identify.cqe.sct, identify.cqe.sc], [1, 0x91]);
    // Authentication Send with a wrong SECP: Invalid Field; then a Negotiate cut short, and the
    // Failure1 that Authentication Receive then returns (incorrect payload).
    const send = (secp: number, data: Buffer) => {
      const cmd = Buffer.alloc(64);
      cmd.writeUInt8(0x7f, 0);
      cmd.writeUInt8(0x05, 4);
      cmd.writeUInt8(0x01, 41);
      cmd.writeUInt8(0x01, 42);
      cmd.writeUInt8(secp, 43);
      cmd.writeUInt32LE(data.length, 44);
      return c.execute(cmd, { writeData: data, inCapsule: true });
    };
    assert.deepEqual([(await send(0xea, Buffer.alloc(72))).cqe.sc], [0x02]);
    assert.equal((await send(0xe9, Buffer.from([0x00, 0x00, 0, 0, 1, 0, 0, 1]))).cqe.sc, 0);
    const recv = Buffer.alloc(64);
    recv.writeUInt8(0x7f, 0);
    recv.writeUInt8(0x06, 4);
    recv.writeUInt8(0x01, 41);
    recv.writeUInt8(0x01, 42);
    recv.writeUInt8(0xe9, 43);
    recv.writeUInt32LE(64, 44);
    setSgl(recv, 'transport', 64);
    const failure = await c.execute(recv);
    assert.equal(failure.cqe.sc, 0);
    assert.deepEqual([...failure.data.subarray(0, 2)], [0x00, 0xf1], 'Failure1');
    assert.equal(failure.data[7], 0x06, 'incorrect payload');
    // Still refused: a failed transaction does not open the queue.
    assert.equal((await c.propertySet(0x14, 0x460001)).sc, 0x91);
    const q = target.qpairs().find((x) => x.qid === 0);
    assert.deepEqual(q?.auth, { state: 'failed', bidirectional: false });
  });

  it('admits an empty host NQN (as SPDK\'s perf sends it) only where any host may connect', async () => {
    const anon = await client();
    const ok = await anon.connectQueue({ subnqn: NQN, hostnqn: '' });
    assert.deepEqual([ok.sct, ok.sc], [0, 0]);
    const s = target.subsystem(NQN)!;
    s.allowAnyHost(false);
    s.addHost(HOSTNQN);
    const refused = await (await client()).connectQueue({ subnqn: NQN, hostnqn: '' });
    assert.deepEqual([refused.sct, refused.sc, refused.dw0], [1, 0x82, (1 << 16) | 512], 'IATTR data, IPO at hostnqn');
  });

  it('rejects an I/O queue Connect before the admin queue', async () => {
    const c = await client();
    const rsp = await c.connectQueue({ subnqn: NQN, qid: 1, cntlid: 1 });
    assert.deepEqual([rsp.sct, rsp.sc], [1, 0x82]);
    assert.equal(rsp.dw0, (1 << 16) | 16, 'IATTR data, IPO at cntlid');
  });

  it('rejects a second Connect on the same queue and a bad queue size', async () => {
    const c = await client();
    const first = await c.connectQueue({ subnqn: NQN });
    assert.equal(first.sc, 0);
    const sq = Buffer.alloc(64);
    sq.writeUInt8(0x7f, 0); sq.writeUInt8(0x01, 4); sq.writeUInt16LE(31, 44);
    const again = await c.execute(sq, { writeData: Buffer.alloc(1024), inCapsule: true });
    assert.equal(again.cqe.sc, 0x0c);
    const d = await client();
    const big = await d.connectQueue({ subnqn: NQN, sqsize: 4096 });
    assert.deepEqual([big.sct, big.sc, big.dw0], [1, 0x82, 44]);
  });

  for (const [name, bytes] of [
    ['an unknown PDU type', (() => { const b = Buffer.alloc(8); b[0] = 0x0f; b[2] = 8; b.writeUInt32LE(8, 4); return b; })()],
    ['a wrong header length', (() => { const b = Buffer.alloc(72); b[0] = PDU.Cmd; b[2] = 64; b.writeUInt32LE(72, 4); return b; })()],
    ['a PDU length shorter than its header', (() => { const b = Buffer.alloc(72); b[0] = PDU.Cmd; b[2] = 72; b.writeUInt32LE(40, 4); return b; })()],
    ['a controller-to-host PDU type', (() => { const b = Buffer.alloc(24); b[0] = PDU.Rsp; b[2] = 24; b.writeUInt32LE(24, 4); return b; })()],
  ] as const) {
    it(`terminates the connection on ${name}, and keeps serving others`, async () => {
      const good = await controller();
      const bad = await client();
      await bad.icreq();
      bad.raw(bytes);
      const term = await bad.next();
      assert.ok(term, 'a termination PDU');
      assert.equal(term.type, PDU.C2HTermReq);
      const fes = term.header.readUInt16LE(8);
      assert.ok(fes >= 1 && fes <= 6, `fatal error status ${fes}`);
      await bad.waitClosed();
      const r = await good.io.execute(rw(0x02, 1, 0, 1));
      assert.equal(r.cqe.sc, 0, 'the other controller still works');
    });
  }

  it('terminates on a bad header digest with Header Digest Error', async () => {
    const bad = await client();
    await bad.icreq({ hdgst: true });
    const h = Buffer.alloc(76);
    h[0] = PDU.Cmd; h[1] = 1; h[2] = 72; h.writeUInt32LE(76, 4);
    h.writeUInt32LE(0xdeadbeef, 72);
    bad.raw(h);
    const term = await bad.next();
    assert.equal(term?.type, PDU.C2HTermReq);
    assert.equal(term?.header.readUInt16LE(8), 3);
    await bad.waitClosed();
  });

  it('terminates on a truncated ICReq-less stream (command before ICReq)', async () => {
    const bad = await client();
    bad.sendCommand(sqe(0x06));
    const term = await bad.next();
    assert.equal(term?.type, PDU.C2HTermReq);
    assert.equal(term?.header.readUInt16LE(8), 2, 'PDU sequence error');
    await bad.waitClosed();
  });

  it('tears the controller down when keep-alives stop', async () => {
    const admin = await client();
    const rsp = await admin.connectQueue({ subnqn: NQN, kato: 1000 });
    assert.equal(rsp.sc, 0);
    const io = await client();
    assert.equal((await io.connectQueue({ subnqn: NQN, qid: 1, cntlid: rsp.dw0 & 0xffff })).sc, 0);
    // Keep-alives hold it up...
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 150));
      assert.equal((await admin.execute(sqe(0x18))).cqe.sc, 0);
    }
    assert.equal(target.controllers().length, 1);
    // ...and silence takes it down, with its I/O queue.
    await admin.waitClosed(5000);
    await io.waitClosed(5000);
    assert.equal(target.controllers().length, 0);
  });

  it('sends a namespace-change notice and the Changed Namespace List', async () => {
    const { admin } = await controller();
    assert.equal((await admin.execute(sqe(0x09, { cdw10: 0x0b, cdw11: 1 << 8 }))).cqe.sc, 0);
    const aerCid = admin.sendCommand(sqe(0x0c));
    target.createBdev({ type: 'malloc', name: 'Malloc1', numBlocks: 64 });
    target.subsystem(NQN)!.addNamespace({ bdev: 'Malloc1', nsid: 2 });
    const p = await admin.next();
    assert.equal(p?.type, PDU.Rsp);
    const cqe = p!.header;
    assert.equal(cqe.readUInt16LE(8 + 12), aerCid);
    const dw0 = cqe.readUInt32LE(8);
    assert.deepEqual([dw0 & 7, (dw0 >> 8) & 0xff, (dw0 >> 16) & 0xff], [2, 0, 4]);
    const log = sqe(0x02, { cdw10: 0x04 | (1023 << 16) });
    setSgl(log, 'transport', 4096);
    const changed = await admin.execute(log);
    assert.equal(changed.data.readUInt32LE(0), 2);
    assert.equal(changed.data.readUInt32LE(4), 0);
  });

  it('a bdev that grows: the hosts of its namespaces get a notice and see the new size; serving, it may not shrink', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rdmagate-resize-'));
    const path = join(dir, 'disk.img');
    writeFileSync(path, Buffer.alloc(0));
    truncateSync(path, 1 << 20);
    try {
      target.createBdev({ type: 'file', name: 'File0', path, blockSize: 512 });
      target.subsystem(NQN)!.addNamespace({ bdev: 'File0', nsid: 2 });
      const { admin, io } = await controller();
      const nsze = async (nsid: number) => {
        const idn = sqe(0x06, { nsid, cdw10: 0 });
        setSgl(idn, 'transport', 4096);
        const ns = await admin.execute(idn);
        return [Number(ns.data.readBigUInt64LE(0)), Number(ns.data.readBigUInt64LE(8))];
      };
      assert.deepEqual(await nsze(2), [2048, 2048]);
      assert.equal(target.resizeBdev('File0'), false, 'the file has not changed');
      assert.equal((await io.execute(rw(0x02, 2, 2048, 1))).cqe.sc, 0x80, 'past the end');

      assert.equal((await admin.execute(sqe(0x09, { cdw10: 0x0b, cdw11: 1 << 8 }))).cqe.sc, 0);
      const aerCid = admin.sendCommand(sqe(0x0c));
      truncateSync(path, 3 << 20);
      assert.equal(target.resizeBdev('File0'), true);
      const p = await admin.next();
      assert.equal(p?.header.readUInt16LE(8 + 12), aerCid);
      const dw0 = p!.header.readUInt32LE(8);
      assert.deepEqual([dw0 & 7, (dw0 >> 8) & 0xff, (dw0 >> 16) & 0xff], [2, 0, 4], 'Namespace Attribute Changed');
      const log = sqe(0x02, { cdw10: 0x04 | (1023 << 16) });
      setSgl(log, 'transport', 4096);
      const changed = await admin.execute(log);
      assert.deepEqual([changed.data.readUInt32LE(0), changed.data.readUInt32LE(4)], [2, 0]);
      assert.deepEqual(await nsze(2), [6144, 6144]);
      assert.equal(target.bdevs().find((b) => b.name === 'File0')!.numBlocks, 6144);
      const data = pattern(512, 3);
      assert.equal((await io.execute(rw(0x01, 2, 6143, 1), { writeData: data })).cqe.sc, 0, 'the new last block');
      assert.ok(readFileSync(path).subarray(6143 * 512).equals(data));

      truncateSync(path, 2 << 20);
      assert.throws(() => target.resizeBdev('File0'), { code: 'ERR_BUSY' });
      assert.deepEqual(await nsze(2), [6144, 6144], 'the size a host knows stays');
      assert.throws(() => target.resizeBdev('File0', 100), { code: 'ERR_NOT_SUPPORTED' });
      assert.throws(() => target.resizeBdev('Malloc0', 100), { code: 'ERR_NOT_SUPPORTED' });
      assert.throws(() => target.resizeBdev('Nope'), { code: 'ERR_NOT_FOUND' });

      // A null bdev takes the size it is given; unserved, it may shrink too.
      target.createBdev({ type: 'null', name: 'Null0', numBlocks: 64 });
      assert.equal(target.resizeBdev('Null0', 32), true);
      assert.throws(() => target.resizeBdev('Null0', 0), { code: 'ERR_INVALID_ARG' });
      target.subsystem(NQN)!.addNamespace({ bdev: 'Null0', nsid: 3 });
      assert.equal(target.resizeBdev('Null0', 128), true);
      assert.deepEqual(await nsze(3), [128, 128]);
      assert.throws(() => target.resizeBdev('Null0', 64), { code: 'ERR_BUSY' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const engine of ['auto', 'threads']) {
    it(`serves a file bdev (${engine} engine): writes land in the file, reads come from it`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'rdmagate-file-'));
      const path = join(dir, 'disk.img');
      writeFileSync(path, Buffer.alloc(0));
      truncateSync(path, 4 << 20);
      process.env.RDMAGATE_FILE_BDEV_ENGINE = engine;
      try {
        const info = target.createBdev({ type: 'file', name: 'File0', path, blockSize: 512 });
        assert.equal(info.numBlocks, (4 << 20) / 512);
        assert.equal(info.engine, engine === 'threads' ? 'threads' : info.engine);
        target.subsystem(NQN)!.addNamespace({ bdev: 'File0', nsid: 3 });
        const { io } = await controller();
        const data = pattern(64 * 1024, 9);
        assert.equal((await io.execute(rw(0x01, 3, 1024, 128), { writeData: data })).cqe.sc, 0);
        assert.equal((await io.execute(sqe(0x00, { nsid: 3 }))).cqe.sc, 0, 'flush');
        const onDisk = readFileSync(path).subarray(1024 * 512, 1024 * 512 + data.length);
        assert.ok(onDisk.equals(data), 'the bytes are in the file');
        const r = await io.execute(rw(0x02, 3, 1024, 128));
        assert.ok(r.data.equals(data));
        assert.equal((await io.execute(sqe(0x08, { nsid: 3, cdw10: 1024, cdw12: 15 }))).cqe.sc, 0, 'write zeroes');
        assert.ok(readFileSync(path).subarray(1024 * 512, 1040 * 512).equals(Buffer.alloc(16 * 512)));
        assert.deepEqual([(await io.execute(rw(0x02, 3, 8192, 1))).cqe.sc], [0x80], 'LBA out of range');
      } finally {
        delete process.env.RDMAGATE_FILE_BDEV_ENGINE;
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('refuses a file bdev that does not exist, with a typed error', () => {
    assert.throws(() => target.createBdev({ type: 'file', name: 'Nope', path: '/nonexistent/disk.img' }), { code: 'ERR_NOT_FOUND' });
    assert.throws(() => target.createBdev({ type: 'file', name: 'Nope' }), { code: 'ERR_INVALID_ARG' });
  });

  it('listens on IPv6 too, and says so in the discovery log', async () => {
    const l = target.listen({ transport: 'tcp', address: '::1', port: 0 });
    assert.equal(l.info.adrfam, 'IPv6');
    const c = await WireClient.open(l.port, '::1');
    clients.push(c);
    assert.equal((await c.connectQueue({ subnqn: NQN })).sc, 0);
    const d = await WireClient.open(l.port, '::1');
    clients.push(d);
    assert.equal((await d.connectQueue({ subnqn: DISCOVERY_NQN })).sc, 0);
    const log = sqe(0x02, { cdw10: 0x70 | (((4 * 1024) / 4 - 1) << 16) });
    setSgl(log, 'transport', 4 * 1024);
    const page = (await d.execute(log)).data;
    const v6 = Array.from({ length: Number(page.readBigUInt64LE(8)) }, (_, i) => page.subarray(1024 * (i + 1), 1024 * (i + 2)))
      .find((e) => e.subarray(512, 515).toString('ascii') === '::1');
    assert.ok(v6, 'an entry with traddr ::1');
    assert.equal(v6[1], 2, 'adrfam IPv6');
  });

  it('offers a subsystem only on its own listeners once it has some', async () => {
    const other = 'nqn.2026-11.io.rdmagate:wire-other';
    target.createBdev({ type: 'null', name: 'Null0', numBlocks: 1024 });
    const s = target.addSubsystem({ nqn: other });
    s.addNamespace({ bdev: 'Null0' });
    const own = s.addListener({ transport: 'tcp', address: '127.0.0.1', port: 24000 + (process.pid % 2000) });
    assert.deepEqual(target.subsystems().find((x) => x.nqn === other)?.listeners.map((l) => l.trsvcid), [own.trsvcid]);
    // Through the shared listener: neither listed nor connectable.
    const d = await client();
    assert.equal((await d.connectQueue({ subnqn: DISCOVERY_NQN })).sc, 0);
    const log = sqe(0x02, { cdw10: 0x70 | (((4 * 1024) / 4 - 1) << 16) });
    setSgl(log, 'transport', 4 * 1024);
    const page = (await d.execute(log)).data;
    const text = (b: Buffer) => b.toString('ascii').replace(/\0+$/, '');
    const entries = Array.from({ length: Number(page.readBigUInt64LE(8)) }, (_, i) => {
      const e = page.subarray(1024 * (i + 1), 1024 * (i + 2));
      return `${text(e.subarray(256, 512))}@${text(e.subarray(32, 64))}`;
    });
    assert.ok(entries.includes(`${other}@${own.trsvcid}`), entries.join(', '));
    assert.ok(!entries.includes(`${other}@${port}`), `not offered on the shared listener: ${entries.join(', ')}`);
    const denied = await client();
    assert.deepEqual([(await denied.connectQueue({ subnqn: other })).sc], [0x84]);
    // Through its own listener: yes.
    const c = await WireClient.open(own.trsvcid);
    clients.push(c);
    assert.equal((await c.connectQueue({ subnqn: other })).sc, 0);
  });

  it('serves the discovery log page to a discovery controller', async () => {
    const d = await client();
    const rsp = await d.connectQueue({ subnqn: DISCOVERY_NQN });
    assert.equal(rsp.sc, 0);
    const idc = sqe(0x06, { cdw10: 1 });
    setSgl(idc, 'transport', 4096);
    assert.equal((await d.execute(idc)).data[111], 2, 'discovery controller');
    const log = sqe(0x02, { cdw10: 0x70 | (((3 * 1024) / 4 - 1) << 16) });
    setSgl(log, 'transport', 3 * 1024);
    const page = (await d.execute(log)).data;
    const numrec = Number(page.readBigUInt64LE(8));
    assert.equal(numrec, 2, 'the subsystem and the discovery subsystem, on one listener');
    const e = page.subarray(1024, 2048);
    assert.equal(e[0], 3, 'trtype tcp');
    assert.equal(e[2], 2, 'subtype NVMe');
    assert.equal(e.subarray(32, 64).toString('ascii').replace(/\0+$/, ''), String(port));
    assert.equal(e.subarray(256, 512).toString('ascii').replace(/\0+$/, ''), NQN);
    assert.equal(e.subarray(512, 768).toString('ascii').replace(/\0+$/, ''), '127.0.0.1');
  });
});
