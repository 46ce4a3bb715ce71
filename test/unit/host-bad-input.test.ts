/** Bad input to the NVMe/TCP host: every wrong option or argument is a typed error, never a crash. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { BufferPool, NvmeConnectError, connect, discover, hostResources, rdma, type ConnectOptions, type Controller, type IoBuffer } from '../../lib';
import { native, type NativeHostOptions } from '../../lib/native';
import { connectOptions, discoverOptions } from '../../lib/nvmf/host/options';
import { BLOCKS, SUBNQN, FakeController, settle } from './host-fake-controller';

const WRONG = [null, -1, 1.5, 2 ** 53, Number.NaN, Infinity, '4420', {}, [], 10n, () => 0];
const code = (c: string) => ({ code: c });
const BASE: ConnectOptions = { traddr: '127.0.0.1', trsvcid: 1, subnqn: SUBNQN, timeoutMs: 2000 };

describe('NVMe/TCP host: bad input', function () {
  this.timeout(20000);

  describe('options', () => {
    afterEach(async () => {
      await settle();
      assert.equal(hostResources().sockets, 0);
    });

    it('connect() options: wrong types, negative and huge values', async () => {
      const integers = ['trsvcid', 'nrIoQueues', 'queueSize', 'timeoutMs', 'reactors'];
      const seconds = ['keepAliveTmo', 'reconnectDelay', 'firstReconnectDelay', 'ctrlLossTmo'];  // fractions allowed
      for (const key of [...integers, ...seconds]) {
        for (const w of WRONG.filter((x) => (x !== 1.5 || integers.includes(key)) && !(x === -1 && key === 'ctrlLossTmo'))) {
          await assert.rejects(connect({ ...BASE, [key]: w }), code('ERR_INVALID_ARG'), `${key}=${String(w)}`);
        }
      }
      const ranges: [string, unknown][] = [
        ['trsvcid', 0], ['trsvcid', 65536], ['nrIoQueues', 0], ['nrIoQueues', 1025], ['queueSize', 1],
        ['queueSize', 4096], ['keepAliveTmo', -1], ['reconnectDelay', 0], ['ctrlLossTmo', -2],
        ['timeoutMs', 0], ['reactors', 0], ['reactors', 65], ['firstReconnectDelay', 0],
        ['firstReconnectDelay', 11],  // more than reconnectDelay (10 s by default)
      ];
      for (const [key, value] of ranges) {
        await assert.rejects(connect({ ...BASE, [key]: value }), code('ERR_INVALID_ARG'), `${key}=${String(value)}`);
      }
      for (const key of ['headerDigest', 'dataDigest', 'disableSqFlow']) {
        await assert.rejects(connect({ ...BASE, [key]: 'yes' }), code('ERR_INVALID_ARG'), key);
      }
      await assert.rejects(connect({ ...BASE, ioFailureMode: 'sometimes' as 'fail' }), code('ERR_INVALID_ARG'));
      await assert.rejects(connect({ ...BASE, transport: 'fc' as 'tcp' }), code('ERR_INVALID_ARG'));
      for (const bad of [null, 42, [], 'x']) {
        await assert.rejects(connect(bad as unknown as ConnectOptions), code('ERR_INVALID_ARG'));
      }
    });

    it('connect() addresses and names', async () => {
      for (const traddr of [undefined, '', 'localhost', '1.2.3', '300.1.1.1', 'fe80::1::2', 42]) {
        await assert.rejects(connect({ ...BASE, traddr: traddr as string }), code('ERR_INVALID_ARG'), String(traddr));
      }
      for (const subnqn of [undefined, '', 'iqn.2001-04.com.example:x', `nqn.2026-01.io.x:${'a'.repeat(300)}`, 'nqn.bad', 'nqn.2026-13.io.x:y']) {
        await assert.rejects(connect({ ...BASE, subnqn: subnqn as string }), code('ERR_INVALID_ARG'), String(subnqn));
      }
      await assert.rejects(connect({ ...BASE, hostnqn: 'host' }), code('ERR_INVALID_ARG'));
      for (const hostid of ['', 'not-a-uuid', '1234', 42]) {
        await assert.rejects(connect({ ...BASE, hostid: hostid as string }), code('ERR_INVALID_ARG'), String(hostid));
      }
    });

    it("transport 'rdma': accepted, port 4420 by default (discovery too), and no digests", () => {
      const o = connectOptions({ traddr: '192.0.2.1', subnqn: SUBNQN, transport: 'rdma' });
      assert.equal(o.transport, 'rdma');
      assert.equal(o.trsvcid, 4420);
      assert.equal(discoverOptions({ traddr: '192.0.2.1', transport: 'rdma' }).trsvcid, 4420);
      assert.equal(discoverOptions({ traddr: '192.0.2.1' }).trsvcid, 8009);
      assert.equal(connectOptions({ traddr: '192.0.2.1', subnqn: SUBNQN }).transport, 'tcp');
      for (const digest of ['headerDigest', 'dataDigest']) {
        assert.throws(() => connectOptions({ ...BASE, transport: 'rdma', [digest]: true }), code('ERR_INVALID_ARG'), digest);
      }
    });

    it("transport 'rdma' where RDMA cannot reach the address is a typed error, and frees what it took", async function () {
      // With a device (test:rdma, the lab) nothing listens on port 1: the connect is refused.
      if (!rdma.available().available) this.skip();
      const before = rdma.resources();
      const typed = (e: unknown) => {
        const err = e as { code?: string; message?: string };
        assert.ok(err.code === 'ERR_NVME_CONNECT' || err.code === 'ERR_RDMA_UNAVAILABLE', `${err.code}: ${err.message}`);
        return true;
      };
      await assert.rejects(connect({ ...BASE, transport: 'rdma' }), typed);
      await assert.rejects(discover({ traddr: '127.0.0.1', trsvcid: 1, transport: 'rdma', timeoutMs: 2000 }), typed);
      assert.deepEqual(rdma.resources(), before);
    });

    it("transport 'rdma' without rdma-core is RdmaUnavailableError, before anything starts", () => {
      const root = path.resolve(__dirname, '..', '..', '..');
      const out = execFileSync(process.execPath, ['-e', `
        const r = require('./dist/lib');
        r.connect({ traddr: '127.0.0.1', subnqn: '${SUBNQN}', transport: 'rdma' }).then(
          () => console.log('{}'), (e) => console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })));
      `], { cwd: root, encoding: 'utf8', env: { ...process.env, RDMAGATE_LIBIBVERBS: 'libibverbs-not-installed.so.1' } });
      const e = JSON.parse(out) as { name: string; code: string; message: string };
      assert.equal(e.name, 'RdmaUnavailableError');
      assert.equal(e.code, 'ERR_RDMA_UNAVAILABLE');
      assert.match(e.message, /libibverbs-not-installed/);
    });

    it('a closed port is NvmeConnectError with ECONNREFUSED, over IPv4 and IPv6', async () => {
      for (const traddr of ['127.0.0.1', '::1']) {
        await assert.rejects(connect({ ...BASE, traddr }), (e: unknown) => {
          assert.ok(e instanceof NvmeConnectError, String(e));
          assert.equal(e.code, 'ERR_NVME_CONNECT');
          assert.equal(e.errno, 111);
          return true;
        });
      }
      await assert.rejects(discover({ traddr: '127.0.0.1', trsvcid: 1 }), code('ERR_NVME_CONNECT'));
    });

    it('discover() options', async () => {
      await assert.rejects(discover(undefined as unknown as { traddr: string }), code('ERR_INVALID_ARG'));
      await assert.rejects(discover({ traddr: 'x' }), code('ERR_INVALID_ARG'));
      await assert.rejects(discover({ traddr: '127.0.0.1', trsvcid: -1 }), code('ERR_INVALID_ARG'));
      await assert.rejects(discover({ traddr: '127.0.0.1', subnqn: 'x' }), code('ERR_INVALID_ARG'));
    });
  });

  describe('I/O arguments', () => {
    let fake: FakeController;
    let c: Controller;
    let pool: BufferPool;
    let buf: IoBuffer;

    before(async () => {
      fake = new FakeController();
      const port = await fake.listen();
      c = await connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: SUBNQN });
      pool = new BufferPool({ chunkSize: 256 * 1024 });
      buf = pool.acquire();
    });
    after(async () => {
      await c.close();
      buf.release();
      pool.close();
      await fake.close();
      await settle();
      assert.equal(hostResources().sockets, 0);
    });

    it('nsid, lba, blocks and offset are checked before anything is sent', async () => {
      const qp = c.queuePairs[0];
      for (const w of [...WRONG, 0, 2, 0xffffffff]) {
        await assert.rejects(qp.read(w as number, 0, 1, buf), code('ERR_INVALID_ARG'), `nsid=${String(w)}`);
      }
      for (const w of [null, -1, 1.5, Number.NaN, '0', -1n, 1n << 60n]) {
        await assert.rejects(qp.read(1, w as number, 1, buf), code('ERR_INVALID_ARG'), `lba=${String(w)}`);
      }
      for (const w of [...WRONG, 0, 65537]) {
        await assert.rejects(qp.write(1, 0, w as number, buf), code('ERR_INVALID_ARG'), `blocks=${String(w)}`);
        await assert.rejects(qp.writeZeroes(1, 0, w as number), code('ERR_INVALID_ARG'), `blocks=${String(w)}`);
      }
      await assert.rejects(qp.read(1, BLOCKS - 1, 2, buf), code('ERR_OUT_OF_RANGE'));
      await assert.rejects(qp.deallocate(1, BLOCKS, 1), code('ERR_OUT_OF_RANGE'));
      await assert.rejects(qp.read(1, 0, 1, buf, buf.length), code('ERR_OUT_OF_RANGE'));
      await assert.rejects(qp.read(1, 0, 1, buf, -1), code('ERR_INVALID_ARG'));
      await assert.rejects(qp.read(1, 0, 512, buf), code('ERR_INVALID_ARG'), '256 KiB exceeds MDTS (128 KiB)');
      assert.equal(fake.ioInFlight, 0, 'nothing reached the controller');
      await qp.read(1, 0, 1, buf);  // and the queue still works
    });

    it('only IoBuffers, and not released ones', async () => {
      const qp = c.queuePairs[0];
      for (const w of [new Uint8Array(4096), Buffer.alloc(4096), null, {}]) {
        await assert.rejects(qp.write(1, 0, 1, w as IoBuffer), code('ERR_INVALID_ARG'));
      }
      const b = pool.acquire();
      b.release();
      await assert.rejects(qp.write(1, 0, 1, b), code('ERR_BUFFER_RELEASED'));
    });

    it('a buffer with I/O in flight cannot be released', async () => {
      const b = pool.acquire();
      let release: () => void = () => undefined;
      fake.onIo = (cmd) => {
        release = () => { fake.onIo = undefined; cmd.conn.respond(cmd.cid); };
        return true;
      };
      const io = c.queuePairs[0].write(1, 0, 1, b);
      while (b.inflight === 0) await new Promise((r) => setTimeout(r, 5));
      assert.throws(() => b.release(), code('ERR_BUFFER_BUSY'));
      while (fake.ioInFlight === 0) await new Promise((r) => setTimeout(r, 5));
      release();
      await io;
      b.release();
    });

    it('the native binding checks its arguments too', async () => {
      const opts: NativeHostOptions = {
        transport: 'tcp', traddr: '127.0.0.1', trsvcid: 1, subnqn: SUBNQN, hostnqn: 'nqn.2014-08.org.nvmexpress:uuid:6f1f3c1e-8d0b-4b53-9d2e-0c6b1f0a7a11',
        hostid: new Uint8Array(16), nrIoQueues: 1, queueSize: 8, keepAliveTmoMs: 0, reconnectDelayMs: 1000,
        firstReconnectDelayMs: 1000, ctrlLossTmoMs: 0, headerDigest: false, dataDigest: false, disableSqFlow: false, recvPipe: true, ioFailureMode: 'fail',
        timeoutMs: 1000, reactors: 1, polling: 'reactor', tlsIdentityVersion: 0,
      };
      const bad: Partial<Record<keyof NativeHostOptions, unknown>>[] = [
        { traddr: 5 }, { traddr: 'host.example' }, { trsvcid: 0 }, { hostid: new Uint8Array(3) }, { hostid: 'x' },
        { queueSize: 1 }, { ctrlLossTmoMs: -5 }, { firstReconnectDelayMs: 2000 }, { ioFailureMode: 'x' }, { reactors: 1000 }, { headerDigest: 1 }, { recvPipe: 'yes' }, { polling: 'spin' }, { tlsIdentityVersion: 2 },
        { subnqn: 'nqn.' }, { hostnqn: '' }, { transport: 'fc' }, { transport: 1 }, { transport: undefined },
      ];
      for (const b of bad) {
        assert.throws(() => native.nvmeConnect({ ...opts, ...b } as NativeHostOptions), code('ERR_INVALID_ARG'), JSON.stringify(b));
      }
      assert.throws(() => native.nvmeConnect(null as unknown as NativeHostOptions), code('ERR_INVALID_ARG'));
      assert.throws(() => native.nvmeDiscover(-1, opts), code('ERR_INVALID_ARG'));
      assert.throws(() => native.nvmeStatusName(-1, 0), code('ERR_INVALID_ARG'));
      assert.equal(native.nvmeStatusName(0, 0x80), 'LBA out of range');

      // A handle whose controller never connects (closed port): no I/O queue exists.
      const { handle } = native.nvmeConnect(opts);
      const ref = buf.nativeRef();
      assert.throws(() => handle.submitBatch(0, 1), code('ERR_INVALID_ARG'), 'no submission buffer yet');
      assert.throws(() => handle.setSubmissionBuffer(new Int32Array(11) as unknown as Uint32Array), code('ERR_INVALID_ARG'));
      const words = new Uint32Array(11 * 2);
      handle.setSubmissionBuffer(words);
      // queue 0, read, nsid 1, LBA 0 (low, high), 1 block, the buffer's pool and chunk, offset 0, 512 bytes, opId 1
      words.set([0, 2, 1, 0, 0, 1, ref.poolId, ref.index, 0, 512, 1]);
      assert.throws(() => handle.submitBatch(0, 1), (e: Error & { code?: string; entry?: number }) =>
        e.code === 'ERR_INVALID_ARG' && /no I\/O queue 0/.test(e.message) && e.entry === 0);
      assert.throws(() => handle.submitBatch(1, 3), code('ERR_INVALID_ARG'), 'past the buffer');
      assert.throws(() => handle.submitBatch(1, 0), code('ERR_INVALID_ARG'));
      assert.throws(() => handle.identify(1, 300, 0), code('ERR_INVALID_ARG'));
      handle.close();
      assert.throws(() => handle.identify(1, 1, 0), code('ERR_NVME_DISCONNECTED'));
    });
  });
});
