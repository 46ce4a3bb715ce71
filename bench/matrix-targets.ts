/**
 * The target one role of the matrix runs (bench/matrix-role.ts builds it, in a process of
 * its own): a null target for the direct path's target and for the backend, or a target that
 * attaches another role and re-exports its namespace, for the gateway and the DPU.
 */
import { Target } from '../lib/nvmf/target';
import type { RoleSpec, ServerRole } from './matrix-role-spec';

const NQN: Record<ServerRole, string> = {
  target: 'nqn.2026-11.io.rdmagate:matrix-target',
  backend: 'nqn.2026-11.io.rdmagate:matrix-backend',
  gateway: 'nqn.2026-11.io.rdmagate:matrix-gateway',
  dpu: 'nqn.2026-11.io.rdmagate:matrix-dpu',
};
const NULL_BYTES = 1 << 30;
/** TCP cells listen here; the gateway reaches its backend here; the host reaches the DPU here. */
export const LOOPBACK = '127.0.0.1';

/** A subsystem listening, and how to take it down. */
export interface Served {
  traddr: string;
  trsvcid: number;
  nqn: string;
  close(): Promise<void>;
}

export async function startRoleTarget(spec: RoleSpec): Promise<Served> {
  const nqn = NQN[spec.role];
  const target = new Target({ reactors: spec.reactors });
  try {
    if (spec.remote) {
      await target.attachNvmeController({ name: 'Nvme0', ...spec.remote });
      target.addSubsystem({ nqn, allowAnyHost: true }).addNamespace({ bdev: 'Nvme0n1' });
    } else {
      target.createBdev({ type: 'null', name: 'Null0', sizeBytes: NULL_BYTES });
      target.addSubsystem({ nqn, allowAnyHost: true }).addNamespace({ bdev: 'Null0' });
    }
    const port = target.listen({ transport: spec.transport, address: spec.address, port: 0 }).port;
    return { traddr: spec.address, trsvcid: port, nqn, close: () => target.close() };
  } catch (e) {
    await target.close();
    throw e;
  }
}
