/**
 * `rdmagate discover | id-ctrl | id-ns`: nvme-cli's commands of the same names, through
 * rdmagate's own host (no kernel module needed), with nvme-cli's flags and output fields.
 */
import { InvalidArgumentError } from '../errors';
import { connect, discover, type ConnectOptions, type DiscoveryLogEntry } from '../nvmf/host';
import type { ParsedArgs } from './args';

export const NVME_FLAGS = [
  { name: 'transport', short: 't' },
  { name: 'traddr', short: 'a' },
  { name: 'trsvcid', short: 's' },
  { name: 'nqn', short: 'n' },
  { name: 'hostnqn', short: 'q' },
  { name: 'hostid', short: 'I' },
  { name: 'namespace-id' },
];

function flag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

function port(args: ParsedArgs, fallback: number): number {
  const s = flag(args, 'trsvcid');
  if (s === undefined) return fallback;
  if (!/^\d+$/.test(s)) throw new InvalidArgumentError(`-s/--trsvcid must be a port number, got '${s}'`);
  return Number(s);
}

function transport(args: ParsedArgs): 'tcp' | 'rdma' {
  const t = flag(args, 'transport') ?? 'tcp';
  if (t !== 'tcp' && t !== 'rdma') throw new InvalidArgumentError(`unknown transport '${t}'`);
  return t;
}

function required(args: ParsedArgs, name: string, short: string): string {
  const v = flag(args, name);
  if (!v) throw new InvalidArgumentError(`-${short}/--${name} is required`);
  return v;
}

function connectOptions(args: ParsedArgs): ConnectOptions {
  return {
    transport: transport(args),
    traddr: required(args, 'traddr', 'a'),
    trsvcid: port(args, 4420),
    subnqn: required(args, 'nqn', 'n'),
    hostnqn: flag(args, 'hostnqn'),
    hostid: flag(args, 'hostid'),
    ctrlLossTmo: 0,
  };
}

export async function runDiscover(args: ParsedArgs, json: boolean): Promise<number> {
  const entries = await discover({
    transport: transport(args),
    traddr: required(args, 'traddr', 'a'),
    trsvcid: port(args, 8009),
    hostnqn: flag(args, 'hostnqn'),
    hostid: flag(args, 'hostid'),
  });
  if (json) {
    console.log(JSON.stringify({ records: entries.map(record) }, null, 2));
    return 0;
  }
  console.log(`\nDiscovery Log Number of Records ${entries.length}`);
  entries.forEach((e, i) => {
    console.log(`=====Discovery Log Entry ${i}======`);
    for (const [k, v] of Object.entries(record(e))) console.log(`${`${k}:`.padEnd(9)}${v}`);
  });
  return 0;
}

function record(e: DiscoveryLogEntry): Record<string, string | number> {
  const secure = ['not specified', 'required', 'not required'][e.treq & 3] ?? 'reserved';
  const treq = e.treq & 4 ? `${secure}, sq flow control disable supported` : secure;
  return { trtype: e.trtype, adrfam: e.adrfam, subtype: e.subtype, treq, portid: e.portid, trsvcid: e.trsvcid,
    subnqn: e.subnqn, traddr: e.traddr, eflags: e.eflags, sectype: e.sectype === 0 ? 'none' : e.sectype };
}

export async function runIdentify(which: 'id-ctrl' | 'id-ns', args: ParsedArgs, json: boolean): Promise<number> {
  const c = await connect(connectOptions(args));
  try {
    if (which === 'id-ctrl') {
      const id = await c.identify();
      print(id as unknown as Record<string, unknown>, json, 'NVME Identify Controller:');
    } else {
      const nsid = Number(flag(args, 'namespace-id') ?? c.namespaces[0]?.nsid ?? 1);
      if (!Number.isInteger(nsid) || nsid < 1) throw new InvalidArgumentError('--namespace-id must be a positive integer');
      const ns = await c.identifyNamespace(nsid);
      print(ns as unknown as Record<string, unknown>, json, `NVME Identify Namespace ${nsid}:`);
    }
  } finally {
    await c.close();
  }
  return 0;
}

function print(fields: Record<string, unknown>, json: boolean, title: string): void {
  if (json) {
    console.log(JSON.stringify(fields, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v), 2));
    return;
  }
  console.log(title);
  for (const [k, v] of Object.entries(fields)) {
    const text = typeof v === 'number' && !['sn', 'mn', 'fr'].includes(k) && Number.isInteger(v) && v > 9
      ? `${v} (0x${v.toString(16)})` : typeof v === 'object' ? JSON.stringify(v) : String(v);
    console.log(`${k.padEnd(10)}: ${text}`);
  }
}
