/**
 * `rdmagate id-ns`'s normal output, as nvme-cli prints Identify Namespace: its field names,
 * in its order, hex where it prints hex, and zeros (never "undefined") for identifiers the
 * namespace does not have.
 */
import type { NamespaceIdentity } from '../nvmf';

/** C's %#x, as nvme-cli prints: 0 without its 0x. */
const hex = (n: number): string => (n === 0 ? '0' : `0x${n.toString(16)}`);

/** The lines nvme-cli's `nvme id-ns` prints, title first. */
export function formatIdNs(ns: NamespaceIdentity): string[] {
  const lines = [`NVME Identify Namespace ${ns.nsid}:`];
  const field = (name: string, value: string) => lines.push(`${name.padEnd(8)}: ${value}`);
  field('nsze', hex(ns.blocks));
  field('ncap', hex(ns.capacity));
  field('nuse', hex(ns.utilization));
  field('nsfeat', hex(ns.nsfeat));
  field('nlbaf', String(ns.nlbaf));
  field('flbas', hex(ns.flbas));
  for (const name of ['mc', 'dpc', 'dps', 'nmic'] as const) field(name, hex(ns[name]));
  if (ns.anagrpid) field('anagrpid', String(ns.anagrpid));
  field('dlfeat', String(ns.dlfeat));
  field('nguid', ns.nguid ?? '0'.repeat(32));
  field('eui64', ns.eui64 ?? '0'.repeat(16));
  // FLBAS bits 3:0 and 6:5 pick the format in use (NVMe Base 2.0, 5.17.2.1).
  const inUse = (ns.flbas & 0x0f) | ((ns.flbas & 0x60) >> 1);
  ns.lbaf.forEach((f, i) => {
    lines.push(`lbaf ${String(i).padStart(2)} : ms:${String(f.ms).padEnd(3)} lbads:${String(f.lbads).padEnd(2)} rp:${hex(f.rp)}`
      + (i === inUse ? ' (in use)' : ''));
  });
  return lines;
}
