/**
 * A target in a process of its own, started under a low `ulimit -n` so that accept() runs
 * out of file descriptors: prints its port, then answers each "stats" line on stdin with
 * its listener's counters as one JSON line.
 */
import { createInterface } from 'node:readline';
import { Target } from '../../lib';

const target = new Target();
target.addSubsystem({ nqn: 'nqn.2026-12.io.rdmagate:fd-limited', allowAnyHost: true });
const { port } = target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
process.stdout.write(JSON.stringify({ port }) + '\n');
createInterface({ input: process.stdin }).on('line', () => {
  process.stdout.write(JSON.stringify(target.listeners()[0]) + '\n');
}).on('close', () => {
  target.closeSync();
  process.exit(0);
});
