/**
 * The targets of the matrix's setups, built in the calling process: the direct path's null
 * target, the gateway path's backend and gateway (which the dpu path's storage role runs
 * too), and the dpu path's DPU. bench/matrix-rig.ts builds the first two in the bench
 * process; bench/matrix-role.ts builds the storage and the DPU in processes of their own.
 */
import { Target } from '../lib/nvmf/target';
import type { Transport } from './matrix-cases';

export const TARGET_NQN = 'nqn.2026-11.io.rdmagate:matrix-target';
export const BACKEND_NQN = 'nqn.2026-11.io.rdmagate:matrix-backend';
export const GATEWAY_NQN = 'nqn.2026-11.io.rdmagate:matrix-gateway';
export const DPU_NQN = 'nqn.2026-11.io.rdmagate:matrix-dpu';
const NULL_BYTES = 1 << 30;
/** TCP cells listen here; the gateway reaches its backend here; the host reaches the DPU here. */
export const LOOPBACK = '127.0.0.1';

/** A subsystem listening, and how to take it down. */
export interface Served {
  traddr: string;
  trsvcid: number;
  nqn: string;
  close(): void;
}

/** A subsystem to attach: where it listens, and its NQN. */
interface Remote { transport: Transport; traddr: string; trsvcid: number; subnqn: string }

function nullTarget(reactors: number, nqn: string): Target {
  const target = new Target({ reactors });
  try {
    target.createBdev({ type: 'null', name: 'Null0', sizeBytes: NULL_BYTES });
    target.addSubsystem({ nqn, allowAnyHost: true }).addNamespace({ bdev: 'Null0' });
    return target;
  } catch (e) {
    target.closeSync();
    throw e;
  }
}

/** A target with a null namespace, on the transport under test. */
export function startDirect(reactors: number, transport: Transport, address: string): Served {
  const target = nullTarget(reactors, TARGET_NQN);
  try {
    const port = target.listen({ transport, address, port: 0 }).port;
    return { traddr: address, trsvcid: port, nqn: TARGET_NQN, close: () => target.closeSync() };
  } catch (e) {
    target.closeSync();
    throw e;
  }
}

/**
 * A target that attaches `backend` and re-exports its namespace as `nqn` over
 * `transport` on `address`: the gateway, and the DPU.
 */
async function startForwarder(reactors: number, backend: Remote, nqn: string, transport: Transport, address: string): Promise<Served> {
  const target = new Target({ reactors });
  try {
    await target.attachNvmeController({ name: 'Nvme0', ...backend });
    target.addSubsystem({ nqn, allowAnyHost: true }).addNamespace({ bdev: 'Nvme0n1' });
    const port = target.listen({ transport, address, port: 0 }).port;
    return { traddr: address, trsvcid: port, nqn, close: () => target.closeSync() };
  } catch (e) {
    target.closeSync();
    throw e;
  }
}

/**
 * A backend null target on loopback TCP (as a Mayastor nexus would be reached) and a gateway
 * that attaches it and exports it over the transport under test, as bench/gateway.ts does.
 */
export async function startGateway(reactors: number, transport: Transport, address: string): Promise<Served> {
  const backend = nullTarget(reactors, BACKEND_NQN);
  try {
    const backendPort = backend.listen({ transport: 'tcp', address: LOOPBACK, port: 0 }).port;
    const gateway = await startForwarder(reactors, { transport: 'tcp', traddr: LOOPBACK, trsvcid: backendPort, subnqn: BACKEND_NQN },
      GATEWAY_NQN, transport, address);
    // The gateway first: it holds a controller on the backend.
    return { ...gateway, close: () => { gateway.close(); backend.closeSync(); } };
  } catch (e) {
    backend.closeSync();
    throw e;
  }
}

/**
 * The DPU: attaches the storage gateway over the transport under test (NVMe/RDMA in the
 * lab) and shows the host the namespace over loopback NVMe/TCP, where a real DPU presents
 * a PCIe function.
 */
export function startDpu(reactors: number, storage: Remote): Promise<Served> {
  return startForwarder(reactors, storage, DPU_NQN, 'tcp', LOOPBACK);
}
