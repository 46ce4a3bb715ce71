/**
 * The addon in worker threads: each environment (the main thread, each worker) has its own
 * host runtime, event channel and error factory, so a worker connects, moves data and gets
 * typed errors while the main thread does the same, and a worker that ends without closing
 * takes nothing of the main thread's with it.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { BufferPool, Target, nvmf } from '../../lib';

const NQN = 'nqn.2026-11.io.rdmagate:workers';
const LIB = join(__dirname, '../../lib');

/** What each worker reports back. */
interface WorkerReport {
  ok: boolean;
  error?: string;
  errorCode?: string;
  errorIsTyped?: boolean;
  readBack?: number[];
}

/**
 * A worker that connects to the target on `port`, writes 4 KiB with `seed` at `lba`, reads
 * it back, asks for an LBA past the end (a typed ERR_OUT_OF_RANGE), and closes unless
 * `leaveOpen`. Posts a WorkerReport.
 */
function worker(port: number, lba: number, seed: number, leaveOpen = false): Worker {
  const script = `
    const { parentPort } = require('node:worker_threads');
    const { BufferPool, RdmagateError, nvmf } = require(${JSON.stringify(LIB)});
    (async () => {
      const pool = new BufferPool({ chunkSize: 4096 });
      const ctrl = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: ${port}, subnqn: '${NQN}', nrIoQueues: 1 });
      const w = pool.acquire(), r = pool.acquire();
      for (let i = 0; i < 4096; i++) w[i] = (i * 7 + ${seed}) & 0xff;
      await ctrl.queuePairs[0].write(1, ${lba}, 8, w);
      await ctrl.queuePairs[0].read(1, ${lba}, 8, r);
      let errorCode, errorIsTyped;
      try { await ctrl.queuePairs[0].read(1, (1 << 20) / 512 - 1, 8, r); } catch (e) {
        errorCode = e.code; errorIsTyped = e instanceof RdmagateError;
      }
      const readBack = Array.from(r.subarray(0, 16));
      ${leaveOpen ? '' : 'w.release(); r.release(); await ctrl.close(); pool.close();'}
      parentPort.postMessage({ ok: true, errorCode, errorIsTyped, readBack });
    })().catch((e) => parentPort.postMessage({ ok: false, error: String(e && e.stack || e) }));`;
  return new Worker(script, { eval: true });
}

async function report(w: Worker): Promise<WorkerReport> {
  const [message] = (await once(w, 'message')) as [WorkerReport];
  return message;
}

function expected(seed: number): number[] {
  return Array.from({ length: 16 }, (_, i) => (i * 7 + seed) & 0xff);
}

describe('worker threads', function () {
  this.timeout(30000);
  let target: Target;
  let port: number;

  beforeEach(() => {
    target = new Target({ reactors: 1 });
    target.createBdev({ type: 'malloc', name: 'M', sizeBytes: 1 << 20 });
    target.addSubsystem({ nqn: NQN }).addNamespace({ bdev: 'M', nsid: 1 });
    port = target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
  });

  afterEach(() => target.closeSync());

  it('a worker connects after the main thread has, and both move data at once', async () => {
    const pool = new BufferPool({ chunkSize: 4096 });
    const main = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, nrIoQueues: 1 });
    const workers = [worker(port, 8, 1), worker(port, 16, 2)];
    const exited = workers.map((w) => once(w, 'exit'));  // now: one may end before the other reports
    const buf = pool.acquire();
    buf.fill(0x5a);
    await main.queuePairs[0].write(1, 0, 8, buf);  // while the workers run
    const reports = await Promise.all(workers.map(report));
    for (const [i, r] of reports.entries()) {
      assert.ok(r.ok, r.error);
      assert.deepEqual(r.readBack, expected(i + 1), `worker ${i} reads what it wrote`);
      assert.equal(r.errorCode, 'ERR_OUT_OF_RANGE');
      assert.equal(r.errorIsTyped, true, "the worker's errors come from its own error factory");
    }
    await Promise.all(exited);
    // The main thread's controller still works after the workers are gone.
    buf.fill(0);
    await main.queuePairs[0].read(1, 0, 8, buf);
    assert.equal(buf[100], 0x5a);
    buf.release();
    await main.close();
    pool.close();
  });

  it('a worker that ends with its controller open leaves the main thread working', async () => {
    const w = worker(port, 24, 3, true);
    const r = await report(w);
    assert.ok(r.ok, r.error);
    await w.terminate();
    const pool = new BufferPool({ chunkSize: 4096 });
    const main = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, nrIoQueues: 1 });
    const buf = pool.acquire();
    await main.queuePairs[0].read(1, 24, 8, buf);
    assert.deepEqual(Array.from(buf.subarray(0, 16)), expected(3), "the worker's write is there");
    buf.release();
    await main.close();
    pool.close();
  });
});
