/**
 * ANA in the target, on the wire (issue 17 item 1): Identify's ANA fields, the ANA log
 * page, each state's status for I/O, the change notice, controller ID ranges, and bad input.
 */
import assert from 'node:assert/strict';
import { Target } from '../../lib';
import { WireClient, parseCqe, rw, setSgl, sqe } from '../support/nvme-tcp-wire';

const NQN = 'nqn.2026-12.io.rdmagate:ana-test';
const BLOCKS = 2048;

/** Get Log Page `lid` (LSP `lsp`), 4096 bytes. */
function getLogPage(lid: number, lsp = 0, rae = false): Buffer {
  const numd = 4096 / 4 - 1;
  const b = sqe(0x02, { cdw10: lid | lsp << 8 | (rae ? 1 << 15 : 0) | (numd & 0xffff) << 16 });
  setSgl(b, 'transport', 4096);
  return b;
}

interface AnaGroup { grpid: number; state: number; chgcnt: bigint; nsids: number[] }

function parseAnaLog(page: Buffer): { chgcnt: bigint; groups: AnaGroup[] } {
  const chgcnt = page.readBigUInt64LE(0);
  const ngrps = page.readUInt16LE(8);
  const groups: AnaGroup[] = [];
  let at = 16;
  for (let i = 0; i < ngrps; i++) {
    const nnsids = page.readUInt32LE(at + 4);
    groups.push({ grpid: page.readUInt32LE(at), chgcnt: page.readBigUInt64LE(at + 8), state: page[at + 16]! & 0x0f,
      nsids: Array.from({ length: nnsids }, (_, k) => page.readUInt32LE(at + 32 + 4 * k)) });
    at += 32 + 4 * nnsids;
  }
  return { chgcnt, groups };
}

describe('NVMe/TCP target: ANA', function () {
  this.timeout(20000);
  let target: Target;
  let port: number;
  const clients: WireClient[] = [];
  const listener = () => ({ transport: 'tcp' as const, address: '127.0.0.1', port });

  async function client(): Promise<WireClient> {
    const c = await WireClient.open(port);
    clients.push(c);
    return c;
  }

  async function controller(): Promise<{ admin: WireClient; io: WireClient; cntlid: number }> {
    const admin = await client();
    const c = await admin.connectQueue({ subnqn: NQN, kato: 0 });
    assert.equal(c.sc, 0, 'admin connect');
    const io = await client();
    assert.equal((await io.connectQueue({ subnqn: NQN, qid: 1, cntlid: c.dw0 & 0xffff, sqsize: 32 })).sc, 0, 'io connect');
    return { admin, io, cntlid: c.dw0 & 0xffff };
  }

  beforeEach(() => {
    target = new Target();
    target.createBdev({ type: 'malloc', name: 'Malloc0', numBlocks: BLOCKS, blockSize: 512 });
    target.createBdev({ type: 'malloc', name: 'Malloc1', numBlocks: BLOCKS, blockSize: 512 });
    const s = target.addSubsystem({ nqn: NQN, anaReporting: true, minCntlid: 100, maxCntlid: 101, maxNamespaces: 8 });
    s.addNamespace({ bdev: 'Malloc0', nsid: 1 });
    s.addNamespace({ bdev: 'Malloc1', nsid: 2, anagrpid: 5 });
    port = target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
    s.addListener({ address: '127.0.0.1', port });
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
    target.closeSync();
  });

  it('reports ANA in Identify: CMIC, ANACAP, ANAGRPMAX, NANAGRPID, the change notice, each namespace\'s group', async () => {
    const { admin } = await controller();
    const idc = sqe(0x06, { cdw10: 1 });
    setSgl(idc, 'transport', 4096);
    const id = (await admin.execute(idc)).data;
    assert.equal(id[76]! & 0x0a, 0x0a, 'CMIC: several controllers, ANA reporting');
    assert.equal(id.readUInt32LE(92) & 1 << 11, 1 << 11, 'OAES: ANA change notices');
    assert.equal(id[342], 10, 'ANATT');
    assert.equal(id[343]! & 0x07, 0x07, 'ANACAP: optimized, non-optimized, inaccessible');
    assert.deepEqual([id.readUInt32LE(344), id.readUInt32LE(348)], [8, 8], 'ANAGRPMAX, NANAGRPID');
    assert.equal(id.readUInt32LE(540), 8, 'MNAN, which Linux needs with ANA');
    for (const [nsid, grpid] of [[1, 1], [2, 5]] as const) {
      const ids = sqe(0x06, { nsid, cdw10: 0 });
      setSgl(ids, 'transport', 4096);
      const ns = (await admin.execute(ids)).data;
      assert.equal(ns.readUInt32LE(92), grpid, `ANAGRPID of nsid ${nsid}`);
      assert.equal(ns[30]! & 1, 1, 'NMIC: shared');
    }
  });

  it('serves the ANA log page of the controller\'s listener, with and without the NSIDs', async () => {
    const { admin } = await controller();
    let log = parseAnaLog((await admin.execute(getLogPage(0x0c))).data);
    assert.deepEqual(log.groups.map((g) => [g.grpid, g.state, g.nsids]), [[1, 1, [1]], [5, 1, [2]]]);
    target.subsystem(NQN)!.setListenerAnaState(listener(), 'inaccessible', 5);
    log = parseAnaLog((await admin.execute(getLogPage(0x0c, 1))).data);
    assert.deepEqual(log.groups.map((g) => [g.grpid, g.state, g.nsids]), [[1, 1, []], [5, 3, []]], 'RGO: groups only');
    assert.ok(log.chgcnt > 0n && log.groups.every((g) => g.chgcnt === log.chgcnt));
  });

  it('answers I/O by the group\'s state through the listener: path statuses without DNR where it is not accessible', async () => {
    const { io } = await controller();
    const s = target.subsystem(NQN)!;
    const read = async (nsid: number) => (await io.execute(rw(0x02, nsid, 0, 8))).cqe;
    assert.equal((await read(1)).sc, 0);
    s.setListenerAnaState(listener(), 'non_optimized');
    assert.equal((await read(1)).sc, 0, 'non-optimized still serves');
    s.setListenerAnaState(listener(), 'inaccessible', 5);
    assert.equal((await read(1)).sc, 0, 'group 1 untouched');
    const c = await read(2);
    assert.deepEqual([c.sct, c.sc, c.dnr], [3, 0x02, false], 'Asymmetric Access Inaccessible, retryable elsewhere');
    s.setListenerAnaState(listener(), 'optimized');
    assert.equal((await read(2)).sc, 0, 'every group optimized again');
    // A namespace moved to an inaccessible group follows it.
    s.setListenerAnaState(listener(), 'inaccessible', 7);
    s.setNamespaceAnaGroup(1, 7);
    assert.equal((await read(1)).sc, 0x02);
    assert.equal(s.info().namespaces.find((n) => n.nsid === 1)!.anagrpid, 7);
  });

  it('sends an ANA change notice once enabled, again only after the log page is read', async () => {
    const { admin } = await controller();
    const s = target.subsystem(NQN)!;
    assert.equal((await admin.execute(sqe(0x09, { cdw10: 0x0b, cdw11: 1 << 11 }))).cqe.sc, 0, 'ANA change notices on');
    const aer = admin.execute(sqe(0x0c));
    s.setListenerAnaState(listener(), 'inaccessible', 1);
    const notice = (await aer).cqe;
    assert.deepEqual([notice.dw0 & 0x7, (notice.dw0 >> 8) & 0xff, (notice.dw0 >> 16) & 0xff], [2, 0x03, 0x0c],
      'a notice: ANA change, read log page 0x0c');
    // Masked until the log page is read: a second change sends nothing to a waiting request.
    s.setListenerAnaState(listener(), 'optimized', 1);
    admin.sendCommand(sqe(0x0c));
    await assert.rejects(admin.next(300), /no PDU/, 'no notice before the log page is read');
    assert.equal(parseAnaLog((await admin.execute(getLogPage(0x0c))).data).groups[0]!.state, 1);
    s.setListenerAnaState(listener(), 'non_optimized', 1);
    const again = await admin.next();
    assert.equal(parseCqe(again!.header.subarray(8, 24)).dw0 >> 16 & 0xff, 0x0c, 'fires again once read');
  });

  it('hands out controller IDs of the subsystem\'s range only', async () => {
    const ids = [(await controller()).cntlid, (await controller()).cntlid].sort();
    assert.deepEqual(ids, [100, 101]);
    const third = await client();
    const c = await third.connectQueue({ subnqn: NQN, kato: 0 });
    assert.equal(c.sct, 1, 'command specific');
    assert.equal(c.sc, 0x81, 'Connect Controller Busy: the range is spent');
  });

  it('refuses bad ANA input with typed errors, and changes nothing', () => {
    const s = target.subsystem(NQN)!;
    target.createBdev({ type: 'malloc', name: 'Malloc2', numBlocks: BLOCKS, blockSize: 512 });
    assert.throws(() => s.addNamespace({ bdev: 'Malloc2', anagrpid: 9 }), { code: 'ERR_INVALID_ARG' }, 'over ANAGRPMAX');
    assert.throws(() => s.setNamespaceAnaGroup(1, 0), { code: 'ERR_INVALID_ARG' });
    assert.throws(() => s.setListenerAnaState({ address: '127.0.0.1', port: 1 }, 'inaccessible'), { code: 'ERR_NOT_FOUND' });
    assert.throws(() => s.setListenerAnaState(listener(), 'sideways' as 'optimized'), { code: 'ERR_INVALID_ARG' });
    assert.throws(() => s.setListenerAnaState(listener(), 'inaccessible', 9), { code: 'ERR_INVALID_ARG' }, 'group over ANAGRPMAX');
    assert.throws(() => target.addSubsystem({ nqn: `${NQN}-2`, minCntlid: 10, maxCntlid: 9 }), { code: 'ERR_INVALID_ARG' });
    const plain = target.addSubsystem({ nqn: `${NQN}-plain` });
    plain.addListener(listener());
    assert.throws(() => plain.setListenerAnaState(listener(), 'inaccessible'), { code: 'ERR_INVALID_ARG' }, 'no ANA reporting');
    assert.deepEqual(s.info().listeners[0]!.anaStates, [{ anagrpid: 1, state: 'optimized' }, { anagrpid: 5, state: 'optimized' }]);
    assert.equal(s.info().namespaces.length, 2);
  });
});
