/**
 * Whether this node has an RDMA port that is up, read from sysfs. The node connects
 * volumes through the kernel's NVMe/RDMA host (nvme-cli), not through rdma-core, so the
 * kernel's view is the one that counts; and reading sysfs keeps the CSI driver from
 * loading the addon (lib/rdma would).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** IB_PORT_ACTIVE: sysfs writes a port's state as "4: ACTIVE". */
const PORT_ACTIVE = 4;

/** Without RDMA devices, or with none whose ports can be read, there is none. */
export function hasActiveRdmaPort(root = '/sys/class/infiniband'): boolean {
  return entries(root).some((device) => {
    const ports = join(root, device, 'ports');
    return entries(ports).some((port) => portState(join(ports, port, 'state')) === PORT_ACTIVE);
  });
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function portState(file: string): number | undefined {
  try {
    return Number.parseInt(readFileSync(file, 'utf8'), 10);
  } catch {
    return undefined;
  }
}
