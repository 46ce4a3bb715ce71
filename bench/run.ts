/**
 * `npm run bench`: microbenchmarks of the JS-side costs, with benchmark.js.
 *   - IoBuffer acquire + release;
 *   - NVMe/TCP CapsuleCmd encode and CapsuleResp (CQE) decode in JS, with the tests' encoders;
 *   - submit-to-completion through QueuePair against an in-process Target with a null bdev,
 *     per I/O (QD1 read) and per batch (32 reads submitted, then awaited), with the
 *     controller polled by a reactor and by the event loop (ConnectOptions.polling);
 *   - a JSON-RPC round trip to a Gateway over its unix socket.
 * Writes bench/results/micro.json and prints a table.
 */
import Benchmark from 'benchmark';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { BufferPool, connect, Target, type Controller, type IoBuffer, type QueuePair } from '../lib';
import { Gateway, RpcClient } from '../lib/gateway';
import { parseCqe, PDU, rw } from '../test/support/nvme-tcp-wire';
import { machine, resultsOutput } from './machine';

const MAX_TIME_S = 2;
const BATCH = 32;
const NQN = 'nqn.2026-11.io.rdmagate:bench';
const CMD_HLEN = 72;
const RSP_LEN = 24;

const QD1_NAME = 'QueuePair read 4 KiB, QD1 (submit to completion)';
const BATCH_NAME = `QueuePair read 4 KiB, batch of ${BATCH} then await`;
const POLLED = ', polled by the event loop';
/** I/Os per benchmark operation, where it is not one. */
const IOS_PER_OP = new Map([[BATCH_NAME, BATCH], [`${BATCH_NAME}${POLLED}`, BATCH]]);

interface Result {
  name: string;
  opsPerSec: number;
  /** Relative margin of error, percent. */
  rme: number;
  samples: number;
  /** I/Os per operation, for the per-batch case. */
  iosPerOp: number;
}

/** A CapsuleCmd PDU as the host frames it: common header, then the SQE (no digests). */
function encodeCapsuleCmd(out: Buffer, sqe: Buffer): void {
  out.writeUInt8(PDU.Cmd, 0);
  out.writeUInt8(0, 1);
  out.writeUInt8(CMD_HLEN, 2);
  out.writeUInt8(0, 3);
  out.writeUInt32LE(CMD_HLEN, 4);
  sqe.copy(out, 8);
}

function decodeCapsuleResp(pdu: Buffer): ReturnType<typeof parseCqe> {
  if (pdu[0] !== PDU.Rsp || pdu.readUInt32LE(4) !== RSP_LEN) throw new Error('not a CapsuleResp');
  return parseCqe(pdu.subarray(8, RSP_LEN));
}

function cqePdu(): Buffer {
  const b = Buffer.alloc(RSP_LEN);
  b.writeUInt8(PDU.Rsp, 0);
  b.writeUInt8(8, 2);
  b.writeUInt32LE(RSP_LEN, 4);
  b.writeUInt16LE(7, 8 + 12);  // cid
  b.writeUInt16LE(1, 8 + 10);  // sqid
  return b;
}

function run(suite: Benchmark.Suite): Promise<Result[]> {
  return new Promise((resolve, reject) => {
    const results: Result[] = [];
    suite.on('cycle', (e: Benchmark.Event) => {
      // The event's target is the benchmark that finished a cycle.
      const b = e.target as unknown as Benchmark;
      if (b.error) {
        reject(b.error);
        return;
      }
      console.error(String(b));
      results.push({ name: b.name ?? '', opsPerSec: b.hz ?? 0, rme: b.stats?.rme ?? 0, samples: b.stats?.sample.length ?? 0,
        iosPerOp: IOS_PER_OP.get(b.name ?? '') ?? 1 });
    });
    suite.on('complete', () => resolve(results));
    suite.on('error', (e: Benchmark.Event) => reject((e.target as unknown as Benchmark).error));
    suite.run({ async: true });
  });
}

function table(results: Result[]): string {
  const rows = results.map((r) => [
    r.name,
    Math.round(r.opsPerSec).toLocaleString('en-US'),
    `±${r.rme.toFixed(2)}%`,
    String(r.samples),
    r.iosPerOp > 1 ? `${(1e6 / (r.opsPerSec * r.iosPerOp)).toFixed(2)} µs/I/O` : `${(1e6 / r.opsPerSec).toFixed(3)} µs`,
  ]);
  const head = ['benchmark', 'ops/sec', 'rme', 'samples', 'per op'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { dir: out } = resultsOutput('run', process.argv.slice(2));
  const pool = new BufferPool({ chunkSize: 128 * 1024 });
  const buf: IoBuffer = pool.acquire();
  const target = new Target();
  target.createBdev({ type: 'null', name: 'Null0', sizeBytes: 1 << 30 });
  target.addSubsystem({ nqn: NQN }).addNamespace({ bdev: 'Null0', nsid: 1 });
  const port = target.listen({ address: '127.0.0.1', port: 0 }).port;
  const controller: Controller = await connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN });
  const qp = controller.queuePairs[0];
  const dir = mkdtempSync(path.join(tmpdir(), 'rdmagate-bench-'));
  const gateway = new Gateway({ socketPath: path.join(dir, 'rpc.sock'), configPath: null, log: () => undefined });
  await gateway.start();
  const rpc = await RpcClient.connect(gateway.socketPath!);
  const cmd = Buffer.alloc(CMD_HLEN);
  const rsp = cqePdu();
  let lba = 0;
  let failure: unknown;
  // benchmark.js's deferred has no reject: a failed I/O aborts the benchmark and is rethrown after.
  const settle = (p: Promise<unknown>, d: Benchmark.Deferred) => p.then(() => d.resolve(), (e: unknown) => {
    failure ??= e;
    d.benchmark.abort();
  });
  try {
    const options = { maxTime: MAX_TIME_S };
    const deferred = (fn: (d: Benchmark.Deferred) => void) => ({ ...options, defer: true, fn });
    const readQd1 = (q: QueuePair) => deferred((d) => { void settle(q.read(1, 0, 8, buf), d); });
    const readBatch = (q: QueuePair) => deferred((d) => {
      const all: Promise<void>[] = [];
      for (let i = 0; i < BATCH; i++) all.push(q.read(1, i * 8, 8, buf, i * 4096));
      void settle(Promise.all(all), d);
    });
    const suite = new Benchmark.Suite('rdmagate');
    suite
      .add('IoBuffer acquire + release', () => { pool.acquire().release(); }, options)
      .add('NVMe/TCP CapsuleCmd encode (read SQE + PDU header)', () => {
        lba = (lba + 8) & 0xffff;
        encodeCapsuleCmd(cmd, rw(0x02, 1, lba, 8));
      }, options)
      .add('NVMe/TCP CapsuleResp decode (CQE)', () => { decodeCapsuleResp(rsp); }, options)
      .add(QD1_NAME, readQd1(qp))
      .add(BATCH_NAME, readBatch(qp))
      .add('JSON-RPC round trip (rpc_get_methods over the unix socket)', deferred((d) => {
        void settle(rpc.call('rpc_get_methods'), d);
      }));
    const results = await run(suite);
    // The polled controller only for its own cases: open, it has the event loop poll it.
    const polled: Controller = await connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, polling: 'event-loop' });
    try {
      results.push(...await run(new Benchmark.Suite('rdmagate, polled by the event loop')
        .add(`${QD1_NAME}${POLLED}`, readQd1(polled.queuePairs[0]))
        .add(`${BATCH_NAME}${POLLED}`, readBatch(polled.queuePairs[0]))));
    } finally {
      await polled.close();
    }
    if (failure !== undefined) throw failure;
    writeFileSync(path.join(out, 'micro.json'), `${JSON.stringify({ machine: machine(), results }, null, 2)}\n`);
    console.log(table(results));
    console.log(`\nwritten: ${path.join(out, 'micro.json')}`);
  } finally {
    rpc.close();
    await gateway.close();
    rmSync(dir, { recursive: true, force: true });
    await controller.close();
    await target.close();
    buf.release();
    pool.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
