/**
 * `npm run bench:soak [-- --kills N --restarts M]`: the gateway under faults, as issue 18
 * asks to show it. A backend (`rdmagate target`, a file namespace) behind a gateway
 * (`rdmagate gateway`, its config saved), each a process of its own, and a host in this
 * process that writes checksummed blocks through the gateway's export and reads each back,
 * the whole time. The backend is killed (SIGKILL) N times (default 100) and started again
 * after a pause; M of those times (default 20) the gateway is killed and started again too.
 *
 * Counted: verify errors (a block that did not read back as last acknowledged, in the
 * loop or in the final pass over every block), I/O errors (an I/O the host saw fail), the
 * time from each restart to the next I/O completed, and the gateway process's fds and
 * RSS: after its start, and after the backend kills it lived through.
 * Writes soak.json and soak.md (to bench/results with --save; see resultsOutput).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { BufferPool, nvmf, type IoBuffer } from '../lib';
import { rpcCall } from '../lib/jsonrpc/client';
import { crc32c } from '../lib/perf/crc32c';
import { machine, resultsOutput } from './machine';
import { median } from './median';

const CLI = path.resolve(__dirname, '..', 'lib', 'cli', 'main.js');
const BACKEND_NQN = 'nqn.2026-12.io.rdmagate:soak-backend';
const FRONT_NQN = 'nqn.2026-12.io.rdmagate:soak-front';
const BLOCK = 4096;
const WORKERS = 8;
const BLOCKS_PER_WORKER = 64;
const IO_BETWEEN_FAULTS_MS = 1000;

interface Options { kills: number; restarts: number }

function options(argv: string[]): Options {
  const o: Options = { kills: 100, restarts: 20 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = Number(argv[i + 1]);
    if (argv[i] === '--kills' && Number.isInteger(v) && v > 0) o.kills = v;
    else if (argv[i] === '--restarts' && Number.isInteger(v) && v >= 0) o.restarts = v;
    else throw new Error(`usage: soak [--kills N] [--restarts M] [--save | --out DIR], got ${argv[i]} ${argv[i + 1]}`);
  }
  if (o.restarts > o.kills) throw new Error('--restarts must be at most --kills');
  return o;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function listening(port: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect({ port, host: '127.0.0.1' }, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(20);
  }
}

function kill(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** The process's open fds and resident memory (KiB). */
function footprint(pid: number): { fds: number; rssKiB: number } {
  const rss = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { fds: readdirSync(`/proc/${pid}/fd`).length, rssKiB: Number(rss?.[1] ?? NaN) };
}

/** A block's contents for (block, generation): its address and generation, pseudo-random bytes, and their CRC32C last. */
function fillBlock(b: IoBuffer, block: number, gen: number): void {
  const v = new DataView(b.buffer, b.byteOffset, BLOCK);
  v.setUint32(0, block, true);
  v.setUint32(4, gen, true);
  let x = (block * 2654435761 + gen * 40503) >>> 0 || 1;
  for (let i = 8; i < BLOCK - 4; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    v.setUint32(i, x, true);
  }
  v.setUint32(BLOCK - 4, crc32c(b.subarray(0, BLOCK - 4)), true);
}

/** What a block read back holds: its (block, generation) if its checksum holds. */
function readBlock(b: IoBuffer): { block: number; gen: number } | undefined {
  const v = new DataView(b.buffer, b.byteOffset, BLOCK);
  if (v.getUint32(BLOCK - 4, true) !== crc32c(b.subarray(0, BLOCK - 4))) return undefined;
  return { block: v.getUint32(0, true), gen: v.getUint32(4, true) };
}

class Soak {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'rdmagate-soak-'));
  readonly backendPort = 34000 + (process.pid % 1000);
  readonly frontPort = this.backendPort + 1000;
  backend: ChildProcess | undefined;
  gateway: ChildProcess | undefined;
  readonly acked = new Map<number, number>();  // block → generation last acknowledged
  readonly unsure = new Set<number>();          // a write failed: the block may hold either
  verifyErrors = 0;
  ioErrors = 0;
  ios = 0;
  lastCompletion = 0;
  stopping = false;

  get socket(): string { return path.join(this.dir, 'gateway.sock'); }

  async startBackend(): Promise<void> {
    const config = path.join(this.dir, 'backend.json');
    writeFileSync(config, JSON.stringify({
      bdevs: [{ type: 'file', name: 'File0', path: path.join(this.dir, 'backend.img'), blockSize: 512 }],
      subsystems: [{ nqn: BACKEND_NQN, allowAnyHost: true, namespaces: [{ bdev: 'File0', nsid: 1 }] }],
      listeners: [{ transport: 'tcp', address: '127.0.0.1', port: this.backendPort }],
    }));
    this.backend = spawn(process.execPath, [CLI, 'target', '--config', config], { stdio: 'ignore' });
    await listening(this.backendPort);
  }

  async startGateway(configure: boolean): Promise<void> {
    // Its log, across restarts: the backend transitions it says it saw are counted.
    const log = openSync(path.join(this.dir, 'gateway.log'), 'a');
    this.gateway = spawn(process.execPath, [CLI, 'gateway', '--socket', this.socket, '--config', path.join(this.dir, 'gateway.json')],
      { stdio: ['ignore', 'ignore', log] });
    closeSync(log);
    if (!configure) return listening(this.frontPort);  // its saved config brings the export back
    await rpcCall(this.socket, 'rpc_get_methods', undefined, { retries: 150 });  // 200 ms apart: until it listens
    const rpc = (method: string, params: Record<string, unknown>) => rpcCall(this.socket, method, params as never);
    await rpc('bdev_nvme_attach_controller', { name: 'Nvme0', trtype: 'tcp', traddr: '127.0.0.1', trsvcid: this.backendPort,
      subnqn: BACKEND_NQN, ctrlr_loss_timeout_sec: 60, reconnect_delay_sec: 1 });
    await rpc('nvmf_create_transport', { trtype: 'TCP' });
    await rpc('nvmf_create_subsystem', { nqn: FRONT_NQN, allow_any_host: true });
    await rpc('nvmf_subsystem_add_ns', { nqn: FRONT_NQN, namespace: { bdev_name: 'Nvme0n1', nsid: 1 } });
    await rpc('nvmf_subsystem_add_listener', { nqn: FRONT_NQN,
      listen_address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(this.frontPort) } });
  }

  /** One worker: write a block, read it back, check it; its own blocks, round and round. */
  async worker(host: nvmf.Controller, w: number, pool: BufferPool): Promise<void> {
    const out = pool.acquire();
    const back = pool.acquire();
    const qp = host.queuePairs[w % host.queuePairs.length]!;
    let gen = 0;
    try {
      for (let n = 0; !this.stopping; n++) {
        const block = w * BLOCKS_PER_WORKER + (n % BLOCKS_PER_WORKER);
        if (n % BLOCKS_PER_WORKER === 0) gen++;
        fillBlock(out, block, gen);
        try {
          await qp.write(1, block * (BLOCK / 512), BLOCK / 512, out);
          this.acked.set(block, gen);
          this.unsure.delete(block);
        } catch {
          this.ioErrors++;
          this.unsure.add(block);
          continue;
        }
        this.done();
        try {
          await qp.read(1, block * (BLOCK / 512), BLOCK / 512, back);
        } catch {
          this.ioErrors++;
          continue;
        }
        this.done();
        this.check(block, back);
      }
    } finally {
      out.release();
      back.release();
    }
  }

  done(): void {
    this.ios++;
    this.lastCompletion = performance.now();
  }

  check(block: number, b: IoBuffer): void {
    if (this.unsure.has(block)) return;
    const got = readBlock(b);
    const want = this.acked.get(block);
    if (!got || got.block !== block || got.gen !== want) {
      this.verifyErrors++;
      if (this.verifyErrors <= 5) console.error(`verify: block ${block} read ${JSON.stringify(got)}, last acknowledged generation ${want}`);
    }
  }

  /** Milliseconds from `since` (performance.now()) to the next I/O completed. */
  async resumed(since: number): Promise<number> {
    while (this.lastCompletion <= since) await sleep(5);
    return this.lastCompletion - since;
  }
}

async function main(): Promise<void> {
  const { dir: out, rest } = resultsOutput('soak', process.argv.slice(2));
  const o = options(rest);
  const soak = new Soak();
  // The backend's namespace: a sparse 64 MiB file, which outlives each backend process.
  const fd = openSync(path.join(soak.dir, 'backend.img'), 'w');
  ftruncateSync(fd, 64 << 20);
  closeSync(fd);

  await soak.startBackend();
  await soak.startGateway(true);
  const host = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: soak.frontPort, subnqn: FRONT_NQN, ioFailureMode: 'retry',
    reconnectDelay: 1, firstReconnectDelay: 0.05, ctrlLossTmo: -1, nrIoQueues: 2 });
  const pool = new BufferPool({ chunkSize: BLOCK });
  const workers = Array.from({ length: WORKERS }, (_, w) => soak.worker(host, w, pool));

  const backendResumeMs: number[] = [];
  const gatewayResumeMs: number[] = [];
  const footprints: { kill: number; fds: number; rssKiB: number }[] = [];
  const every = o.restarts ? Math.floor(o.kills / o.restarts) : Infinity;
  const started = performance.now();
  await sleep(IO_BETWEEN_FAULTS_MS);
  footprints.push({ kill: 0, ...footprint(soak.gateway!.pid!) });
  for (let k = 1; k <= o.kills; k++) {
    await kill(soak.backend);
    await sleep(200 + Math.floor(Math.random() * 1300));
    await soak.startBackend();
    backendResumeMs.push(await soak.resumed(performance.now()));
    await sleep(IO_BETWEEN_FAULTS_MS);
    footprints.push({ kill: k, ...footprint(soak.gateway!.pid!) });
    if (k % every === 0 && gatewayResumeMs.length < o.restarts) {
      await kill(soak.gateway);
      await sleep(200);
      await soak.startGateway(false);
      gatewayResumeMs.push(await soak.resumed(performance.now()));
      await sleep(IO_BETWEEN_FAULTS_MS);
      footprints.push({ kill: k, ...footprint(soak.gateway!.pid!) });
    }
    process.stderr.write(`\rkills ${k}/${o.kills}, gateway restarts ${gatewayResumeMs.length}, ios ${soak.ios}, ` +
      `verify errors ${soak.verifyErrors}, io errors ${soak.ioErrors}   `);
  }
  soak.stopping = true;
  await Promise.all(workers);
  // Every block once more, as last acknowledged.
  const b = pool.acquire();
  for (const [block] of soak.acked) {
    await host.queuePairs[0]!.read(1, block * (BLOCK / 512), BLOCK / 512, b);
    soak.check(block, b);
  }
  b.release();
  const minutes = (performance.now() - started) / 60000;
  await host.close();
  await kill(soak.gateway);
  await kill(soak.backend);
  const logged = (msg: string) => readFileSync(path.join(soak.dir, 'gateway.log'), 'utf8').split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`)).length;
  const logLines = { lost: logged('backend lost'), reconnected: logged('backend reconnected'), failed: logged('backend failed') };
  rmSync(soak.dir, { recursive: true, force: true });
  process.stderr.write('\n');

  // The gateway after its start, and after the last backend kill it lived through.
  const lifetimes = splitLifetimes(footprints).filter((l) => l.length > 1);
  const growth = lifetimes.map((l) => ({ kills: l.length - 1, fds: l.at(-1)!.fds - l[0]!.fds, rssKiB: l.at(-1)!.rssKiB - l[0]!.rssKiB }));
  const result = {
    machine: machine(),
    date: new Date().toISOString(),
    kills: o.kills, gatewayRestarts: gatewayResumeMs.length, minutes: Math.round(minutes * 10) / 10,
    ios: soak.ios, blocks: soak.acked.size, verifyErrors: soak.verifyErrors, ioErrors: soak.ioErrors,
    backendResumeMs: summary(backendResumeMs), gatewayResumeMs: summary(gatewayResumeMs), logLines,
    gatewayFootprint: { first: footprints[0], last: footprints.at(-1), lifetimes: growth },
  };
  writeFileSync(path.join(out, 'soak.json'), JSON.stringify(result, null, 2) + '\n');
  writeFileSync(path.join(out, 'soak.md'), report(result));
  console.log(report(result));
  process.exit(soak.verifyErrors || soak.ioErrors ? 1 : 0);
}

/** The footprints cut where the gateway restarted (a restart's sample begins the next lifetime). */
function splitLifetimes(f: { kill: number; fds: number; rssKiB: number }[]): { fds: number; rssKiB: number }[][] {
  const out: { fds: number; rssKiB: number }[][] = [[f[0]!]];
  for (let i = 1; i < f.length; i++) {
    if (f[i]!.kill === f[i - 1]!.kill) out.push([f[i]!]);  // the restart's own sample
    else out.at(-1)!.push(f[i]!);
  }
  return out;
}

function summary(ms: number[]): { n: number; medianMs: number; maxMs: number } {
  return { n: ms.length, medianMs: ms.length ? Math.round(median(ms)) : 0, maxMs: ms.length ? Math.round(Math.max(...ms)) : 0 };
}

/** soak.md from soak.json's fields. */
export function report(r: { kills: number; gatewayRestarts: number; minutes: number; ios: number; blocks: number; verifyErrors: number;
  ioErrors: number; logLines: { lost: number; reconnected: number; failed: number }; backendResumeMs: ReturnType<typeof summary>;
  gatewayResumeMs: ReturnType<typeof summary>; gatewayFootprint: { first?: { fds: number; rssKiB: number };
    last?: { fds: number; rssKiB: number }; lifetimes: { kills: number; fds: number; rssKiB: number }[] } }): string {
  const growth = r.gatewayFootprint.lifetimes;
  const range = (xs: number[]) => `${Math.min(...xs)} .. ${Math.max(...xs)}`;
  return [
    '# Soak: backend kills and gateway restarts under verified I/O',
    '',
    `${r.kills} backend kills (SIGKILL, 0.2-1.5 s down) and ${r.gatewayRestarts} gateway kills and restarts in ${r.minutes} min;`,
    `${WORKERS} writers, each writing ${BLOCKS_PER_WORKER} 4 KiB checksummed blocks and reading each back, through the gateway.`,
    '',
    '| what | value |',
    '|---|---|',
    `| I/Os completed | ${r.ios} |`,
    `| verify errors (loop and final pass over ${r.blocks} blocks) | ${r.verifyErrors} |`,
    `| I/O errors seen by the host | ${r.ioErrors} |`,
    `| backend restart to next I/O, median / max | ${r.backendResumeMs.medianMs} / ${r.backendResumeMs.maxMs} ms |`,
    `| gateway restart to next I/O, median / max | ${r.gatewayResumeMs.medianMs} / ${r.gatewayResumeMs.maxMs} ms |`,
    `| gateway log lines: backend lost / reconnected / failed | ${r.logLines.lost} / ${r.logLines.reconnected} / ${r.logLines.failed} |`,
    `| gateway fds, first start / end | ${r.gatewayFootprint.first?.fds} / ${r.gatewayFootprint.last?.fds} |`,
    `| gateway RSS, first start / end | ${r.gatewayFootprint.first?.rssKiB} / ${r.gatewayFootprint.last?.rssKiB} KiB |`,
    `| fds gained by each gateway process over the backend kills it lived through (${growth[0]?.kills} each) | ${range(growth.map((g) => g.fds))} |`,
    `| RSS gained by each gateway process over those kills | ${range(growth.map((g) => g.rssKiB))} KiB |`,
    '',
  ].join('\n');
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
