/**
 * `npm run bench:gateway`: what the gateway hop costs. A backend target (null bdev, one
 * reactor) and a gateway (one reactor) that attaches it and re-exports it, both over
 * loopback TCP in this process; the native perf engine runs the same workloads straight
 * against the backend and through the gateway. Writes bench/results/gateway.json and .md.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Target } from '../lib/nvmf/target';
import { perfOptions, runPerf, type PerfReport } from '../lib/perf';
import { machine, resultsOutput } from './machine';

const BACKEND_NQN = 'nqn.2026-11.io.rdmagate:bench-backend';
const GATEWAY_NQN = 'nqn.2026-11.io.rdmagate:bench-gateway';
const CASES = [
  { name: '4k randread QD1', rw: 'randread', iodepth: 1 },
  { name: '4k randread QD64', rw: 'randread', iodepth: 64 },
  { name: '4k randwrite QD64', rw: 'randwrite', iodepth: 64 },
] as const;

interface Row { name: string; path: 'direct' | 'gateway'; iops: number; meanUs: number; p99Us: number }

function row(name: string, path: Row['path'], r: PerfReport): Row {
  const d = r.options.readPercent > 0 ? r.read : r.write;
  const s = d.runtimeNs / 1e9;
  return { name, path, iops: Math.round(d.ios / s), meanUs: +(d.latency.mean() / 1000).toFixed(1),
    p99Us: +(d.latency.percentile(99) / 1000).toFixed(1) };
}

async function main(): Promise<void> {
  const { dir: out } = resultsOutput('gateway', process.argv.slice(2));
  const backend = new Target({ reactors: 1 });
  backend.createBdev({ type: 'null', name: 'Null0', sizeBytes: 1 << 30 });
  backend.addSubsystem({ nqn: BACKEND_NQN }).addNamespace({ bdev: 'Null0' });
  const backendPort = backend.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
  const gateway = new Target({ reactors: 1 });
  await gateway.attachNvmeController({ name: 'Nvme0', traddr: '127.0.0.1', trsvcid: backendPort, subnqn: BACKEND_NQN,
    disableSqFlow: true });
  gateway.addSubsystem({ nqn: GATEWAY_NQN }).addNamespace({ bdev: 'Nvme0n1' });
  const gatewayPort = gateway.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;

  const rows: Row[] = [];
  try {
    for (const c of CASES) {
      for (const [p, port, nqn] of [['direct', backendPort, BACKEND_NQN], ['gateway', gatewayPort, GATEWAY_NQN]] as const) {
        const r = await runPerf(perfOptions({ transport: 'tcp', traddr: '127.0.0.1', trsvcid: port, nqn, rw: c.rw, bs: '4k',
          iodepth: c.iodepth, runtime: 5, rampTime: 1, hostReactors: 1 }));
        rows.push(row(c.name, p, r));
        console.error(`${c.name} ${p}: ${rows[rows.length - 1].iops} IOPS, ${rows[rows.length - 1].meanUs} µs mean`);
      }
    }
  } finally {
    await gateway.close();
    await backend.close();
  }
  const lines = [
    '# Gateway overhead: straight to the backend, and through the gateway',
    '',
    (({ cpu, nproc, kernel, node, date }) => `${cpu}, ${nproc} CPUs, ${kernel}, Node ${node}, ${date}`)(machine()),
    '',
    'Backend: null bdev, 1 reactor. Gateway: 1 reactor, the backend attached over loopback NVMe/TCP and',
    're-exported over loopback NVMe/TCP. Host: the native perf engine, 1 reactor. All in one process on',
    'this machine, so the gateway competes with the backend and the host for the same 2 cores.',
    '',
    '| case | direct IOPS | gateway IOPS | IOPS cost | direct mean µs | gateway mean µs | added µs |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const c of CASES) {
    const d = rows.find((r) => r.name === c.name && r.path === 'direct')!;
    const g = rows.find((r) => r.name === c.name && r.path === 'gateway')!;
    lines.push(`| ${c.name} | ${d.iops.toLocaleString('en')} | ${g.iops.toLocaleString('en')} | ${((1 - g.iops / d.iops) * 100).toFixed(0)} % | ` +
      `${d.meanUs} | ${g.meanUs} | ${(g.meanUs - d.meanUs).toFixed(1)} |`);
  }
  writeFileSync(path.join(out, 'gateway.json'), JSON.stringify({ machine: machine(), rows }, null, 2) + '\n');
  writeFileSync(path.join(out, 'gateway.md'), lines.join('\n') + '\n');
  console.log(lines.join('\n'));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
