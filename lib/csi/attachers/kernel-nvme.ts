/**
 * The default role's attacher: the Linux kernel's NVMe-oF host (nvme-tcp, nvme-rdma),
 * driven with nvme-cli and watched through sysfs. The dpu role reuses it to get the local
 * block device it then exposes to its host.
 *
 * A volume published by a gateway group has several paths (publish_context `paths`): each
 * is connected (`nvme connect` per address, one subsystem NQN), and the kernel's native
 * multipath makes them one block device, found by UUID as for one path. A path that cannot
 * be connected is logged and left: staging needs one path, and multipath is for exactly
 * that. Unstaging disconnects the subsystem, every path of it.
 *
 * A volume that requires DH-HMAC-CHAP is connected with nvme-cli's --dhchap-secret (and
 * --dhchap-ctrl-secret, bidirectional). They are kept out of every message and log line here:
 * the command as shown, and nvme-cli's own output, have them replaced. nvme-cli takes them on
 * its command line, so for the moment it runs the node's /proc shows them to local users
 * (unless mounted hidepid), as any `nvme connect --dhchap-secret` does.
 *
 * A volume that requires TLS is connected with `--tls --tls-key <PSK>` (nvme-cli 2.x: the PSK in
 * the interchange form, which nvme-cli puts in the kernel's keyring, as the retained PSK for
 * this host and subsystem, before it connects): kept out of messages and logs the same way.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deadlineExceeded, failedPrecondition, internal, notFound } from '../errors';
import type { DhchapSecrets } from '../dhchap-secrets';
import { REDACTED, type CsiLogger } from '../log';
import { blockDeviceBytes, exec as execCommand, type ExecResult } from '../node-system';
import { publishPaths, volumeNqn, type ConnectTuning, type PublishContext, type PublishPath } from '../parameters';
import type { AttachOptions, VolumeAttacher } from '../volume-attacher';
import { untilGrown } from './device-growth';

/** What the attacher does to the machine: run a command, read sysfs, look in /dev. Tests give a fake one. */
export interface KernelNvmeSystem {
  /** Runs a command without a shell; resolves with its exit code (never rejects for a non-zero one). */
  exec(cmd: string, args: string[]): Promise<ExecResult>;
  /** Where sysfs is mounted; default /sys. */
  sysfsRoot: string;
  /** Where the device nodes are; default /dev. */
  devRoot: string;
}

const HOST_SYSTEM: KernelNvmeSystem = { exec: (cmd, args) => execCommand(cmd, args), sysfsRoot: '/sys', devRoot: '/dev' };

export interface KernelNvmeAttacherOptions {
  /** How long to wait for the namespace's block device after connecting, or for its new size after a rescan. Default 30 s. */
  deviceTimeoutMs?: number;
  /** How often to look meanwhile; default 200 ms. */
  pollMs?: number;
  /** Where a path that cannot be connected is reported (staging goes on with the others). */
  log?: CsiLogger;
  /** Default: this machine (nvme-cli, /sys, /dev). */
  system?: Partial<KernelNvmeSystem>;
}

/** States in which a kernel controller is as good as gone (sysfs `state`). */
const DEAD_STATES = new Set(['deleting', 'deleting (no IO)', 'dead']);

/** The kernel NVMe-oF host (nvme-tcp, nvme-rdma), through nvme-cli and sysfs. */
export class KernelNvmeAttacher implements VolumeAttacher {
  readonly role = 'default';
  readonly #deviceTimeoutMs: number;
  readonly #pollMs: number;
  readonly #log: CsiLogger | undefined;
  readonly #sys: KernelNvmeSystem;

  constructor(options: KernelNvmeAttacherOptions = {}) {
    this.#deviceTimeoutMs = options.deviceTimeoutMs ?? 30_000;
    this.#pollMs = options.pollMs ?? 200;
    this.#log = options.log;
    // Read field by field, not spread: a class's exec is on its prototype, and bound to it here.
    const sys = options.system;
    this.#sys = {
      exec: sys?.exec ? (cmd, args) => sys.exec!.call(sys, cmd, args) : HOST_SYSTEM.exec,
      sysfsRoot: sys?.sysfsRoot ?? HOST_SYSTEM.sysfsRoot,
      devRoot: sys?.devRoot ?? HOST_SYSTEM.devRoot,
    };
  }

  async probe(): Promise<void> {
    const r = await this.#sys.exec('nvme', ['version']).catch(() => undefined);
    if (!r || r.code !== 0) throw failedPrecondition('nvme-cli is not installed on this node (the default role connects with `nvme connect`)');
  }

  /** Connects every path of the volume not connected yet (one must connect), then waits for its block device. */
  async attach(ctx: PublishContext, tuning: ConnectTuning, hostnqn: string, options: AttachOptions = {}): Promise<string> {
    const paths = publishPaths(ctx);
    const failures: { path: PublishPath; error: unknown }[] = [];
    // One after another: nvme-cli and the kernel's fabrics code take one connect at a time anyway.
    for (const path of paths) {
      try {
        await connectPath({ transport: ctx.transport, subnqn: ctx.subnqn, ...path }, tuning, hostnqn, this.#sys,
          { perPath: true, ...(options.dhchap ? { dhchap: options.dhchap } : {}), ...(options.psk ? { psk: options.psk } : {}) });
      } catch (e) {
        failures.push({ path, error: e });
      }
    }
    if (failures.length === paths.length) {
      if (failures.length === 1) throw failures[0]!.error;
      throw failedPrecondition(`no path of ${ctx.subnqn} could be connected: ${failures.map(describeFailure).join('; ')}`);
    }
    for (const f of failures) {
      this.#log?.warn('a path of the volume could not be connected; the others carry its I/O', {
        subnqn: ctx.subnqn, transport: ctx.transport, traddr: f.path.traddr, trsvcid: f.path.trsvcid, error: errorText(f.error),
      });
    }
    const end = Date.now() + this.#deviceTimeoutMs;
    for (;;) {
      const dev = await deviceByIds(ctx.uuid, ctx.nguid, this.#sys);
      if (dev) return dev;
      if (Date.now() > end) {
        throw deadlineExceeded(`connected to ${ctx.subnqn}, but no block device with uuid ${ctx.uuid} appeared within ${this.#deviceTimeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, this.#pollMs));
    }
  }

  async device(volumeId: string): Promise<string | undefined> {
    for (const c of await controllersOf(volumeNqn(volumeId), this.#sys)) {
      if (DEAD_STATES.has(c.state)) continue;
      const ns = await namespacesOf(c.name, this.#sys);
      if (ns[0]) return join(this.#sys.devRoot, ns[0]);
    }
    return undefined;
  }

  /** Disconnects the subsystem: `nvme disconnect -n` takes every controller of it, each path. */
  async detach(volumeId: string): Promise<void> {
    const nqn = volumeNqn(volumeId);
    if ((await controllersOf(nqn, this.#sys)).length === 0) return;
    await mustRun(this.#sys, 'nvme', ['disconnect', '-n', nqn]);
  }

  /**
   * `nvme ns-rescan` only queues the kernel's scan: waits until the block device shows the
   * size the controller now reports (Identify Namespace), and at least `minBytes`.
   */
  async rescan(volumeId: string, minBytes?: number): Promise<number> {
    const dev = await this.device(volumeId);
    if (!dev) throw notFound(`volume ${volumeId} has no block device on this node`);
    for (const c of await controllersOf(volumeNqn(volumeId), this.#sys)) {
      if (!DEAD_STATES.has(c.state)) await mustRun(this.#sys, 'nvme', ['ns-rescan', join(this.#sys.devRoot, c.name)]);
    }
    const reported = await namespaceBytes(dev, this.#sys);
    return untilGrown(() => blockDeviceBytes(dev, this.#sys.sysfsRoot), Math.max(minBytes ?? 0, reported), dev,
      { timeoutMs: this.#deviceTimeoutMs, pollMs: this.#pollMs });
  }
}

interface KernelController {
  name: string;
  state: string;
  /** sysfs `address`: "traddr=10.0.0.1,trsvcid=4420,..." */
  address: string;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function describeFailure(f: { path: PublishPath; error: unknown }): string {
  return `${f.path.traddr}:${f.path.trsvcid}: ${errorText(f.error)}`;
}

/** Runs a command that must succeed; its stderr becomes the error message (as node-system's mustExec). */
async function mustRun(sys: KernelNvmeSystem, cmd: string, args: string[]): Promise<string> {
  const r = await sys.exec(cmd, args);
  if (r.code !== 0) throw internal(`${cmd} ${args.join(' ')} failed (${r.code}): ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** The namespace's size as its controller reports it now (`nvme id-ns`: NSZE blocks of the formatted LBA size). */
async function namespaceBytes(dev: string, sys: KernelNvmeSystem): Promise<number> {
  const out = await mustRun(sys, 'nvme', ['id-ns', dev, '-o', 'json']);
  let ns: { nsze?: unknown; flbas?: unknown; lbafs?: { ds?: unknown }[] };
  try {
    ns = JSON.parse(out) as typeof ns;
  } catch {
    throw internal(`nvme id-ns ${dev} answered no JSON: ${out.slice(0, 200)}`);
  }
  // FLBAS: the format's index, bits 3:0 and (with more than 16 formats) bits 6:5 above them.
  const flbas = Number(ns.flbas);
  const ds = Number(ns.lbafs?.[(flbas & 0xf) | ((flbas >> 1) & 0x30)]?.ds);
  const blocks = Number(ns.nsze);
  if (!Number.isSafeInteger(blocks) || !(ds >= 9 && ds <= 31)) throw internal(`nvme id-ns ${dev} answered no size: ${out.slice(0, 200)}`);
  return blocks * 2 ** ds;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined; // gone while we looked
  }
}

/** Where `nvme connect` goes: a subsystem on a fabrics address. */
export type NvmeConnectTarget = Pick<PublishContext, 'transport' | 'traddr' | 'trsvcid' | 'subnqn'>;

/**
 * `nvme connect` (nvme-cli's flags, with the tuning given) unless a live controller of the
 * subsystem is there already; loads the transport's module first. Without `hostnqn`,
 * nvme-cli's own (/etc/nvme/hostnqn).
 */
export function nvmeConnect(to: NvmeConnectTarget, tuning: ConnectTuning, hostnqn?: string): Promise<void> {
  return connectPath(to, tuning, hostnqn, HOST_SYSTEM, { perPath: false });
}

/**
 * `nvme connect` to one address, unless a live controller is there: of the subsystem at
 * that address (perPath, for multipath), or of the subsystem at all.
 */
async function connectPath(to: NvmeConnectTarget, tuning: ConnectTuning, hostnqn: string | undefined, sys: KernelNvmeSystem,
  options: { perPath: boolean; dhchap?: DhchapSecrets; psk?: string }): Promise<void> {
  const live = (await controllersOf(to.subnqn, sys)).filter((c) => !DEAD_STATES.has(c.state));
  if (live.some((c) => !options.perPath || sameAddress(c.address, to))) return;
  if (!existsSync(join(sys.sysfsRoot, 'module', `nvme_${to.transport}`))) await sys.exec('modprobe', [`nvme-${to.transport}`]);
  const args = ['connect', '-t', to.transport, '-a', to.traddr, '-s', to.trsvcid, '-n', to.subnqn];
  if (hostnqn !== undefined) args.push('-q', hostnqn);
  if (tuning.nr_io_queues !== undefined) args.push('-i', String(tuning.nr_io_queues));
  if (tuning.ctrl_loss_tmo !== undefined) args.push('-l', String(tuning.ctrl_loss_tmo));
  if (tuning.keep_alive_tmo !== undefined) args.push('-k', String(tuning.keep_alive_tmo));
  if (tuning.reconnect_delay !== undefined) args.push('-c', String(tuning.reconnect_delay));
  const secrets = [...(options.dhchap ? [options.dhchap.dhchapKey, ...(options.dhchap.dhchapCtrlrKey ? [options.dhchap.dhchapCtrlrKey] : [])] : []),
    ...(options.psk ? [options.psk] : [])];
  if (options.dhchap) args.push('--dhchap-secret', options.dhchap.dhchapKey);
  if (options.dhchap?.dhchapCtrlrKey) args.push('--dhchap-ctrl-secret', options.dhchap.dhchapCtrlrKey);
  if (options.psk) {
    if (to.transport !== 'tcp') throw failedPrecondition(`TLS is NVMe/TCP's: ${to.subnqn} is published over ${to.transport}`);
    args.push('--tls', '--tls-key', options.psk);
  }
  const r = await sys.exec('nvme', args);
  // EALREADY: a connect of our own raced this one; the caller's device wait settles it.
  if (r.code !== 0 && !/already connected/i.test(r.stderr)) {
    const shown = args.map((a) => (secrets.includes(a) ? REDACTED : a)).join(' ');
    throw failedPrecondition(`nvme ${shown} failed (${r.code}): ${redact(r.stderr.trim(), secrets)}`);
  }
}

/** `text` with each of `secrets`, and the key part of each, replaced: nvme-cli may quote what it was given. */
function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    for (const part of [s, s.split(':')[2] ?? '']) if (part.length >= 8) out = out.split(part).join(REDACTED);
  }
  return out;
}

/** Whether a controller's sysfs `address` is the path's (traddr and trsvcid; IPv6 compared as written). */
function sameAddress(address: string, path: { traddr: string; trsvcid: string }): boolean {
  const fields = new Map(address.split(',').map((kv) => {
    const eq = kv.indexOf('=');
    return [kv.slice(0, eq).trim(), kv.slice(eq + 1).trim()] as const;
  }));
  return fields.get('traddr')?.toLowerCase() === path.traddr.toLowerCase() && fields.get('trsvcid') === path.trsvcid;
}

/** The kernel's NVMe controllers (nvmeN) connected to `subnqn`. */
async function controllersOf(subnqn: string, sys: KernelNvmeSystem): Promise<KernelController[]> {
  const dir = join(sys.sysfsRoot, 'class', 'nvme');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return []; // nvme_core not loaded: nothing is connected
  }
  const out: KernelController[] = [];
  for (const name of names) {
    if ((await readText(join(dir, name, 'subsysnqn'))) === subnqn) {
      out.push({ name, state: (await readText(join(dir, name, 'state'))) ?? 'unknown', address: (await readText(join(dir, name, 'address'))) ?? '' });
    }
  }
  return out;
}

/**
 * The namespace block devices (nvmeXnY) of a controller. With native multipath the
 * controller's directory holds the per-path nvmeXcZnY, whose device is the head nvmeXnY.
 */
async function namespacesOf(controller: string, sys: KernelNvmeSystem): Promise<string[]> {
  const entries = await readdir(join(sys.sysfsRoot, 'class', 'nvme', controller)).catch(() => [] as string[]);
  return [...new Set(entries.filter((e) => /^nvme\d+(c\d+)?n\d+$/.test(e)).map((e) => e.replace(/c\d+n/, 'n')))].sort();
}

/** The block device whose namespace has this UUID (or, lacking one, this NGUID). */
async function deviceByIds(uuid: string, nguid: string, sys: KernelNvmeSystem): Promise<string | undefined> {
  const blocks = await readdir(join(sys.sysfsRoot, 'block')).catch(() => [] as string[]);
  for (const b of blocks.filter((x) => /^nvme\d+n\d+$/.test(x))) {
    const u = await readText(join(sys.sysfsRoot, 'block', b, 'uuid'));
    const g = (await readText(join(sys.sysfsRoot, 'block', b, 'nguid')))?.replace(/-/g, '');
    if (u?.toLowerCase() === uuid || g?.toLowerCase() === nguid) {
      const dev = join(sys.devRoot, b);
      if (existsSync(dev)) return dev;
    }
  }
  return undefined;
}
