/**
 * One role of a bench:matrix path (target, backend, gateway or DPU), in a process of its own
 * so that its CPU can be told apart from the host's and the other roles':
 * `node dist/bench/matrix-role.js '<RoleSpec JSON>'`. Builds its target, prints one JSON
 * line (RoleReady) when it listens, and closes on SIGTERM, SIGINT or SIGHUP, or when its
 * stdin ends: the parent that started it has gone, so nothing is left behind.
 */
import { parseRoleSpec, type RoleReady } from './matrix-role-spec';
import { startRoleTarget, type Served } from './matrix-targets';

let served: Served | undefined;
let closing = false;

function shutdown(code: number): void {
  if (closing) return;
  closing = true;
  (served?.close() ?? Promise.resolve()).then(
    () => process.exit(code),
    (e: unknown) => {
      console.error(`matrix-role: closing: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(code || 1);
    });
}

async function main(): Promise<void> {
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => shutdown(0));
  process.stdin.on('end', () => shutdown(0));
  process.stdin.on('error', () => shutdown(0));
  process.stdin.resume();

  const spec = parseRoleSpec(process.argv[2] ?? '');
  const s = await startRoleTarget(spec);
  if (closing) {
    await s.close();
    return;
  }
  served = s;
  const ready: RoleReady = { role: spec.role, pid: process.pid, traddr: s.traddr, port: s.trsvcid, nqn: s.nqn };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
}

main().catch((e: unknown) => {
  console.error(`matrix-role: ${e instanceof Error ? e.message : String(e)}`);
  shutdown(1);
});
