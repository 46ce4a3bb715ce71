/**
 * Prometheus metrics of a Target, in the text exposition format: per namespace (labelled
 * with its subsystem, nsid and bdev) the reads, writes, bytes, errors and a latency
 * histogram, counted since the namespace was added, across connections; per queue pair
 * (labelled with its subsystem, controller, queue id and transport) the commands, bytes,
 * errors, RDMA and copied bytes and a latency histogram; per backend controller its state
 * and what its host sent, received and copied. A namespace removed and added again counts
 * from zero again (Target.namespaceStats), which Prometheus takes as a counter reset.
 * Rates (IOPS, MiB/s) are Prometheus's rate() over these counters.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostCounters } from '../nvmf/host';
import { ANA_STATES, type ListenerState, type NamespaceStats, type NvmeControllerMemberInfo, type NvmeControllerState, type Target } from '../nvmf/target';

const COUNTERS: [keyof CounterFields, string, string][] = [
  ['commands', 'rdmagate_qpair_commands_total', 'Commands received.'],
  ['errors', 'rdmagate_qpair_errors_total', 'Commands completed with an error status.'],
  ['bytesRead', 'rdmagate_qpair_read_bytes_total', 'Bytes read from namespaces.'],
  ['bytesWritten', 'rdmagate_qpair_written_bytes_total', 'Bytes written to namespaces.'],
  ['inCapsuleBytes', 'rdmagate_qpair_in_capsule_bytes_total', 'Host data received inside command capsules.'],
  ['rdmaReadBytes', 'rdmagate_qpair_rdma_read_bytes_total', 'Bytes fetched from hosts by RDMA READ.'],
  ['rdmaWriteBytes', 'rdmagate_qpair_rdma_write_bytes_total', 'Bytes pushed to hosts by RDMA WRITE.'],
  ['bytesCopied', 'rdmagate_qpair_copied_bytes_total', 'Bytes copied by the CPU.'],
  ['poolExhausted', 'rdmagate_qpair_pool_exhausted_total', 'Commands that found the request buffer pool empty.'],
];

const BACKEND_COUNTERS: [keyof HostCounters, string, string][] = [
  ['commands', 'rdmagate_backend_commands_total', 'Commands sent to the backend controller, admin included.'],
  ['bytesSent', 'rdmagate_backend_sent_bytes_total', 'Bytes sent to the backend: PDUs (TCP), command capsules (RDMA).'],
  ['bytesReceived', 'rdmagate_backend_received_bytes_total', 'Bytes received: PDUs (TCP), response capsules (RDMA).'],
  ['bytesCopied', 'rdmagate_backend_copied_bytes_total', 'Bytes the backend host copied by CPU.'],
  ['timeouts', 'rdmagate_backend_timeouts_total', 'Backend commands that timed out.'],
  ['reconnects', 'rdmagate_backend_reconnects_total', 'Reconnects to the backend controller.'],
  ['failovers', 'rdmagate_backend_failovers_total', 'Reconnect attempts that moved to another path of the backend.'],
];

const LISTENER_COUNTERS: [keyof Pick<ListenerState, 'refusedConnections' | 'acceptPauses'>, string, string][] = [
  ['refusedConnections', 'rdmagate_listener_refused_connections_total', 'Connections closed at once: over a connection cap.'],
  ['acceptPauses', 'rdmagate_listener_accept_pauses_total', 'Times accepting paused because the process ran out of fds or memory.'],
];

// Every state, so the compiler finds one missing here when a state is added.
const BACKEND_STATES = Object.keys({ connecting: 0, enabled: 0, resetting: 0, failed: 0, deleting: 0 } satisfies
  Record<NvmeControllerState, 0>) as NvmeControllerState[];

type BackendAnaState = NvmeControllerMemberInfo['anaStates'][number]['state'];
const BACKEND_ANA_STATES = Object.keys({ optimized: 0, non_optimized: 0, inaccessible: 0, persistent_loss: 0, change: 0 } satisfies
  Record<BackendAnaState, 0>) as BackendAnaState[];

interface CounterFields {
  commands: number; errors: number; bytesRead: number; bytesWritten: number; inCapsuleBytes: number;
  rdmaReadBytes: number; rdmaWriteBytes: number; bytesCopied: number; poolExhausted: number;
}

const NAMESPACE_COUNTERS: [keyof NamespaceStats, string, string][] = [
  ['reads', 'rdmagate_namespace_reads_total', 'Read commands.'],
  ['writes', 'rdmagate_namespace_writes_total', 'Write commands.'],
  ['otherOps', 'rdmagate_namespace_other_ops_total', 'Flush, Write Zeroes and Dataset Management commands.'],
  ['bytesRead', 'rdmagate_namespace_read_bytes_total', 'Bytes read.'],
  ['bytesWritten', 'rdmagate_namespace_written_bytes_total', 'Bytes written.'],
  ['errors', 'rdmagate_namespace_errors_total', 'I/O commands completed with an error status.'],
];

/**
 * A Prometheus histogram in seconds from the target's log2 microsecond buckets (as many as
 * it reports, TARGET_LATENCY_BUCKETS in lib/native/layout.ts; the last is +Inf).
 */
function latencyHistogram(out: string[], name: string, labels: string, buckets: number[], sumUs: number): void {
  let cumulative = 0;
  buckets.forEach((n, i) => {
    cumulative += n;
    const le = i === buckets.length - 1 ? '+Inf' : String(2 ** i / 1e6);
    out.push(`${name}_bucket{${labels},le="${le}"} ${cumulative}`);
  });
  out.push(`${name}_sum{${labels}} ${sumUs / 1e6}`, `${name}_count{${labels}} ${cumulative}`);
}

function label(v: string | number): string {
  return String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** The metrics of `target` now, as Prometheus scrapes them. */
export function renderMetrics(target: Target): string {
  const subnqnOf = new Map(target.controllers().map((c) => [c.cntlid, c.subnqn]));
  const qpairs = target.qpairs().map((q) => ({
    q,
    labels: `subnqn="${label(subnqnOf.get(q.cntlid) ?? '')}",cntlid="${q.cntlid}",qid="${q.qid}",transport="${q.transport}"`,
  }));
  const out: string[] = [];
  const namespaces = target.namespaceStats().map((n) => ({
    n, labels: `subnqn="${label(n.subnqn)}",nsid="${n.nsid}",bdev="${label(n.bdevName)}"`,
  }));
  for (const [field, name, help] of NAMESPACE_COUNTERS) {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
    for (const { n, labels } of namespaces) out.push(`${name}{${labels}} ${n[field]}`);
  }
  const nh = 'rdmagate_namespace_latency_seconds';
  out.push(`# HELP ${nh} I/O command latency, capsule received to response sent.`, `# TYPE ${nh} histogram`);
  for (const { n, labels } of namespaces) latencyHistogram(out, nh, labels, n.latencyBuckets, n.latencyUsSum);
  for (const [field, name, help] of COUNTERS) {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
    for (const { q, labels } of qpairs) out.push(`${name}{${labels}} ${q[field]}`);
  }
  const h = 'rdmagate_qpair_latency_seconds';
  out.push(`# HELP ${h} Command latency, capsule received to response sent.`, `# TYPE ${h} histogram`);
  for (const { q, labels } of qpairs) latencyHistogram(out, h, labels, q.latencyBuckets, q.latencyUsSum);
  const backends = target.nvmeControllers();
  out.push('# HELP rdmagate_backend_up Whether a backend controller is connected (1) or not (0).', '# TYPE rdmagate_backend_up gauge');
  for (const c of backends) out.push(`rdmagate_backend_up{name="${label(c.name)}"} ${c.state === 'enabled' ? 1 : 0}`);
  // An enum as Prometheus exposes one (OpenMetrics' StateSet): a series per state, the one
  // the backend is in 1, so each backend has the same series whatever happens to it.
  const st = 'rdmagate_backend_state';
  out.push(`# HELP ${st} The backend controller's state: 1 for the one it is in, 0 for the others.`, `# TYPE ${st} gauge`);
  for (const c of backends) {
    for (const s of BACKEND_STATES) out.push(`${st}{name="${label(c.name)}",state="${s}"} ${c.state === s ? 1 : 0}`);
  }
  for (const [field, name, help] of BACKEND_COUNTERS) {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
    for (const c of backends) out.push(`${name}{name="${label(c.name)}"} ${c.counters[field]}`);
  }
  const up = 'rdmagate_backend_controller_up';
  out.push(`# HELP ${up} Whether each controller of a backend (one per path with multipath mode "multipath") is connected (1) or not (0), by the address it was attached through.`,
    `# TYPE ${up} gauge`);
  for (const c of backends) {
    for (const m of c.controllers) {
      const at = m.paths[0];
      if (at) out.push(`${up}{name="${label(c.name)}",traddr="${label(at.traddr)}",trsvcid="${at.trsvcid}"} ${m.state === 'enabled' ? 1 : 0}`);
    }
  }
  const bana = 'rdmagate_backend_ana_state';
  out.push(`# HELP ${bana} A backend namespace's ANA state through each controller: 1 for the one it is in, 0 for the others.`,
    `# TYPE ${bana} gauge`);
  for (const c of backends) {
    for (const m of c.controllers) {
      const at = m.paths.find((x) => x.active) ?? m.paths[0];
      if (!at) continue;
      for (const a of m.anaStates) {
        for (const state of BACKEND_ANA_STATES) {
          out.push(`${bana}{name="${label(c.name)}",traddr="${label(at.traddr)}",trsvcid="${at.trsvcid}",nsid="${a.nsid}",state="${state}"} ${a.state === state ? 1 : 0}`);
        }
      }
    }
  }
  const path = 'rdmagate_backend_path_active';
  out.push(`# HELP ${path} A backend's path: 1 for the one each controller uses (or tries next), 0 for its failover paths.`, `# TYPE ${path} gauge`);
  for (const c of backends) {
    for (const x of c.controllers.flatMap((m) => m.paths)) out.push(`${path}{name="${label(c.name)}",traddr="${label(x.traddr)}",trsvcid="${x.trsvcid}"} ${x.active ? 1 : 0}`);
  }
  const subsystems = target.subsystems();
  out.push('# HELP rdmagate_subsystem_namespaces Namespaces of a subsystem.', '# TYPE rdmagate_subsystem_namespaces gauge');
  for (const s of subsystems) {
    if (s.subtype === 'NVMe') out.push(`rdmagate_subsystem_namespaces{subnqn="${label(s.nqn)}"} ${s.namespaces.length}`);
  }
  const ana = 'rdmagate_listener_ana_state';
  out.push(`# HELP ${ana} An ANA group's state through a subsystem's listener: 1 for the one it is in, 0 for the others.`,
    `# TYPE ${ana} gauge`);
  for (const s of subsystems) {
    for (const l of s.listeners) {
      const where = `subnqn="${label(s.nqn)}",trtype="${l.trtype}",traddr="${label(l.traddr)}",trsvcid="${l.trsvcid}"`;
      for (const g of l.anaStates ?? []) {
        for (const state of ANA_STATES) out.push(`${ana}{${where},anagrpid="${g.anagrpid}",state="${state}"} ${g.state === state ? 1 : 0}`);
      }
    }
  }
  const listeners = target.listeners().map((l) => ({ l, labels: `trtype="${l.trtype}",traddr="${label(l.traddr)}",trsvcid="${l.trsvcid}"` }));
  out.push('# HELP rdmagate_listener_connections Connections open through a listener.', '# TYPE rdmagate_listener_connections gauge');
  for (const { l, labels } of listeners) out.push(`rdmagate_listener_connections{${labels}} ${l.connections}`);
  for (const [field, name, help] of LISTENER_COUNTERS) {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
    for (const { l, labels } of listeners) out.push(`${name}{${labels}} ${l[field]}`);
  }
  out.push('# HELP rdmagate_controllers Connected controllers.', '# TYPE rdmagate_controllers gauge',
    `rdmagate_controllers ${target.controllers().length}`);
  return out.join('\n') + '\n';
}

/** Serves GET /metrics on address:port (port 0 picks one). */
export async function serveMetrics(target: Target, address: string, port: number): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = renderMetrics(target);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body);
    } catch (e) {
      res.writeHead(503).end(`${(e as Error).message}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
