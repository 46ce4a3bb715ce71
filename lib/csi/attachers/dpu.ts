/**
 * The dpu role: a DPU's node plugin. It connects to the gateway and exposes the volume to
 * the host it sits in through a DpuFrontend, by connection mode:
 *
 *   aio   the kernel NVMe-oF host connects (as the default role does) and the block device
 *         it gives goes behind the host-facing NVMe function (GatewayDpuFrontend);
 *   nvmf  the frontend connects itself (OpiBridgeFrontend): nothing is connected here.
 *
 * The file system is the host's (role host): the node service neither formats nor mounts
 * here (exposesToHost). The DPU connects with its node's host NQN, which is what the
 * controller allows on the volume: run it with --node-id set to its host's NQN, since the
 * CO publishes the volume to the host's node.
 *
 * A volume that requires DH-HMAC-CHAP: in AIO mode the kernel host connects with the
 * secrets, as the default role does; NVMe-oF mode is refused (FAILED_PRECONDITION) before
 * anything is done, since OPI's CreateNvmePath has no DH-HMAC-CHAP fields and the DPU would
 * connect unauthenticated.
 *
 * A volume that requires TLS: in AIO mode the kernel host connects with the PSK; in NVMe-oF mode
 * the frontend is handed the PSK with the subsystem to connect to (OPI's
 * NvmeRemoteController.tcp.psk carries one).
 */
import { failedPrecondition, invalidArgument } from '../errors';
import { volumeIdOfNqn, volumeSerial, type ConnectionMode, type ConnectTuning, type PublishContext } from '../parameters';
import type { AttachOptions, VolumeAttacher } from '../volume-attacher';
import type { DpuFrontend } from './dpu-frontend';
import { KernelNvmeAttacher } from './kernel-nvme';
import { OpiBridgeFrontend } from './opi-bridge';

export interface DpuAttacherOptions {
  /** What connects to the gateway in AIO mode; default: the kernel NVMe-oF host (KernelNvmeAttacher). */
  kernel?: VolumeAttacher;
  /** AIO mode's frontend (GatewayDpuFrontend); without one, AIO volumes are refused. */
  aio?: DpuFrontend;
  /** NVMe-oF mode's frontend; default: OpiBridgeFrontend (UNIMPLEMENTED: the host role stages it). */
  nvmf?: DpuFrontend;
  /** For volumes whose StorageClass sets no connectionMode; default aio. */
  defaultMode?: ConnectionMode;
}

export class DpuAttacher implements VolumeAttacher {
  readonly role = 'dpu';
  readonly exposesToHost = true;
  readonly #kernel: VolumeAttacher;
  readonly #frontends: Partial<Record<ConnectionMode, DpuFrontend>>;
  readonly #defaultMode: ConnectionMode;

  constructor(options: DpuAttacherOptions = {}) {
    this.#kernel = options.kernel ?? new KernelNvmeAttacher();
    this.#frontends = { ...(options.aio ? { aio: options.aio } : {}), nvmf: options.nvmf ?? new OpiBridgeFrontend() };
    this.#defaultMode = options.defaultMode ?? 'aio';
  }

  async probe(): Promise<void> {
    if (this.#defaultMode === 'aio') await this.#kernel.probe();
    await this.#frontends[this.#defaultMode]?.probe?.();
  }

  async attach(ctx: PublishContext, tuning: ConnectTuning, hostnqn: string, options: AttachOptions = {}): Promise<string> {
    const mode = options.connectionMode ?? this.#defaultMode;
    if (options.dhchap && mode === 'nvmf') {
      throw failedPrecondition(`volume ${volumeIdOf(ctx)} requires DH-HMAC-CHAP, which connection mode nvmf cannot carry (OPI's ` +
        'CreateNvmePath has no DH-HMAC-CHAP fields): use connectionMode aio, where the DPU\'s kernel host authenticates');
    }
    const frontend = this.#frontend(mode);
    const volume = { volumeId: volumeIdOf(ctx), nguid: ctx.nguid, uuid: ctx.uuid, serial: volumeSerial(ctx.nguid) };
    if (mode === 'nvmf') {
      await frontend.expose(volume, { kind: 'nvmf', ctx, ...(options.psk ? { psk: options.psk } : {}) });
      return ctx.subnqn;
    }
    const device = await this.#kernel.attach(ctx, tuning, hostnqn,
      { ...(options.dhchap ? { dhchap: options.dhchap } : {}), ...(options.psk ? { psk: options.psk } : {}) });
    await frontend.expose(volume, { kind: 'block', device });
    return device;
  }

  device(volumeId: string): Promise<string | undefined> {
    return this.#kernel.device(volumeId);
  }

  async detach(volumeId: string): Promise<void> {
    // The host loses the namespace before the DPU loses the device under it, never the other way.
    for (const f of Object.values(this.#frontends)) await f.remove(volumeId);
    await this.#kernel.detach(volumeId);
  }

  async rescan(volumeId: string, minBytes?: number): Promise<number> {
    // The DPU's device first, then what the host sees of it.
    const bytes = await this.#kernel.rescan(volumeId, minBytes);
    for (const f of Object.values(this.#frontends)) await f.grown?.(volumeId);
    return bytes;
  }

  #frontend(mode: ConnectionMode): DpuFrontend {
    const f = this.#frontends[mode];
    if (!f) {
      throw failedPrecondition(`this DPU node has no ${mode} frontend configured: run the node plugin with --dpu-rpc-socket ` +
        'and --dpu-subsystem (the host-facing subsystem of the DPU\'s gateway)');
    }
    return f;
  }
}

function volumeIdOf(ctx: PublishContext): string {
  const id = volumeIdOfNqn(ctx.subnqn);
  if (id === undefined) throw invalidArgument(`publish_context.subnqn ${ctx.subnqn} is not a volume subsystem of this driver`);
  return id;
}
