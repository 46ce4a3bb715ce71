/**
 * `npm run bench:dhchap`: what DH-HMAC-CHAP costs at connect, and what it costs the I/O of
 * others. Our host against our target in one process over loopback TCP, an admin and
 * IO_QUEUES I/O queues per connect (each queue authenticates):
 *   connect   median wall time of connect() + close(), no authentication and then each DH
 *             group (SHA-512), CONNECTS alternating rounds of each;
 *   neighbour a second host's 4 KiB reads at QD1 on the same target reactor, while a third
 *             connects and disconnects in a loop with FFDHE-8192: the reads' p99 latency
 *             against the same reads without the connect loop. The target's DH steps run on
 *             its auth workers, not its reactor, so the reads should not see them.
 * Writes bench/results/dhchap.json and dhchap.md (with --save).
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { BufferPool, Target, nvmf } from '../lib';
import { encodeDhchapSecret } from '../lib/nvmf/dhchap-secret';
import { machine, resultsOutput } from './machine';
import { median } from './median';
import { markdownTable } from './table';

const NQN = 'nqn.2026-12.io.rdmagate:bench-dhchap';
const HOST = 'nqn.2014-08.org.nvmexpress:uuid:0b3c9c5e-7d1a-4e55-9f0e-2a6b8d4c1e01';
const NEIGHBOUR = 'nqn.2014-08.org.nvmexpress:uuid:0b3c9c5e-7d1a-4e55-9f0e-2a6b8d4c1e02';
const CONNECTS = 7;
const IO_QUEUES = 2;
const READS = 4000;
const GROUPS = ['none', 'null', 'ffdhe2048', 'ffdhe3072', 'ffdhe4096', 'ffdhe6144', 'ffdhe8192'] as const;
type Group = (typeof GROUPS)[number];

/** A DHHC-1 secret of a fixed key: the bench needs a valid one, not a secret one. */
const secret = (seed: number) => encodeDhchapSecret(Buffer.alloc(32, seed));

async function connectMs(port: number, hostnqn: string, key: string | undefined): Promise<number> {
  const t0 = process.hrtime.bigint();
  const c = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, hostnqn, nrIoQueues: IO_QUEUES, ctrlLossTmo: 0,
    ...(key ? { dhchapKey: key } : {}) });
  await c.close();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** READS 4 KiB reads at QD1; their latencies in µs, sorted, and how long they took in all. */
async function reads(c: nvmf.Controller, pool: BufferPool): Promise<{ us: number[]; seconds: number }> {
  const buf = pool.acquire();
  const out: number[] = [];
  const start = process.hrtime.bigint();
  try {
    for (let i = 0; i < READS; i++) {
      const t0 = process.hrtime.bigint();
      await c.queuePairs[0]!.read(1, (i * 8) % 2048, 8, buf);
      out.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
  } finally {
    buf.release();
  }
  return { us: out.sort((a, b) => a - b), seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

async function main(): Promise<void> {
  const { dir } = resultsOutput('dhchap', process.argv.slice(2));
  const key = secret(1);
  const target = new Target({ reactors: 1 });
  target.createBdev({ type: 'malloc', name: 'M', sizeBytes: 1 << 20 });
  const s = target.addSubsystem({ nqn: NQN, allowAnyHost: true });
  s.addNamespace({ bdev: 'M', nsid: 1 });
  s.addHost({ nqn: HOST, dhchapKey: key });
  const port = target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;

  // connect: alternating rounds, so that drift in the machine's load falls on every group alike.
  const times = new Map<Group, number[]>(GROUPS.map((g) => [g, []]));
  for (let round = 0; round < CONNECTS; round++) {
    for (const g of GROUPS) {
      if (g !== 'none') target.setDhchapConfig({ digests: ['sha512'], dhgroups: [g] });
      times.get(g)!.push(await connectMs(port, g === 'none' ? NEIGHBOUR : HOST, g === 'none' ? undefined : key));
    }
  }
  const connect = GROUPS.map((g) => ({ group: g, medianMs: +median(times.get(g)!).toFixed(2), runs: CONNECTS }));

  // neighbour: the same reads, without and with a connect loop beside them.
  target.setDhchapConfig({ digests: ['sha512'], dhgroups: ['ffdhe8192'] });
  const pool = new BufferPool({ chunkSize: 4096 });
  const reader = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, hostnqn: NEIGHBOUR, ctrlLossTmo: 0 });
  const quiet = await reads(reader, pool);
  let looping = true;
  let loops = 0;
  const loop = (async () => {
    while (looping) {
      await connectMs(port, HOST, key);
      loops++;
    }
  })();
  const busy = await reads(reader, pool);
  looping = false;
  await loop;
  await reader.close();
  pool.close();
  target.closeSync();
  const row = (name: string, r: { us: number[]; seconds: number }) => ({ case: name, readsPerS: Math.round(READS / r.seconds),
    p50Us: +pct(r.us, 0.5).toFixed(1), p99Us: +pct(r.us, 0.99).toFixed(1), maxUs: +pct(r.us, 1).toFixed(1) });
  const neighbour = [row('reads alone', quiet), row(`reads beside FFDHE-8192 connects (${loops})`, busy)];

  const result = { machine: machine(), ioQueues: IO_QUEUES, digest: 'sha512', connect, neighbour };
  writeFileSync(path.join(dir, 'dhchap.json'), `${JSON.stringify(result, null, 2)}\n`);
  const md = [
    '# DH-HMAC-CHAP at connect (`npm run bench:dhchap`)',
    '',
    `${result.machine.cpu}, ${result.machine.nproc} CPUs, ${result.machine.date}. Our host and target in one process over`,
    `loopback TCP; each connect authenticates the admin queue and ${IO_QUEUES} I/O queues, both ends computing.`,
    '',
    markdownTable([{ title: 'DH group (SHA-512)' }, { title: 'connect + close, median ms', align: 'right' }],
      connect.map((c) => [c.group === 'none' ? 'no authentication' : c.group, c.medianMs.toFixed(2)])),
    '',
    'A neighbour\'s 4 KiB reads at QD1 on the same target reactor, alone and while another host connects in a loop:',
    '',
    markdownTable([{ title: 'case' }, { title: 'reads/s', align: 'right' }, { title: 'p50 µs', align: 'right' }, { title: 'p99 µs', align: 'right' },
      { title: 'max µs', align: 'right' }],
    neighbour.map((n) => [n.case, String(n.readsPerS), n.p50Us.toFixed(1), n.p99Us.toFixed(1), n.maxUs.toFixed(1)])),
    '',
  ].join('\n');
  writeFileSync(path.join(dir, 'dhchap.md'), md);
  process.stdout.write(md);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
