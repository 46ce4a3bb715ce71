/** Discovery: read a discovery controller's log (NVMe-oF 1.1 5.3), as `nvme discover` does. */
import { allocateOpId, ensureDispatcher, registerDiscovery, unregisterDiscovery } from './dispatcher';
import { native, type NativeDiscoveryEntry } from '../../native';
import { discoverOptions, type DiscoverOptions } from './options';
import { errorFromFailure } from './status';

/** Names as `nvme discover -o json` prints them; numbers no name is known for stay numbers. */
export type TransportName = 'rdma' | 'fc' | 'tcp' | 'loop' | number;
export type AddressFamily = 'ipv4' | 'ipv6' | 'infiniband' | 'fc' | 'loop' | number;
export type SubsystemType = 'discovery subsystem referral' | 'nvme subsystem' | 'current discovery subsystem' | number;

export interface DiscoveryLogEntry {
  trtype: TransportName;
  adrfam: AddressFamily;
  subtype: SubsystemType;
  /** Transport requirements (secure channel bits 1:0, SQ flow control disable bit 2). */
  treq: number;
  portid: number;
  /** 0xffff: the dynamic controller model. */
  cntlid: number;
  /** Largest admin submission queue the controller accepts. */
  asqsz: number;
  eflags: number;
  trsvcid: string;
  subnqn: string;
  traddr: string;
  /** NVMe/TCP security type (0: none). */
  sectype: number;
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
