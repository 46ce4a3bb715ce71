/**
 * Multipath in rdmagate's own host (issue 17 item 3): one controller over two targets that
 * export one subsystem over one file, as two gateways over one backend do. A path that is
 * lost, or that answers ANA Inaccessible, hands its commands to the other; a command's own
 * error is not retried; paths that are not one subsystem are refused.
 */
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufferPool, Target, nvmf } from '../../lib';

const NQN = 'nqn.2026-12.io.rdmagate:multipath';
const UUID = '0c4f6e2a-7d1b-4c3e-9a8f-112233445566';

describe('host multipath', function () {
  this.timeout(30000);
  let dir: string;
  let file: string;
  const targets = new Map<string, Target>();
  const ports: Record<string, number> = {};
  const pool = new BufferPool({ chunkSize: 64 * 1024 });
  const controllers: nvmf.MultipathController[] = [];

  /** Target `name` over the shared file, on its port (the same one when started again). */
  function startTarget(name: 'A' | 'B', cntlids: [number, number]): Target {
    const t = new Target();
    t.createBdev({ type: 'file', name: 'File0', path: file, blockSize: 512 });
    const s = t.addSubsystem({ nqn: NQN, serialNumber: 'MULTIPATH01', anaReporting: true, minCntlid: cntlids[0], maxCntlid: cntlids[1] });
    s.addNamespace({ bdev: 'File0', nsid: 1, uuid: UUID, nguid: UUID.replace(/-/g, '') });
    ports[name] = t.listen({ transport: 'tcp', address: '127.0.0.1', port: ports[name] ?? 0 }).port;
    s.addListener({ address: '127.0.0.1', port: ports[name] });
    targets.set(name, t);
    return t;
  }

  const path = (name: string) => ({ traddr: '127.0.0.1', trsvcid: ports[name]!, subnqn: NQN, reconnectDelay: 0.1 });

  async function open(policy?: nvmf.MultipathPolicy): Promise<nvmf.MultipathController> {
    const c = await nvmf.connectMultipath({ paths: [path('A'), path('B')], policy });
    controllers.push(c);
    return c;
  }

  async function roundTrip(c: nvmf.MultipathController, lba: number, seed: number): Promise<void> {
    const b = pool.acquire();
    try {
      b.fill(seed, 0, 4096);
      await c.queuePairs[0]!.write(1, lba, 8, b);
      b.fill(0, 0, 4096);
      await c.queuePairs[0]!.read(1, lba, 8, b);
      assert.equal(b[0], seed);
      assert.equal(b[4095], seed);
    } finally {
      b.release();
    }
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-multipath-'));
    file = join(dir, 'volume.img');
    const fd = openSync(file, 'w');
    ftruncateSync(fd, 4 << 20);
    closeSync(fd);
    for (const k of Object.keys(ports)) delete ports[k];
    startTarget('A', [1, 99]);
    startTarget('B', [100, 199]);
  });

  afterEach(async () => {
    for (const c of controllers.splice(0)) await c.close();
    for (const t of targets.values()) t.closeSync();
    targets.clear();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rides out a lost path and a path that turns ANA inaccessible, with the data where it was written', async () => {
    const c = await open();
    await roundTrip(c, 0, 0x11);
    targets.get('A')!.closeSync();  // the first path is lost: its commands go down B
    await roundTrip(c, 8, 0x22);
    await roundTrip(c, 0, 0x33);
    assert.notEqual(c.paths()[0]!.state, 'live');

    startTarget('A', [1, 99]);  // A comes back, and its path reconnects by itself
    while (c.paths()[0]!.state !== 'live') await new Promise((r) => setTimeout(r, 20));
    await roundTrip(c, 16, 0x44);
    // A turns inaccessible: its notice tells the host, whose ANA log of A then says so, and B serves.
    targets.get('A')!.subsystem(NQN)!.setListenerAnaState({ address: '127.0.0.1', port: ports.A! }, 'inaccessible');
    while (c.paths()[0]!.ana[1] !== 'inaccessible') await new Promise((r) => setTimeout(r, 10));
    const servedBy = (name: string) => targets.get(name)!.qpairs().filter((q) => q.qid > 0).reduce((a, q) => a + q.commands, 0);
    const [a0, b0] = [servedBy('A'), servedBy('B')];
    await roundTrip(c, 24, 0x55);
    assert.deepEqual([servedBy('A') - a0, servedBy('B') - b0], [0, 2], 'B took both commands');
    const b = pool.acquire();
    try {
      for (const [lba, seed] of [[0, 0x33], [8, 0x22], [16, 0x44], [24, 0x55]] as const) {
        await c.queuePairs[0]!.read(1, lba, 8, b);
        assert.equal(b[100], seed, `lba ${lba}`);
      }
    } finally {
      b.release();
    }
  });

  it('prefers an optimized path to a non-optimized one, whatever the order of the paths', async () => {
    targets.get('A')!.subsystem(NQN)!.setListenerAnaState({ address: '127.0.0.1', port: ports.A! }, 'non_optimized');
    const c = await open();
    assert.deepEqual(c.paths().map((p) => p.ana), [{ 1: 'non_optimized' }, { 1: 'optimized' }]);
    const servedByA = () => targets.get('A')!.qpairs().filter((q) => q.qid > 0).reduce((a, q) => a + q.commands, 0);
    const before = servedByA();  // the queues' Connects
    await roundTrip(c, 0, 0x66);
    assert.equal(servedByA(), before, 'B, optimized, took the commands');
  });

  it('round-robin spreads commands over both paths', async () => {
    const c = await open('round-robin');
    for (let i = 0; i < 8; i++) await roundTrip(c, i * 8, i + 1);
    for (const name of ['A', 'B']) {
      const commands = targets.get(name)!.qpairs().filter((q) => q.qid > 0).reduce((a, q) => a + q.commands, 0);
      assert.ok(commands > 0, `path ${name} served commands`);
    }
  });

  it('queue-depth sends each command down the path with the fewest outstanding', async () => {
    const c = await open('queue-depth');
    const served = () => ['A', 'B'].map((name) =>
      targets.get(name)!.qpairs().filter((q) => q.qid > 0).reduce((a, q) => a + q.commands, 0));
    const [a0, b0] = served();
    // 16 writes at once: each pick sees the other path with fewer outstanding, so they split evenly.
    const buffers = Array.from({ length: 16 }, () => pool.acquire());
    try {
      await Promise.all(buffers.map((b, i) => c.queuePairs[0]!.write(1, i * 8, 8, b)));
    } finally {
      for (const b of buffers) b.release();
    }
    const [a1, b1] = served();
    assert.deepEqual([a1! - a0!, b1! - b0!], [8, 8]);
    // One after another, nothing is outstanding at a pick: the first usable path takes each.
    for (let i = 0; i < 4; i++) await roundTrip(c, i * 8, i + 1);
    const [a2, b2] = served();
    assert.deepEqual([a2! - a1!, b2! - b1!], [8, 0]);
  });

  it('passes by a path that lacks the namespace for a while (a restarted gateway before it re-adds it)', async () => {
    const c = await open();
    await roundTrip(c, 0, 0x21);
    const a = targets.get('A')!;
    const until = async (done: () => boolean) => {
      while (!done()) await new Promise((r) => setTimeout(r, 10));
    };
    a.subsystem(NQN)!.removeNamespace(1);
    await until(() => c.namespaces.length === 0);  // path A read its notice; c.namespaces are the first path's
    const served = () => a.qpairs().filter((q) => q.qid > 0).reduce((n, q) => n + q.commands, 0);
    const before = served();
    for (let i = 0; i < 8; i++) await roundTrip(c, 8 * i, 0x30 + i);
    assert.equal(served(), before, 'nothing went down the path without the namespace');
    const b = pool.acquire();
    await assert.rejects(c.queuePairs[0]!.read(7, 0, 8, b), { code: 'ERR_INVALID_ARG' });
    b.release();
    a.subsystem(NQN)!.addNamespace({ bdev: 'File0', nsid: 1, uuid: UUID, nguid: UUID.replace(/-/g, '') });
    await until(() => c.namespaces.length === 1);
    await roundTrip(c, 64, 0x41);
  });

  it('does not retry a command\'s own error, and refuses paths that are not one subsystem', async () => {
    const c = await open();
    const b = pool.acquire();
    await assert.rejects(c.queuePairs[0]!.read(1, 8192, 8, b), { code: 'ERR_OUT_OF_RANGE' });
    b.release();
    assert.deepEqual(c.paths().map((p) => p.failovers), [0, 0]);
    const other = new Target();
    targets.set('other', other);
    other.createBdev({ type: 'malloc', name: 'M', numBlocks: 2048, blockSize: 512 });
    other.addSubsystem({ nqn: NQN, allowAnyHost: true }).addNamespace({ bdev: 'M', nsid: 1 });
    const port = other.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
    await assert.rejects(nvmf.connectMultipath({ paths: [path('A'), { traddr: '127.0.0.1', trsvcid: port, subnqn: NQN }] }),
      { code: 'ERR_MULTIPATH_MISMATCH' });
  });
});
