/**
 * The RDMA devices a DPU uses towards the storage gateways (--rdma-device): checked at
 * start, so that a DPU whose link is down or whose device is misnamed says so at once,
 * rather than at the first volume's NVMe/RDMA connect.
 */
import { devices, type RdmaDevice } from '../rdma';
import { DpuError } from './errors';

/** Each named device, which must exist and have an active port; `list` is rdma.devices unless a test gives another. */
export function checkRdmaDevices(names: readonly string[], list: () => RdmaDevice[] = devices): RdmaDevice[] {
  if (names.length === 0) return [];
  let all: RdmaDevice[];
  try {
    all = list();
  } catch (e) {
    throw new DpuError('ERR_DPU_RDMA_DEVICE', `RDMA device ${names.join(', ')} cannot be checked: ${(e as Error).message}`);
  }
  return names.map((name) => {
    const device = all.find((d) => d.name === name);
    if (!device) {
      const there = all.length > 0 ? all.map((d) => d.name).join(', ') : 'none';
      throw new DpuError('ERR_DPU_RDMA_DEVICE', `RDMA device '${name}' does not exist; this machine has ${there}`);
    }
    if (!device.ports.some((p) => p.state === 'active')) {
      const ports = device.ports.map((p) => `port ${p.number} ${p.state}`).join(', ') || 'no ports';
      throw new DpuError('ERR_DPU_RDMA_DEVICE', `RDMA device '${name}' has no active port (${ports}): is its link up?`);
    }
    return device;
  });
}
