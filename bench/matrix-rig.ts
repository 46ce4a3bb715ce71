/**
 * The targets one setup of the matrix measures, in this process: for the direct path a
 * target with a null namespace; for the gateway path a backend target with a null
 * namespace on loopback TCP and a gateway that attaches it and re-exports it, as
 * bench/gateway.ts does. Both listen on the transport under test. Also: whether and
 * where this machine can serve NVMe/RDMA.
 */
import { findRdmaAddress } from '../lib/cli/demo';
import { Target } from '../lib/nvmf/target';
import * as rdma from '../lib/rdma';
import type { PathKind, Transport } from './matrix-cases';
import type { RdmaStatus } from './matrix-report';

const TARGET_NQN = 'nqn.2026-11.io.rdmagate:matrix-target';
const BACKEND_NQN = 'nqn.2026-11.io.rdmagate:matrix-backend';
const GATEWAY_NQN = 'nqn.2026-11.io.rdmagate:matrix-gateway';
const NULL_BYTES = 1 << 30;
/** TCP cells listen here; the gateway reaches its backend here. */
export const LOOPBACK = '127.0.0.1';

export interface Rig {
  traddr: string;
  trsvcid: number;
  nqn: string;
  close(): void;
}

export interface RigOptions {
  transport: Transport;
  reactors: number;
  path: PathKind;
  /** Where the transport under test listens: loopback for TCP, the RDMA device's address for RDMA. */
  address: string;
}

function nullTarget(reactors: number, nqn: string): Target {
  const target = new Target({ reactors });
  try {
    target.createBdev({ type: 'null', name: 'Null0', sizeBytes: NULL_BYTES });
    target.addSubsystem({ nqn, allowAnyHost: true }).addNamespace({ bdev: 'Null0' });
    return target;
  } catch (e) {
    target.close();
    throw e;
  }
}

export async function startRig(o: RigOptions): Promise<Rig> {
  if (o.path === 'direct') {
    const target = nullTarget(o.reactors, TARGET_NQN);
    try {
      const port = target.listen({ transport: o.transport, address: o.address, port: 0 }).port;
      return { traddr: o.address, trsvcid: port, nqn: TARGET_NQN, close: () => target.close() };
    } catch (e) {
      target.close();
      throw e;
    }
  }
  const backend = nullTarget(o.reactors, BACKEND_NQN);
  let gateway: Target | undefined;
  try {
    // The backend hop is always loopback TCP, as a Mayastor nexus would be reached.
    const backendPort = backend.listen({ transport: 'tcp', address: LOOPBACK, port: 0 }).port;
    gateway = new Target({ reactors: o.reactors });
    await gateway.attachNvmeController({ name: 'Nvme0', traddr: LOOPBACK, trsvcid: backendPort, subnqn: BACKEND_NQN });
    gateway.addSubsystem({ nqn: GATEWAY_NQN, allowAnyHost: true }).addNamespace({ bdev: 'Nvme0n1' });
    const port = gateway.listen({ transport: o.transport, address: o.address, port: 0 }).port;
    const g = gateway;
    return {
      traddr: o.address, trsvcid: port, nqn: GATEWAY_NQN,
      // The gateway first: it holds a controller on the backend.
      close: () => { g.close(); backend.close(); },
    };
  } catch (e) {
    gateway?.close();
    backend.close();
    throw e;
  }
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
