/**
 * VolumeStats from the gateway's bdev_get_iostat (SPDK's), summed over the bdevs behind
 * a resource. A gateway without that method gives zeroes: OPI's Stats RPCs still answer,
 * with nothing counted, rather than failing.
 */
import type { GatewayCalls, IostatJson } from './gateway-calls';
import type { VolumeStats } from './messages';

const INT32_MAX = 0x7fffffff;

export function zeroStats(): VolumeStats {
  return {
    read_bytes_count: 0, read_ops_count: 0, write_bytes_count: 0, write_ops_count: 0, unmap_bytes_count: 0,
    unmap_ops_count: 0, read_latency_ticks: 0, write_latency_ticks: 0, unmap_latency_ticks: 0,
  };
}

const FIELDS: [keyof VolumeStats, keyof IostatJson][] = [
  ['read_bytes_count', 'bytes_read'], ['read_ops_count', 'num_read_ops'],
  ['write_bytes_count', 'bytes_written'], ['write_ops_count', 'num_write_ops'],
  ['unmap_bytes_count', 'bytes_unmapped'], ['unmap_ops_count', 'num_unmap_ops'],
  ['read_latency_ticks', 'read_latency_ticks'], ['write_latency_ticks', 'write_latency_ticks'],
  ['unmap_latency_ticks', 'unmap_latency_ticks'],
];

export async function volumeStats(gateway: GatewayCalls, bdevs: string[]): Promise<VolumeStats> {
  const stats = zeroStats();
  if (bdevs.length === 0 || !(await gateway.methods()).includes('bdev_get_iostat')) return stats;
  for (const name of bdevs) {
    const s = await gateway.iostat(name);
    for (const [to, from] of FIELDS) {
      const n = Number(s?.[from] ?? 0);
      // OPI's counters are int32: they saturate rather than wrap.
      stats[to] = Math.min(INT32_MAX, stats[to] + (Number.isFinite(n) ? n : 0));
    }
  }
  return stats;
}
