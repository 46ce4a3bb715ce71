/**
 * The default role's attacher: the Linux kernel's NVMe-oF host (nvme-tcp, nvme-rdma),
 * driven with nvme-cli and watched through sysfs. The dpu role reuses it to get the local
 * block device it then exposes to its host.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { deadlineExceeded, failedPrecondition } from '../errors';
import { exec, mustExec } from '../node-system';
import { volumeNqn, type ConnectTuning, type PublishContext } from '../parameters';
import type { VolumeAttacher } from '../volume-attacher';

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
    await nvmeConnect(ctx, tuning, hostnqn);
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

/** Where `nvme connect` goes: a subsystem on a fabrics address. */
export type NvmeConnectTarget = Pick<PublishContext, 'transport' | 'traddr' | 'trsvcid' | 'subnqn'>;

/**
 * `nvme connect` (nvme-cli's flags, with the tuning given) unless a live controller of the
 * subsystem is there already; loads the transport's module first. Without `hostnqn`,
 * nvme-cli's own (/etc/nvme/hostnqn).
 */
export async function nvmeConnect(to: NvmeConnectTarget, tuning: ConnectTuning, hostnqn?: string): Promise<void> {
  if ((await controllersOf(to.subnqn)).some((c) => !DEAD_STATES.has(c.state))) return;
  if (!existsSync(`/sys/module/nvme_${to.transport}`)) await exec('modprobe', [`nvme-${to.transport}`]);
  const args = ['connect', '-t', to.transport, '-a', to.traddr, '-s', to.trsvcid, '-n', to.subnqn];
  if (hostnqn !== undefined) args.push('-q', hostnqn);
  if (tuning.nr_io_queues !== undefined) args.push('-i', String(tuning.nr_io_queues));
  if (tuning.ctrl_loss_tmo !== undefined) args.push('-l', String(tuning.ctrl_loss_tmo));
  if (tuning.keep_alive_tmo !== undefined) args.push('-k', String(tuning.keep_alive_tmo));
  if (tuning.reconnect_delay !== undefined) args.push('-c', String(tuning.reconnect_delay));
  const r = await exec('nvme', args);
  // EALREADY: a connect of our own raced this one; the caller's device wait settles it.
  if (r.code !== 0 && !/already connected/i.test(r.stderr)) {
    throw failedPrecondition(`nvme ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
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
