/**
 * The targets one setup of the matrix measures, each role in a child process of its own
 * (bench/matrix-role.ts), so that each role's CPU can be read from /proc and the bench
 * process holds only the host:
 * - direct: the target;
 * - gateway: the backend, and the gateway that attaches it over loopback NVMe/TCP and
 *   re-exports it over the transport under test, as bench/gateway.ts does;
 * - dpu: the backend and the gateway as on the gateway path, and the DPU that attaches the
 *   gateway over the transport under test and shows the host its namespace over loopback
 *   NVMe/TCP.
 * Also: whether and where this machine can serve NVMe/RDMA.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { findRdmaAddress } from '../lib/cli/demo';
import * as rdma from '../lib/rdma';
import { procStatCpuSeconds } from './machine';
import type { PathKind, Transport } from './matrix-cases';
import type { RdmaStatus } from './matrix-report';
import { parseReadyLine, type RoleReady, type RoleSpec, type ServerRole } from './matrix-role-spec';
import { LOOPBACK } from './matrix-targets';

export { LOOPBACK } from './matrix-targets';

const ROLE_SCRIPT = path.join(__dirname, 'matrix-role.js');
/** Connecting the gateway to its backend and the DPU to the storage takes well under this. */
const READY_TIMEOUT_MS = 60000;
/** After SIGTERM, then SIGKILL. */
const EXIT_TIMEOUT_MS = 10000;
const STDERR_KEPT = 4000;

export interface Rig {
  /** What the host connects with: the transport under test, or loopback TCP to a DPU. */
  transport: Transport;
  traddr: string;
  trsvcid: number;
  nqn: string;
  /** The CPU-seconds each role's process has used so far. */
  roleCpuSeconds(): Partial<Record<ServerRole, number>>;
  /** A child that exited while the rig was up, in words; undefined while all is well. */
  trouble(): string | undefined;
  /** Takes everything down, the host's side first; children are waited for (and killed if they linger). */
  close(): Promise<void>;
}

export interface RigOptions {
  transport: Transport;
  reactors: number;
  path: PathKind;
  /** Where the transport under test listens: loopback for TCP, the RDMA device's address for RDMA. */
  address: string;
}

/** A role's process, once it listens. */
interface RoleProcess {
  spec: RoleSpec;
  ready: RoleReady;
  cpuSeconds(): number;
  /** Why it exited, if it has. */
  exited(): string | undefined;
  close(): Promise<void>;
}

const timeout = (ms: number) => new Promise<'timeout'>((resolve) => { setTimeout(() => resolve('timeout'), ms).unref(); });

function exitText(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exited with status ${code}`;
}

async function stopChild(child: ChildProcess, gone: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.stdin?.end();
  child.kill('SIGTERM');
  if ((await Promise.race([gone, timeout(EXIT_TIMEOUT_MS)])) === 'timeout') {
    child.kill('SIGKILL');
    await gone;
  }
}

/** Starts bench/matrix-role.js for `spec` and waits for its ready line; kills it on any failure. */
async function startRole(spec: RoleSpec): Promise<RoleProcess> {
  const child = spawn(process.execPath, [ROLE_SCRIPT, JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'pipe'] });
  // Its stdin is only there to end when this process does; a child already gone must not make that an error here.
  child.stdin.on('error', () => {});
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => { stderr = (stderr + d).slice(-STDERR_KEPT); });
  let exit: string | undefined;
  const gone = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => { exit = exitText(code, signal); resolve(); });
    child.once('error', (e) => { exit ??= `could not run: ${e.message}`; resolve(); });
  });
  const lines = createInterface({ input: child.stdout });
  const ready = new Promise<RoleReady>((resolve) => {
    lines.on('line', (line) => {
      const r = parseReadyLine(line);
      if (r) resolve(r);
    });
  });
  const first = await Promise.race([ready, gone.then(() => 'gone' as const), timeout(READY_TIMEOUT_MS)]);
  const why = (what: string) => `the ${spec.role} process ${what}${stderr.trim() ? `: ${stderr.trim()}` : ''}`;
  if (first === 'gone' || first === 'timeout') {
    await stopChild(child, gone);
    lines.close();
    throw new Error(why(first === 'gone' ? (exit ?? 'exited') : `did not listen within ${READY_TIMEOUT_MS / 1000} s`));
  }
  const pid = child.pid ?? first.pid;
  return {
    spec,
    ready: first,
    cpuSeconds: () => procStatCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8')),
    exited: () => (exit === undefined ? undefined : why(exit)),
    close: async () => {
      await stopChild(child, gone);
      lines.close();
    },
  };
}

/**
 * The roles of a path, from the far end to the host's side: each attaches the one before
 * it over `transport` (or loopback TCP), where it listens.
 */
function chain(o: RigOptions): { role: ServerRole; transport: Transport; address: string }[] {
  const underTest = { transport: o.transport, address: o.address };
  const loopback = { transport: 'tcp' as const, address: LOOPBACK };
  switch (o.path) {
    case 'direct': return [{ role: 'target', ...underTest }];
    case 'gateway': return [{ role: 'backend', ...loopback }, { role: 'gateway', ...underTest }];
    case 'dpu': return [{ role: 'backend', ...loopback }, { role: 'gateway', ...underTest }, { role: 'dpu', ...loopback }];
  }
}

async function closeAll(started: RoleProcess[]): Promise<void> {
  // The host's side first: each holds a controller on the one before it.
  for (const p of [...started].reverse()) await p.close();
}

export async function startRig(o: RigOptions): Promise<Rig> {
  const started: RoleProcess[] = [];
  try {
    for (const { role, transport, address } of chain(o)) {
      const before = started[started.length - 1];
      const remote = before && {
        transport: before.spec.transport, traddr: before.ready.traddr, trsvcid: before.ready.port, subnqn: before.ready.nqn,
      };
      const spec: RoleSpec = { role, reactors: o.reactors, transport, address, ...(remote ? { remote } : {}) };
      started.push(await startRole(spec));
    }
  } catch (e) {
    await closeAll(started);
    throw e;
  }
  const front = started[started.length - 1];
  return {
    transport: front.spec.transport, traddr: front.ready.traddr, trsvcid: front.ready.port, nqn: front.ready.nqn,
    roleCpuSeconds: () => Object.fromEntries(started.map((p) => [p.ready.role, p.cpuSeconds()])),
    trouble: () => started.map((p) => p.exited()).find((why) => why !== undefined),
    close: () => closeAll(started),
  };
}

/** Whether RDMA cells can run here, and on which address; the reason when they cannot. */
export function rdmaStatus(address: string | undefined): RdmaStatus {
  const a = rdma.available();
  if (!a.available) return { available: false, reason: `rdma-core is not usable (${a.reason ?? 'unknown'})` };
  let devices: rdma.RdmaDevice[];
  try {
    devices = rdma.devices();
  } catch (e) {
    return { available: false, reason: `listing RDMA devices failed (${e instanceof Error ? e.message : String(e)})` };
  }
  if (devices.length === 0) return { available: false, reason: 'no RDMA device on this machine' };
  if (address !== undefined) return { available: true, device: devices.map((d) => d.name).join(', '), address };
  const found = findRdmaAddress();
  if (!found) return { available: false, reason: 'no RDMA device has an IPv4 address (give one with --rdma-address)' };
  return { available: true, device: found.device, address: found.address };
}
