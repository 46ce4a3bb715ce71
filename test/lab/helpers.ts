import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { IoBuffer } from '../../lib/buffers/io-buffer';
import type { Controller } from '../../lib/nvmf/host';
import type { Target } from '../../lib/nvmf/target';
import { until } from '../rdma/helpers';

/** Lab suites need root and the kernel's NVMe-oF modules: they run in the lab guest. */
export function inLab(): boolean {
  return process.getuid?.() === 0 && existsSync('/sys/module/nvme_tcp') && existsSync('/usr/sbin/nvme');
}

export function run(cmd: string, args: string[], timeoutMs = 120000): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function tryRun(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** The kernel's controllers (nvmeN) connected to `subnqn`. */
export function controllersOf(subnqn: string): string[] {
  if (!existsSync('/sys/class/nvme')) return [];
  return readdirSync('/sys/class/nvme').filter((c) => {
    try {
      return readFileSync(`/sys/class/nvme/${c}/subsysnqn`, 'utf8').trim() === subnqn;
    } catch {
      return false;  // the controller went away while we looked
    }
  });
}

/** The /dev/nvmeN controller connected to `subnqn`, if any. */
export function controllerFor(subnqn: string): string | undefined {
  for (const c of readdirSync('/sys/class/nvme')) {
    try {
      if (readFileSync(`/sys/class/nvme/${c}/subsysnqn`, 'utf8').trim() === subnqn) return c;
    } catch {
      // the controller went away while we looked
    }
  }
  return undefined;
}

/** The block device of `subnqn`'s first namespace, once udev-less devtmpfs shows it. */
export async function namespaceDevice(subnqn: string, timeoutMs = 20000): Promise<string> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const c = controllerFor(subnqn);
    if (c) {
      const ns = readdirSync(`/sys/class/nvme/${c}`).find((n) => /^nvme\d+c?\d*n\d+$/.test(n));
      if (ns) {
        // The head's disk, in sysfs and in /dev: a path shows up under its controller a moment
        // before its head is added, while /dev may still hold the node of a head of that name
        // that a disconnect just took away.
        const name = ns.replace(/c\d+/, '');
        if (existsSync(`/sys/block/${name}`) && existsSync(`/dev/${name}`)) return `/dev/${name}`;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no namespace device for ${subnqn}`);
}

export function disconnectAll(subnqn: string): void {
  tryRun('nvme', ['disconnect', '-n', subnqn]);
}

export interface FioJob {
  jobname: string;
  error: number;
  read: { io_bytes: number };
  write: { io_bytes: number; clat_ns: { max: number } };
}

/** Runs fio with JSON output; throws with fio's own words on failure. */
export function fio(args: string[], timeoutMs = 600000): FioJob[] {
  const r = spawnSync('fio', [...args, '--verify_state_save=0', '--output-format=json'], { encoding: 'utf8', timeout: timeoutMs });
  if (r.status !== 0) throw new Error(`fio failed (${r.status}): ${r.stderr}\n${r.stdout.slice(-2000)}`);
  return (JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as { jobs: FioJob[] }).jobs;
}

/**
 * An 8 MiB verified 4 KiB randwrite fio job on `dev` at `offset`, with `restart` (the backend
 * leaving and coming back) run 2 s into it: fio must end with no error and every byte written.
 * The job is held to 400 IOPS, so that its writes last 5 s however fast the path is (an
 * unthrottled job could finish before the restart, and prove nothing). Returns fio's job report.
 */
export async function fioAcrossRestart(dev: string, offset: string, restart: () => Promise<void>): Promise<FioJob> {
  const job = spawn('fio', ['--name=restart', `--filename=${dev}`, '--ioengine=libaio', '--direct=1',
    '--rw=randwrite', '--bs=4k', '--iodepth=8', '--size=8m', '--rate_iops=400', `--offset=${offset}`, '--verify=crc32c', '--verify_fatal=1',
    '--do_verify=1', '--verify_state_save=0', '--output-format=json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  job.stdout.on('data', (d: Buffer) => { out += d; });
  job.stderr.on('data', (d: Buffer) => { err += d; });
  const exited = new Promise<number | null>((r) => job.once('exit', r));
  await sleep(2000);
  assert.equal(job.exitCode, null, 'fio is still running when the backend restarts');
  await restart();
  const code = await exited;
  assert.equal(code, 0, `fio failed: ${err}\n${out.slice(-1500)}`);
  const [result] = (JSON.parse(out.slice(out.indexOf('{'))) as { jobs: FioJob[] }).jobs;
  assert.equal(result.error, 0);
  assert.equal(result.write.io_bytes, 8 << 20);
  return result;
}

/**
 * fio with verify on `dev` (from `offset`) through a gateway whose backend has two
 * controllers used at once (multipath active_active), while the first one's port (`first`)
 * goes away for a few seconds: both carry fio's I/O before, the second alone meanwhile, and
 * the first is back after. Logs the longest write, the time without completed I/O.
 */
export async function fioAcrossControllerLoss(target: Pick<Target, 'nvmeControllers'>, first: { unlink(): void; link(): void },
  dev: string, offset: string): Promise<FioJob> {
  const controllers = () => target.nvmeControllers()[0]!.controllers;
  const sent = () => controllers().map((c) => c.counters.commands);
  const before = sent();
  const job = await fioAcrossRestart(dev, offset, async () => {
    await sleep(1000);
    const both = sent();
    assert.ok(both[0]! > before[0]! && both[1]! > before[1]!, `both controllers carry fio's I/O: ${before} -> ${both}`);
    first.unlink();  // its controller's commands go down the second
    await until(() => controllers()[0]!.state !== 'enabled', 'the first controller to see its loss', 30000);
    await sleep(2000);
    first.link();
  });
  console.log(`      longest write across the loss of one controller: ${(job.write.clat_ns.max / 1e6).toFixed(0)} ms`);
  await until(() => controllers().every((c) => c.state === 'enabled'), 'the first controller back', 60000);
  return job;
}

/**
 * Waits until `target` serves at most `count` queue pairs. A host's disconnect reaches the target's
 * reactors a moment after nvme-cli returns, and until then its queues still hold their
 * namespaces' bdevs.
 */
export function untilQpairs(target: { qpairs(): unknown[] }, count: number, ms = 20000): Promise<void> {
  return until(() => target.qpairs().length <= count, `the target to serve at most ${count} queue pairs`, ms);
}

/** A reproducible byte pattern (xorshift32) in b[0 .. length). */
export function pattern(b: Uint8Array, length: number, seed: number): void {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The first n bytes of a and b are equal. */
export function same(a: Uint8Array, b: Uint8Array, n: number): boolean {
  return Buffer.from(a.buffer, a.byteOffset, n).equals(Buffer.from(b.buffer, b.byteOffset, n));
}

/**
 * The subsystem leaves the port and comes back while `r` (connected in retry mode) holds
 * a write: the write is resent once the queue is back, and reads back the same.
 */
export async function heldWriteSurvivesReconnect(r: Controller, target: { unlink(): void; link(): void },
  src: IoBuffer, dst: IoBuffer): Promise<void> {
  const events: string[] = [];
  r.on('disconnect', (_e: Error, reconnecting: boolean) => events.push(`disconnect ${reconnecting}`));
  r.on('reconnect', () => events.push('reconnect'));
  const lost = once(r, 'disconnect');
  target.unlink();
  await lost;
  pattern(src, 4096, 4242);
  const held = r.queuePairs[0].write(1, 30000, 8, src);
  await sleep(2500);  // some reconnect attempts fail meanwhile
  const back = once(r, 'reconnect');
  target.link();
  // Held I/O is resent as its own queue reconnects, which may be before the controller
  // as a whole is back.
  await held;
  await back;
  assert.deepEqual(events, ['disconnect true', 'reconnect']);
  dst.fill(0);
  await r.queuePairs[0].read(1, 30000, 8, dst);
  assert.ok(same(src, dst, 4096));
}
