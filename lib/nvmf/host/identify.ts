/**
 * Identify data decoded (NVMe Base 2.0 5.17; layouts as in native/spec/identify.h). Field
 * names are nvme-cli's (`nvme id-ctrl -o json`), so the two read alike.
 */

/** Identify Controller, the fields a host cares about. */
export interface ControllerIdentity {
  vid: number;
  ssvid: number;
  /** Serial number, model number and firmware revision, trailing spaces removed. */
  sn: string;
  mn: string;
  fr: string;
  rab: number;
  ieee: number;
  cmic: number;
  /** Max data transfer: 2^mdts minimum pages; 0 means no limit. */
  mdts: number;
  cntlid: number;
  /** Version, e.g. 0x10400 for 1.4. */
  ver: number;
  oaes: number;
  ctratt: number;
  /** 1 I/O controller, 2 discovery controller, 3 administrative controller. */
  cntrltype: number;
  oacs: number;
  acl: number;
  aerl: number;
  lpa: number;
  /** Keep alive granularity, 100 ms units. */
  kas: number;
  sqes: number;
  cqes: number;
  maxcmd: number;
  /** Number of namespaces (the highest valid NSID). */
  nn: number;
  oncs: number;
  fuses: number;
  vwc: number;
  awun: number;
  awupf: number;
  sgls: number;
  subnqn: string;
  /** I/O command capsule size, 16-byte units. */
  ioccsz: number;
  iorcsz: number;
  icdoff: number;
  fcatt: number;
  msdbd: number;
  ofcs: number;
  /** ANA: transition time (s), capabilities, most groups, groups, and most namespaces (MNAN). */
  anatt: number;
  anacap: number;
  anagrpmax: number;
  nanagrpid: number;
  mnan: number;
}

/** One namespace, from Identify Namespace and its Namespace Identification Descriptors. */
export interface NamespaceIdentity {
  nsid: number;
  /** Size in logical blocks (NSZE). */
  blocks: number;
  /** Size in bytes. */
  size: number;
  /** Logical block size in bytes, of the LBA format in use. */
  blockSize: number;
  metadataSize: number;
  /** Capacity and utilization in blocks (NCAP, NUSE). */
  capacity: number;
  utilization: number;
  /** 32 hex digits, or undefined when the controller reports none. */
  nguid: string | undefined;
  /** 16 hex digits, or undefined. */
  eui64: string | undefined;
  /** RFC 4122 text, or undefined. */
  uuid: string | undefined;
  nsfeat: number;
  dlfeat: number;
  /** Number of LBA formats, 0's based (NLBAF), the one in use (FLBAS), and each of them. */
  nlbaf: number;
  flbas: number;
  lbaf: LbaFormat[];
  /** Metadata capabilities, end-to-end protection capabilities and settings (MC, DPC, DPS). */
  mc: number;
  dpc: number;
  dps: number;
  /** Multi-path I/O and sharing capabilities: bit 0, reachable through several controllers. */
  nmic: number;
  /** Its ANA group, where the controller reports ANA (ANAGRPID); 0 where not. */
  anagrpid: number;
}

/** One LBA format (Identify Namespace LBAF n): metadata bytes, log2 of the data size, relative performance. */
export interface LbaFormat {
  ms: number;
  lbads: number;
  rp: number;
}

const ONCS_WRITE_ZEROES = 1 << 3;
const ONCS_DSM = 1 << 2;

/** What the optional NVM commands of ONCS allow. */
export function supports(id: ControllerIdentity): { writeZeroes: boolean; deallocate: boolean; volatileWriteCache: boolean } {
  return { writeZeroes: (id.oncs & ONCS_WRITE_ZEROES) !== 0, deallocate: (id.oncs & ONCS_DSM) !== 0, volatileWriteCache: (id.vwc & 1) !== 0 };
}

function ascii(b: Buffer, offset: number, length: number): string {
  return b.toString('latin1', offset, offset + length).replace(/[\s\0]+$/, '');
}

function nulTerminated(b: Buffer, offset: number, length: number): string {
  const end = b.indexOf(0, offset);
  return b.toString('utf8', offset, end < 0 || end > offset + length ? offset + length : end).trimEnd();
}

function u64(b: Buffer, offset: number): number {
  return Number(b.readBigUInt64LE(offset));
}

function hexOrUndefined(b: Buffer): string | undefined {
  return b.every((x) => x === 0) ? undefined : b.toString('hex');
}

function uuidText(b: Buffer): string | undefined {
  const h = hexOrUndefined(b);
  return h && `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function parseIdentifyController(b: Buffer): ControllerIdentity {
  return {
    vid: b.readUInt16LE(0),
    ssvid: b.readUInt16LE(2),
    sn: ascii(b, 4, 20),
    mn: ascii(b, 24, 40),
    fr: ascii(b, 64, 8),
    rab: b[72],
    ieee: b[73] | b[74] << 8 | b[75] << 16,
    cmic: b[76],
    mdts: b[77],
    anatt: b[342],
    anacap: b[343],
    anagrpmax: b.readUInt32LE(344),
    nanagrpid: b.readUInt32LE(348),
    mnan: b.readUInt32LE(540),
    cntlid: b.readUInt16LE(78),
    ver: b.readUInt32LE(80),
    oaes: b.readUInt32LE(92),
    ctratt: b.readUInt32LE(96),
    cntrltype: b[111],
    oacs: b.readUInt16LE(256),
    acl: b[258],
    aerl: b[259],
    lpa: b[261],
    kas: b.readUInt16LE(320),
    sqes: b[512],
    cqes: b[513],
    maxcmd: b.readUInt16LE(514),
    nn: b.readUInt32LE(516),
    oncs: b.readUInt16LE(520),
    fuses: b.readUInt16LE(522),
    vwc: b[525],
    awun: b.readUInt16LE(526),
    awupf: b.readUInt16LE(528),
    sgls: b.readUInt32LE(536),
    subnqn: nulTerminated(b, 768, 256),
    ioccsz: b.readUInt32LE(1792),
    iorcsz: b.readUInt32LE(1796),
    icdoff: b.readUInt16LE(1800),
    fcatt: b[1802],
    msdbd: b[1803],
    ofcs: b.readUInt16LE(1804),
  };
}

/** Active Namespace ID list (CNS 2): ascending NSIDs, zero terminated. */
export function parseActiveNamespaceList(b: Buffer): number[] {
  const out: number[] = [];
  for (let off = 0; off + 4 <= b.length; off += 4) {
    const nsid = b.readUInt32LE(off);
    if (nsid === 0) break;
    out.push(nsid);
  }
  return out;
}

export interface NamespaceIds {
  eui64?: string;
  nguid?: string;
  uuid?: string;
}

/** Namespace Identification Descriptor list (CNS 3). Malformed tails are ignored. */
export function parseNamespaceDescriptors(b: Buffer): NamespaceIds {
  const ids: NamespaceIds = {};
  for (let off = 0; off + 4 <= b.length;) {
    const nidt = b[off];
    const nidl = b[off + 1];
    if (nidt === 0 || off + 4 + nidl > b.length) break;
    const nid = b.subarray(off + 4, off + 4 + nidl);
    if (nidt === 1 && nidl === 8) ids.eui64 = hexOrUndefined(nid);
    else if (nidt === 2 && nidl === 16) ids.nguid = hexOrUndefined(nid);
    else if (nidt === 3 && nidl === 16) ids.uuid = uuidText(nid);
    off += 4 + nidl;
  }
  return ids;
}

export function parseIdentifyNamespace(nsid: number, b: Buffer, ids: NamespaceIds = {}): NamespaceIdentity {
  const flbas = b[26];
  const format = (flbas & 0x0f) | (flbas & 0x60) >> 1;
  const lbaf = 128 + format * 4;
  const blockSize = 2 ** b[lbaf + 2];
  const blocks = u64(b, 0);
  return {
    nsid,
    blocks,
    size: blocks * blockSize,
    blockSize,
    metadataSize: b.readUInt16LE(lbaf),
    capacity: u64(b, 8),
    utilization: u64(b, 16),
    nguid: ids.nguid ?? hexOrUndefined(b.subarray(104, 120)),
    eui64: ids.eui64 ?? hexOrUndefined(b.subarray(120, 128)),
    uuid: ids.uuid,
    nsfeat: b[24],
    dlfeat: b[33],
    nlbaf: b[25],
    flbas,
    lbaf: Array.from({ length: Math.min(b[25] + 1, 64) }, (_, n) => ({
      ms: b.readUInt16LE(128 + 4 * n), lbads: b[130 + 4 * n], rp: b[131 + 4 * n] & 0x3,
    })),
    mc: b[27],
    dpc: b[28],
    dps: b[29],
    nmic: b[30],
    anagrpid: b.readUInt32LE(92),
  };
}
