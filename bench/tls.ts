/**
 * `npm run bench:tls`: what NVMe/TCP TLS costs on the data path. Our host against our
 * target in one process over loopback TCP (1 target reactor, 1 host reactor, the native
 * engine, a null bdev): 4 KiB random reads at QD64 and 128 KiB sequential reads at QD16,
 * plain NVMe/TCP and over TLS 1.3 (TLS_AES_128_GCM_SHA256), PAIRS alternating rounds of
 * each, so that drift in the machine's speed falls on both alike; medians. The record layer
 * is the kernel's (kTLS) where it has the `tls` module, else OpenSSL's in user space: the
 * report says which. CPU is the whole process's (both ends, both encrypting).
 * Writes bench/results/tls.json and tls.md.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Target } from '../lib';
import { encodeTlsPsk } from '../lib/nvmf';
import { defaultHostNqn } from '../lib/nvmf/host/options';
import { cpuPerMillion, perfOptions, runPerf, type PerfReport } from '../lib/perf';
import { machine, resultsOutput } from './machine';
import { median } from './median';
import { markdownTable } from './table';

const NQN = 'nqn.2026-12.io.rdmagate:bench-tls';
const PAIRS = Number(process.env.TLS_PAIRS ?? 3);
const CASES = [
  { name: '4k randread QD64', rw: 'randread', bs: '4k', iodepth: 64 },
  { name: '128k read QD16', rw: 'read', bs: '128k', iodepth: 16 },
] as const;

interface Sample { iops: number; mibPerS: number; p99Us: number; cpuPerM: number }

function sample(r: PerfReport): Sample {
  const s = r.read.runtimeNs / 1e9;
  return { iops: r.read.ios / s, mibPerS: r.read.bytes / s / 2 ** 20, p99Us: r.read.latency.percentile(99) / 1000, cpuPerM: cpuPerMillion(r) };
}

async function main(): Promise<void> {
  const { dir } = resultsOutput('tls', process.argv.slice(2));
  const key = encodeTlsPsk(Buffer.alloc(32, 7), 1);
  const target = new Target({ reactors: 1 });
  target.createBdev({ type: 'null', name: 'Null0', sizeBytes: 1 << 30 });
  const s = target.addSubsystem({ nqn: NQN, allowAnyHost: false, hosts: [{ nqn: defaultHostNqn(), psk: key }] });
  s.addNamespace({ bdev: 'Null0', nsid: 1 });
  const plain = target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
  const secure = target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0, secureChannel: true }).port;

  let ktls: boolean | undefined;
  const run = async (c: (typeof CASES)[number], tls: boolean): Promise<Sample> => {
    const o = perfOptions({ transport: 'tcp', traddr: '127.0.0.1', trsvcid: tls ? secure : plain, nqn: NQN,
      rw: c.rw, bs: c.bs, iodepth: c.iodepth, runtime: 5, rampTime: 1, hostReactors: 1, ...(tls ? { psk: key } : {}) });
    const report = await runPerf(o, tls ? { onProgress: () => { ktls ??= target.qpairs().some((q) => q.tls?.ktls); } } : {});
    return sample(report);
  };
  const rows = [];
  for (const c of CASES) {
    const plainRuns: Sample[] = [];
    const tlsRuns: Sample[] = [];
    for (let i = 0; i < PAIRS; i++) {
      plainRuns.push(await run(c, false));
      tlsRuns.push(await run(c, true));
    }
    const m = (xs: Sample[], k: keyof Sample) => median(xs.map((x) => x[k]));
    const ratios = plainRuns.map((p, i) => tlsRuns[i]!.iops / p.iops);
    rows.push({
      case: c.name,
      plain: { iops: Math.round(m(plainRuns, 'iops')), mibPerS: +m(plainRuns, 'mibPerS').toFixed(1), p99Us: +m(plainRuns, 'p99Us').toFixed(1), cpuPerM: +m(plainRuns, 'cpuPerM').toFixed(2) },
      tls: { iops: Math.round(m(tlsRuns, 'iops')), mibPerS: +m(tlsRuns, 'mibPerS').toFixed(1), p99Us: +m(tlsRuns, 'p99Us').toFixed(1), cpuPerM: +m(tlsRuns, 'cpuPerM').toFixed(2) },
      tlsOverPlain: +median(ratios).toFixed(3),
      pairRatios: ratios.map((r) => +r.toFixed(3)),
    });
  }
  target.closeSync();

  const recordLayer = ktls ? 'kTLS (the kernel encrypts)' : 'OpenSSL in user space (no kTLS on this kernel)';
  const result = { machine: machine(), pairs: PAIRS, suite: 'TLS_AES_128_GCM_SHA256', recordLayer, rows };
  writeFileSync(path.join(dir, 'tls.json'), `${JSON.stringify(result, null, 2)}\n`);
  const md = [
    '# NVMe/TCP TLS on the data path (`npm run bench:tls`)',
    '',
    `${result.machine.cpu}, ${result.machine.nproc} CPUs, ${result.machine.date}. Our host and target in one process over`,
    `loopback TCP, 1 reactor each, native engine, null bdev; TLS 1.3 ${result.suite}, record layer: ${recordLayer}.`,
    `Medians of ${PAIRS} alternating pairs of 5 s runs; CPU-s / M I/O counts both ends.`,
    '',
    markdownTable([{ title: 'case' }, { title: 'plain IOPS', align: 'right' }, { title: 'TLS IOPS', align: 'right' },
      { title: 'TLS / plain', align: 'right' }, { title: 'plain MiB/s', align: 'right' }, { title: 'TLS MiB/s', align: 'right' },
      { title: 'plain p99 µs', align: 'right' }, { title: 'TLS p99 µs', align: 'right' },
      { title: 'plain CPU-s/M', align: 'right' }, { title: 'TLS CPU-s/M', align: 'right' }],
    rows.map((r) => [r.case, r.plain.iops.toLocaleString('en-US'), r.tls.iops.toLocaleString('en-US'), r.tlsOverPlain.toFixed(3),
      r.plain.mibPerS.toFixed(1), r.tls.mibPerS.toFixed(1), r.plain.p99Us.toFixed(1), r.tls.p99Us.toFixed(1),
      r.plain.cpuPerM.toFixed(2), r.tls.cpuPerM.toFixed(2)])),
    '',
    `Per-pair TLS/plain IOPS: ${rows.map((r) => `${r.case} ${r.pairRatios.join(', ')}`).join('; ')}.`,
    '',
  ].join('\n');
  writeFileSync(path.join(dir, 'tls.md'), md);
  process.stdout.write(md);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
