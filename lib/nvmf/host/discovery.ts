/** Discovery: read a discovery controller's log (NVMe-oF 1.1 5.3), as `nvme discover` does. */
import { allocateOpId, ensureDispatcher, registerDiscovery, unregisterDiscovery } from './dispatcher';
import { native, type NativeDiscoveryEntry } from '../../native';
import { discoverOptions, type DiscoverOptions } from './options';
import { errorFromFailure } from './status';

/** Names as `nvme discover -o json` prints them; numbers no name is known for stay numbers. */
export type TransportName = 'rdma' | 'fc' | 'tcp' | 'loop' | number;
export type AddressFamily = 'ipv4' | 'ipv6' | 'infiniband' | 'fc' | 'loop' | number;
export type SubsystemType = 'discovery subsystem referral' | 'nvme subsystem' | 'current discovery subsystem' | number;

/** A discovery log entry, its transport, address family and subsystem type named. */
export interface DiscoveryLogEntry extends Omit<NativeDiscoveryEntry, 'trtype' | 'adrfam' | 'subtype'> {
  trtype: TransportName;
  adrfam: AddressFamily;
  subtype: SubsystemType;
}

const TRTYPES: Record<number, TransportName> = { 1: 'rdma', 2: 'fc', 3: 'tcp', 254: 'loop' };
const ADRFAMS: Record<number, AddressFamily> = { 1: 'ipv4', 2: 'ipv6', 3: 'infiniband', 4: 'fc', 254: 'loop' };
const SUBTYPES: Record<number, SubsystemType> = {
  1: 'discovery subsystem referral', 2: 'nvme subsystem', 3: 'current discovery subsystem',
};

function entry(e: NativeDiscoveryEntry): DiscoveryLogEntry {
  return {
    ...e,
    trtype: TRTYPES[e.trtype] ?? e.trtype,
    adrfam: ADRFAMS[e.adrfam] ?? e.adrfam,
    subtype: SUBTYPES[e.subtype] ?? e.subtype,
  };
}

/**
 * Connects to the discovery controller, reads the whole Discovery Log Page (again while
 * its generation counter moves), disconnects, and returns the entries.
 */
export async function discover(options: DiscoverOptions): Promise<DiscoveryLogEntry[]> {
  const o = discoverOptions(options);
  ensureDispatcher();
  const opId = allocateOpId();
  return new Promise<DiscoveryLogEntry[]>((resolve, reject) => {
    registerDiscovery(opId, (e) => {
      if (e.ok) resolve(e.entries.map(entry));
      else reject(errorFromFailure({ code: e.code ?? '', message: e.message ?? 'discovery failed', errno: e.errno ?? 0, status: e.status ?? 0 }));
    });
    try {
      native.nvmeDiscover(opId, o);
    } catch (err) {
      unregisterDiscovery(opId);
      reject(err as Error);
    }
  });
}
