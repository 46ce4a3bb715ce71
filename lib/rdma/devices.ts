import { RdmaUnavailableError } from '../errors';
import { native, type RdmaDevice, type RdmaResourceCounts } from '../native';

export interface RdmaAvailability {
  available: boolean;
  /** What is missing, when unavailable. */
  reason?: string;
}

/** Whether rdma-core could be loaded. Says nothing about devices: see devices(). */
export function available(): RdmaAvailability {
  const a = native.rdmaAvailable();
  return a.available ? { available: true } : { available: false, reason: a.reason };
}

/** Throws RdmaUnavailableError naming what is missing. */
export function requireRdma(): void {
  const a = native.rdmaAvailable();
  if (!a.available) throw new RdmaUnavailableError(`RDMA is unavailable: ${a.reason}`);
}

/** The RDMA devices of this machine, with their ports, GIDs and limits. */
export function devices(): RdmaDevice[] {
  requireRdma();
  return native.rdmaDevices();
}

/** Live verbs objects created by this process (for leak checks). */
export function resources(): RdmaResourceCounts {
  return native.rdmaResources();
}
