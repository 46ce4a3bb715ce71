/**
 * `rdmagate demo`: the buffers and, where an RDMA device exists, the verbs, end to end
 * on this machine. It is the main job until the gateway lands.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { BufferPool } from '../buffers';
import * as rdma from '../rdma';
import { stringFlags } from './args';
import { isJson, OUTPUT_FORMAT_FLAG, type Command } from './command';

export interface DemoReport {
  buffers: { chunkSize: number; address: string; pageAligned: boolean; hugepageRegions: number };
  rdma:
    | { available: false; reason: string }
    | {
        available: true; device: string; address: string;
        sendRecvOk: boolean; writeReadOk: boolean; bytes: number;
        writeMiBps: number; readMiBps: number; bytesCopied: number;
        resourcesLeaked: boolean;
      };
}

const MiB = 1024 * 1024;

/** The IPv4 address of the first active RDMA device's network interface. */
export function findRdmaAddress(): { device: string; address: string } | undefined {
  let devices: string[];
  try {
    devices = readdirSync('/sys/class/infiniband');
  } catch {
    return undefined;
  }
  const ifaces = networkInterfaces();
  for (const device of devices) {
    let netdev: string;
    try {
      netdev = readFileSync(`/sys/class/infiniband/${device}/ports/1/gid_attrs/ndevs/0`, 'utf8').trim();
    } catch {
      continue;
    }
    const v4 = (ifaces[netdev] ?? []).find((a) => a.family === 'IPv4');
    if (v4) return { device, address: v4.address };
  }
  return undefined;
}

export async function runDemo(address?: string): Promise<DemoReport> {
  const pool = new BufferPool({ chunkSize: MiB, regionSize: 4 * MiB, capacity: 16 * MiB });
  const probe = pool.acquire();
  const report: DemoReport = {
    buffers: {
      chunkSize: probe.length,
      address: `0x${probe.address.toString(16)}`,
      pageAligned: probe.address % 4096n === 0n,
      hugepageRegions: pool.stats().hugepageRegions,
    },
    rdma: { available: false, reason: '' },
  };
  probe.release();
  try {
    const a = rdma.available();
    const where = address ? { device: '(by address)', address } : findRdmaAddress();
    if (!a.available) report.rdma = { available: false, reason: a.reason ?? 'unknown' };
    else if (!where) report.rdma = { available: false, reason: 'rdma-core is installed, but no RDMA device has an IPv4 address' };
    else report.rdma = await loopback(pool, where.device, where.address);
  } finally {
    pool.close();
  }
  return report;
}

async function loopback(pool: BufferPool, device: string, address: string): Promise<DemoReport['rdma']> {
  const before = rdma.resources();
  const listener = new rdma.RdmaListener({ address, port: 0 });
  const accepted = listener.accept();
  const client = await rdma.connect({ address, port: listener.port });
  const server = await accepted;
  const [rx, tx, target, back] = [pool.acquire(), pool.acquire(), pool.acquire(), pool.acquire()];
  try {
    tx.set(Buffer.from('hello over RDMA'));
    const got = server.postReceive(rx);
    await client.send(tx, { length: 15 });
    const sendRecvOk = (await got) === 15 && Buffer.from(rx.subarray(0, 15)).toString() === 'hello over RDMA';

    for (let i = 0; i < tx.length; i++) tx[i] = (i * 31) & 0xff;
    const remote = server.remoteKey(target);
    let t = process.hrtime.bigint();
    await client.write(tx, remote);
    const writeNs = Number(process.hrtime.bigint() - t);
    t = process.hrtime.bigint();
    await client.read(back, remote);
    const readNs = Number(process.hrtime.bigint() - t);
    const writeReadOk = Buffer.compare(target, tx) === 0 && Buffer.compare(back, tx) === 0;
    const bytesCopied = client.counters().bytesCopied + server.counters().bytesCopied;
    await client.close();
    await new Promise<void>((r) => (server.state === 'closed' ? r() : server.once('disconnect', () => r())));
    listener.close();
    // The listener's cm id goes on the reactor thread: give teardown a moment to finish.
    const end = Date.now() + 3000;
    while (!sameQpsCqs(before, rdma.resources()) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return {
      available: true, device, address, sendRecvOk, writeReadOk, bytes: tx.length,
      writeMiBps: Math.round((tx.length / MiB) / (writeNs / 1e9)),
      readMiBps: Math.round((tx.length / MiB) / (readNs / 1e9)),
      bytesCopied,
      resourcesLeaked: !sameQpsCqs(before, rdma.resources()),
    };
  } finally {
    for (const b of [rx, tx, target, back]) if (!b.released) b.release();
  }
}

function sameQpsCqs(a: rdma.RdmaResourceCounts, b: rdma.RdmaResourceCounts): boolean {
  return a.qps === b.qps && a.cqs === b.cqs && a.cmIds === b.cmIds;
}

export function printDemo(r: DemoReport): void {
  const b = r.buffers;
  console.log(`buffers: ${b.chunkSize}-byte IoBuffer at ${b.address} (page-aligned: ${b.pageAligned}, hugepage regions: ${b.hugepageRegions})`);
  if (!r.rdma.available) {
    console.log(`rdma: unavailable: ${r.rdma.reason}`);
    console.log('rdma: run `npm run test:rdma` to exercise the verbs on Soft-RoCE in the lab');
    return;
  }
  const x = r.rdma;
  console.log(`rdma: ${x.device} at ${x.address}: loopback RC connection through rdma_cm`);
  console.log(`  SEND/RECV ok: ${x.sendRecvOk}; RDMA WRITE + READ of ${x.bytes} bytes ok: ${x.writeReadOk}`);
  console.log(`  write ${x.writeMiBps} MiB/s, read ${x.readMiBps} MiB/s, CPU-copied bytes: ${x.bytesCopied}, leaks: ${x.resourcesLeaked}`);
}

export const DEMO_COMMAND: Command = {
  name: 'demo',
  description: 'zero-copy buffers and, with an RDMA device, a loopback SEND/WRITE/READ\n'
    + 'exits 1 when an RDMA device is there and the loopback fails',
  flags: [
    { name: 'address', short: 'a', value: 'IP', help: 'the IPv4 address to loop back through (default: that of the first RDMA device with one)' },
    OUTPUT_FORMAT_FLAG,
  ],
  async run(args) {
    const report = await runDemo(stringFlags(args)('address'));
    if (isJson(args)) console.log(JSON.stringify(report, null, 2));
    else printDemo(report);
    return report.rdma.available && (!report.rdma.writeReadOk || !report.rdma.sendRecvOk) ? 1 : 0;
  },
};
