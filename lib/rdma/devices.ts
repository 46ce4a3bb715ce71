import { RdmaUnavailableError } from '../errors';
import { native } from '../native';

export interface RdmaPort {
  number: number;
  state: string;
  /** 'ethernet' for RoCE and iWARP, 'infiniband' for IB. */
  linkLayer: string;
  activeMtu: number;
  lid: number;
  gids: string[];
}

export interface RdmaDevice {
  name: string;
  guid: string;
  transport: 'infiniband' | 'iwarp';
  limits: {
    maxQp: number; maxQpWr: number; maxCq: number; maxCqe: number; maxMr: number;
    maxMrSize: number; maxPd: number; maxSge: number; maxSrq: number;
  };
  ports: RdmaPort[];
}

export interface RdmaResourceCounts {
  qps: number;
  cqs: number;
  mrs: number;
  pds: number;
  /** Shared receive queues (the NVMe/RDMA target makes one per device and reactor). */
  srqs: number;
  cmIds: number;
  eventChannels: number;
}

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
