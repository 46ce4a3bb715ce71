/** OPI's transport and address-family enums, and the fabrics the gateway serves. */
import { isIP } from 'node:net';
import { invalidArgument } from '../errors';
import { enumValue, type Raw } from '../fields';
import type { NvmeAddressFamily, NvmeTransportType } from '../messages';
import type { AddressFamily, Fabric } from '../state';

const TRANSPORTS: readonly NvmeTransportType[] = ['NVME_TRANSPORT_TYPE_UNSPECIFIED', 'NVME_TRANSPORT_TYPE_FC',
  'NVME_TRANSPORT_TYPE_PCIE', 'NVME_TRANSPORT_TYPE_RDMA', 'NVME_TRANSPORT_TYPE_TCP', 'NVME_TRANSPORT_TYPE_CUSTOM'];
const FAMILIES: readonly NvmeAddressFamily[] = ['NVME_ADDRESS_FAMILY_UNSPECIFIED', 'NVME_ADDRESS_FAMILY_IPV4',
  'NVME_ADDRESS_FAMILY_IPV6', 'NVME_ADDRESS_FAMILY_IB', 'NVME_ADDRESS_FAMILY_FC', 'NVME_ADDRESS_FAMILY_INTRA_HOST'];

/** The transport field as OPI has it (any value it defines); UNSPECIFIED is "missing". */
export function readTransport(raw: Raw, path: string): NvmeTransportType {
  const t = enumValue(raw, 'trtype', `${path}.trtype`, TRANSPORTS);
  if (t === 'NVME_TRANSPORT_TYPE_UNSPECIFIED') throw invalidArgument(`${path}.trtype is required`);
  return t;
}

/** TCP or RDMA, the fabrics the gateway speaks. */
export function fabricOf(t: NvmeTransportType, path: string): Fabric {
  if (t === 'NVME_TRANSPORT_TYPE_TCP') return 'TCP';
  if (t === 'NVME_TRANSPORT_TYPE_RDMA') return 'RDMA';
  throw invalidArgument(`${path}.trtype ${t} is not supported: NVME_TRANSPORT_TYPE_TCP and NVME_TRANSPORT_TYPE_RDMA are`);
}

export function transportOf(f: Fabric): NvmeTransportType {
  return f === 'TCP' ? 'NVME_TRANSPORT_TYPE_TCP' : 'NVME_TRANSPORT_TYPE_RDMA';
}

/** The address family, required, and matching the IP address `traddr` (already read at `addressPath`). */
export function readFamily(raw: Raw, path: string, traddr: string, addressPath: string): AddressFamily {
  const f = enumValue(raw, 'adrfam', `${path}.adrfam`, FAMILIES);
  if (f === 'NVME_ADDRESS_FAMILY_UNSPECIFIED') throw invalidArgument(`${path}.adrfam is required`);
  if (f !== 'NVME_ADDRESS_FAMILY_IPV4' && f !== 'NVME_ADDRESS_FAMILY_IPV6') {
    throw invalidArgument(`${path}.adrfam ${f} is not supported: NVME_ADDRESS_FAMILY_IPV4 and NVME_ADDRESS_FAMILY_IPV6 are`);
  }
  const family = f === 'NVME_ADDRESS_FAMILY_IPV4' ? 'IPv4' : 'IPv6';
  const ip = isIP(traddr);
  if (ip === 0) throw invalidArgument(`${addressPath} must be an IP address, got '${traddr}'`);
  if (`IPv${ip}` !== family) throw invalidArgument(`${path}.adrfam is ${f}, but ${addressPath} ${traddr} is an IPv${ip} address`);
  return family;
}

export function familyOf(a: AddressFamily): NvmeAddressFamily {
  return a === 'IPv4' ? 'NVME_ADDRESS_FAMILY_IPV4' : 'NVME_ADDRESS_FAMILY_IPV6';
}

/** An NQN another system chose ("nqn." and at most 223 bytes), checked as our host checks one. */
export function checkNqn(nqn: string, path: string): string {
  if (!nqn.startsWith('nqn.') || Buffer.byteLength(nqn) > 223) {
    throw invalidArgument(`${path} must be an NQN ("nqn.…", at most 223 bytes), got '${nqn}'`);
  }
  return nqn;
}

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const DATED_NQN = new RegExp(`^nqn\\.\\d{4}-(0[1-9]|1[0-2])\\.${LABEL}(\\.${LABEL})+:[^\\x00-\\x1f\\x7f]+$`);
const UUID_NQN = /^nqn\.2014-08\.org\.nvmexpress:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An NQN of ours, as the NVMe spec and the gateway's target want it: "nqn.yyyy-mm.<reverse domain>:<name>" or a UUID NQN. */
export function checkOwnNqn(nqn: string, path: string): string {
  if (Buffer.byteLength(nqn) > 223 || !(DATED_NQN.test(nqn) || UUID_NQN.test(nqn))) {
    throw invalidArgument(`${path} must be an NQN ("nqn.yyyy-mm.<reverse domain>:<name>", at most 223 bytes), got '${nqn}'`);
  }
  return nqn;
}
