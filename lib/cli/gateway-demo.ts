/**
 * `rdmagate gateway --demo`'s exports: a RAM backend on NVMe/TCP, attached through the
 * gateway's own JSON-RPC and re-exported, as a client would set it up. The ports are
 * arguments so that a test sets up the very same on free ports.
 */
import { DEFAULT_SOCKET_PATH } from '../jsonrpc';
import type { Gateway } from '../gateway';
import { Target } from '../nvmf/target';
import { findRdmaAddress } from './demo';

export const DEMO_BACKEND_NQN = 'nqn.2026-11.io.rdmagate:demo-backend';
export const DEMO_NQN = 'nqn.2026-11.io.rdmagate:gateway';

export interface DemoPorts {
  /** The backend's NVMe/TCP port: 4421, where Mayastor's nexus listens. */
  backend: number;
  /** The gateway's export, NVMe/TCP and NVMe/RDMA: 4420. */
  frontend: number;
}

export const DEMO_PORTS: Readonly<DemoPorts> = { backend: 4421, frontend: 4420 };

/** The embedded default's backend: a RAM namespace on NVMe/TCP 127.0.0.1. */
export function startDemoBackend(port: number): Target {
  const t = new Target();
  try {
    t.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: 256 << 20 });
    t.addSubsystem({ nqn: DEMO_BACKEND_NQN, modelNumber: 'rdmagate demo backend' }).addNamespace({ bdev: 'Malloc0' });
    t.listen({ transport: 'tcp', address: '127.0.0.1', port });
  } catch (e) {
    t.closeSync();
    throw e;
  }
  return t;
}

/** Attaches the backend and re-exports it; returns the lines that say how to connect. */
export async function exportDemo(g: Gateway, ports: DemoPorts): Promise<string[]> {
  await g.rpc('bdev_nvme_attach_controller', { name: 'Nvme0', trtype: 'TCP', traddr: '127.0.0.1', trsvcid: String(ports.backend),
    subnqn: DEMO_BACKEND_NQN });
  await g.rpc('nvmf_create_transport', { trtype: 'TCP' });
  await g.rpc('nvmf_create_subsystem', { nqn: DEMO_NQN, allow_any_host: true, model_number: 'rdmagate gateway' });
  await g.rpc('nvmf_subsystem_add_ns', { nqn: DEMO_NQN, namespace: { bdev_name: 'Nvme0n1' } });
  await g.rpc('nvmf_subsystem_add_listener', { nqn: DEMO_NQN,
    listen_address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(ports.frontend) } });
  const rdma = findRdmaAddress();
  if (rdma) {
    await g.rpc('nvmf_create_transport', { trtype: 'RDMA' });
    await g.rpc('nvmf_subsystem_add_listener', { nqn: DEMO_NQN,
      listen_address: { trtype: 'RDMA', adrfam: 'IPv4', traddr: rdma.address, trsvcid: String(ports.frontend) } });
  }
  const fe = ports.frontend;
  return [
    `gateway: ${DEMO_NQN} re-exports the NVMe/TCP backend ${DEMO_BACKEND_NQN} (127.0.0.1:${ports.backend})`,
    'connect with nvme-cli:',
    `  nvme connect -t tcp -a 127.0.0.1 -s ${fe} -n ${DEMO_NQN}`,
    rdma ? `  nvme connect -t rdma -a ${rdma.address} -s ${fe} -n ${DEMO_NQN}` : '  (no RDMA device here: the RDMA listener starts where one exists)',
    // In a clone the command is npx rdmagate (npm link puts rdmagate on the PATH).
    'or with rdmagate (in a clone: npx rdmagate):',
    `  npx rdmagate discover -t tcp -a 127.0.0.1 -s ${fe}`,
    `  npx rdmagate id-ctrl -t tcp -a 127.0.0.1 -s ${fe} -n ${DEMO_NQN}`,
    `manage it: npx rdmagate rpc -s ${g.socketPath ?? DEFAULT_SOCKET_PATH} nvmf_get_subsystems`,
    'Ctrl-C stops the gateway; npm test runs in a second terminal',
  ];
}
