/**
 * How a node turns a published volume into a local block device: the seam between the
 * CSI node service (staging, mounting, stats, growing file systems) and the NVMe-oF host
 * that does the connecting. Node roles:
 *
 *   default  the Linux kernel's NVMe-oF host, driven with nvme-cli (KernelNvmeAttacher);
 *   host     rdmagate's own NVMe/TCP host in this process, exposing the namespace as a
 *            block device through ublk: not implemented in this slice;
 *   dpu      a DPU that connects to the gateway and presents the namespace to the host as
 *            a local NVMe function: not implemented in this slice.
 *
 * The roles not implemented answer UNIMPLEMENTED for everything that needs a device,
 * never a pretend success.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { deadlineExceeded, failedPrecondition, unimplemented } from './errors';
import { exec, mustExec } from './node-system';
import { volumeNqn, type ConnectTuning, type PublishContext } from './parameters';

export type NodeRole = 'default' | 'host' | 'dpu';
export const NODE_ROLES: readonly NodeRole[] = ['default', 'host', 'dpu'];

export interface VolumeAttacher {
  readonly role: NodeRole;
  /** Throws (a CsiError) when this node cannot attach volumes at all: Probe's answer. */
  probe(): Promise<void>;
  /** Connects to the volume's subsystem unless connected already; resolves with its block device (/dev/...). */
  attach(ctx: PublishContext, tuning: ConnectTuning, hostnqn: string): Promise<string>;
  /** The block device of an attached volume, or undefined. */
  device(volumeId: string): Promise<string | undefined>;
  /** Disconnects the volume's subsystem; nothing to do when it is not connected. */
  detach(volumeId: string): Promise<void>;
  /** Has the host re-read the namespace's size (after the volume grew). */
  rescan(volumeId: string): Promise<void>;
}

export interface KernelNvmeAttacherOptions {
  /** How long to wait for the namespace's block device after connecting. Default 30 s. */
  deviceTimeoutMs?: number;
}

/** States in which a kernel controller is as good as gone (sysfs `state`). */
const DEAD_STATES = new Set(['deleting', 'deleting (no IO)', 'dead']);

/** The kernel NVMe-oF host (nvme-tcp, nvme-rdma), through nvme-cli and sysfs. */
export class KernelNvmeAttacher implements VolumeAttacher {
  readonly role = 'default';
  readonly #deviceTimeoutMs: number;

  constructor(options: KernelNvmeAttacherOptions = {}) {
    this.#deviceTimeoutMs = options.deviceTimeoutMs ?? 30_000;
  }

  async probe(): Promise<void> {
    const r = await exec('nvme', ['version']).catch(() => undefined);
    if (!r || r.code !== 0) throw failedPrecondition('nvme-cli is not installed on this node (the default role connects with `nvme connect`)');
  }

  async attach(ctx: PublishContext, tuning: ConnectTuning, hostnqn: string): Promise<string> {
    const live = (await controllersOf(ctx.subnqn)).filter((c) => !DEAD_STATES.has(c.state));
    if (live.length === 0) {
      if (!existsSync(`/sys/module/nvme_${ctx.transport}`)) await exec('modprobe', [`nvme-${ctx.transport}`]);
      const args = ['connect', '-t', ctx.transport, '-a', ctx.traddr, '-s', ctx.trsvcid, '-n', ctx.subnqn, '-q', hostnqn];
      if (tuning.nr_io_queues !== undefined) args.push('-i', String(tuning.nr_io_queues));
      if (tuning.ctrl_loss_tmo !== undefined) args.push('-l', String(tuning.ctrl_loss_tmo));
      if (tuning.keep_alive_tmo !== undefined) args.push('-k', String(tuning.keep_alive_tmo));
      if (tuning.reconnect_delay !== undefined) args.push('-c', String(tuning.reconnect_delay));
      const r = await exec('nvme', args);
      // EALREADY: a connect of our own raced this one; the device wait below settles it.
      if (r.code !== 0 && !/already connected/i.test(r.stderr)) {
        throw failedPrecondition(`nvme ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
      }
    }
    const end = Date.now() + this.#deviceTimeoutMs;
    for (;;) {
      const dev = await deviceByIds(ctx.uuid, ctx.nguid);
      if (dev) return dev;
      if (Date.now() > end) {
        throw deadlineExceeded(`connected to ${ctx.subnqn}, but no block device with uuid ${ctx.uuid} appeared within ${this.#deviceTimeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async device(volumeId: string): Promise<string | undefined> {
    for (const c of await controllersOf(volumeNqn(volumeId))) {
      if (DEAD_STATES.has(c.state)) continue;
      const ns = await namespacesOf(c.name);
      if (ns[0]) return `/dev/${ns[0]}`;
    }
    return undefined;
  }

  async detach(volumeId: string): Promise<void> {
    const nqn = volumeNqn(volumeId);
    if ((await controllersOf(nqn)).length === 0) return;
    await mustExec('nvme', ['disconnect', '-n', nqn]);
  }

  async rescan(volumeId: string): Promise<void> {
    for (const c of await controllersOf(volumeNqn(volumeId))) {
      if (!DEAD_STATES.has(c.state)) await mustExec('nvme', ['ns-rescan', `/dev/${c.name}`]);
    }
  }
}

/** A role whose attach path is not built yet: says so for every call that needs a device. */
export class UnimplementedAttacher implements VolumeAttacher {
  constructor(readonly role: NodeRole, private readonly what: string) {}

  async probe(): Promise<void> {
    // The node service itself is up; each volume operation says what is missing.
  }

  attach(): Promise<string> { return Promise.reject(this.#error()); }
  device(): Promise<string | undefined> { return Promise.reject(this.#error()); }
  detach(): Promise<void> { return Promise.reject(this.#error()); }
  rescan(): Promise<void> { return Promise.reject(this.#error()); }

  #error(): Error {
    return unimplemented(`node role ${this.role}: ${this.what} is not implemented in this slice; run the node plugin with --role default`);
  }
}

export function attacherFor(role: NodeRole, options: KernelNvmeAttacherOptions = {}): VolumeAttacher {
  switch (role) {
    case 'default':
      return new KernelNvmeAttacher(options);
    case 'host':
      return new UnimplementedAttacher('host', 'attaching through rdmagate\'s own NVMe/TCP host (ublk block device)');
    case 'dpu':
      return new UnimplementedAttacher('dpu', 'attaching through a DPU\'s emulated NVMe function');
  }
}

interface KernelController {
  name: string;
  state: string;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined; // gone while we looked
  }
}

/** The kernel's NVMe controllers (nvmeN) connected to `subnqn`. */
async function controllersOf(subnqn: string): Promise<KernelController[]> {
  let names: string[];
  try {
    names = await readdir('/sys/class/nvme');
  } catch {
    return []; // nvme_core not loaded: nothing is connected
  }
  const out: KernelController[] = [];
  for (const name of names) {
    if ((await readText(`/sys/class/nvme/${name}/subsysnqn`)) === subnqn) {
      out.push({ name, state: (await readText(`/sys/class/nvme/${name}/state`)) ?? 'unknown' });
    }
  }
  return out;
}

/**
 * The namespace block devices (nvmeXnY) of a controller. With native multipath the
 * controller's directory holds the per-path nvmeXcZnY, whose device is the head nvmeXnY.
 */
async function namespacesOf(controller: string): Promise<string[]> {
  const entries = await readdir(`/sys/class/nvme/${controller}`).catch(() => [] as string[]);
  return [...new Set(entries.filter((e) => /^nvme\d+(c\d+)?n\d+$/.test(e)).map((e) => e.replace(/c\d+n/, 'n')))].sort();
}

/** The block device whose namespace has this UUID (or, lacking one, this NGUID). */
async function deviceByIds(uuid: string, nguid: string): Promise<string | undefined> {
  const blocks = await readdir('/sys/block').catch(() => [] as string[]);
  for (const b of blocks.filter((x) => /^nvme\d+n\d+$/.test(x))) {
    const u = await readText(`/sys/block/${b}/uuid`);
    const g = (await readText(`/sys/block/${b}/nguid`))?.replace(/-/g, '');
    if (u?.toLowerCase() === uuid || g?.toLowerCase() === nguid) {
      if (existsSync(`/dev/${b}`)) return `/dev/${b}`;
    }
  }
  return undefined;
}
