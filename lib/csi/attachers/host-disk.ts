/**
 * The host role: a machine whose volumes come through its DPU. The DPU's node plugin
 * (role dpu) connects to the gateway and exposes the namespace on the host-facing NVMe
 * function; here nothing is connected, the host waits for that disk to show up, finds it
 * by the volume's NGUID/UUID (or serial) in sysfs, and the node service formats and mounts
 * it as for any role. Detaching is the DPU's business: the host only lets go.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { deadlineExceeded, notFound } from '../errors';
import { blockDeviceBytes } from '../node-system';
import { volumeIdOfNqn, volumeSerial, type ConnectTuning, type PublishContext } from '../parameters';
import type { AttachOptions, VolumeAttacher } from '../volume-attacher';
import { untilGrown } from './device-growth';
import { findDisk, idHex, type VolumeIds } from './disk-ids';

export interface HostDiskAttacherOptions {
  /** Where sysfs is mounted; default /sys. Tests point it at a fake tree. */
  sysfsRoot?: string;
  /** Where the device nodes are; default /dev. */
  devRoot?: string;
  /** How long to wait for the DPU's disk to appear, or to grow after a rescan; default 60 s, then DEADLINE_EXCEEDED. */
  deviceTimeoutMs?: number;
  /** How often to look meanwhile; default 200 ms. */
  pollMs?: number;
  /**
   * Other ids a volume's disk may carry, tried after the volume's own when a node plugin
   * that restarted looks for a disk it attached before: the DPU bridge's aio namespaces.
   */
  alternateIds?: (volume: VolumeIds) => VolumeIds;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class HostDiskAttacher implements VolumeAttacher {
  readonly role = 'host';
  readonly #sysfs: string;
  readonly #dev: string;
  readonly #timeoutMs: number;
  readonly #pollMs: number;
  readonly #alternateIds: ((volume: VolumeIds) => VolumeIds) | undefined;
  /** The ids of the volumes attached since this process started, by volume_id. */
  readonly #known = new Map<string, VolumeIds>();

  constructor(options: HostDiskAttacherOptions = {}) {
    this.#sysfs = options.sysfsRoot ?? '/sys';
    this.#dev = options.devRoot ?? '/dev';
    this.#timeoutMs = options.deviceTimeoutMs ?? 60_000;
    this.#pollMs = options.pollMs ?? 200;
    this.#alternateIds = options.alternateIds;
  }

  async probe(): Promise<void> {
    // Nothing to connect with: a host that has no such disk yet is still a working node.
  }

  /**
   * Options' keys (dhchap, psk) are not needed here: it connects nothing, and the DPU's node plugin (role dpu) connects with the
   * secrets and PSK its own NodeStageVolume is given.
   */
  async attach(ctx: PublishContext, _tuning: ConnectTuning, _hostnqn: string, _options?: AttachOptions): Promise<string> {
    const want: VolumeIds = { nguid: idHex(ctx.nguid), uuid: idHex(ctx.uuid), serial: volumeSerial(idHex(ctx.nguid)) };
    const volumeId = volumeIdOfNqn(ctx.subnqn);
    if (volumeId !== undefined) this.#known.set(volumeId, want);
    const end = Date.now() + this.#timeoutMs;
    for (;;) {
      const dev = await findDisk(this.#sysfs, this.#dev, want);
      if (dev) return dev;
      if (Date.now() >= end) {
        throw deadlineExceeded(`no disk with NGUID ${want.nguid} (or serial ${want.serial}) appeared within ${this.#timeoutMs} ms: ` +
          'has this host\'s DPU (node role dpu) staged the volume?');
      }
      await new Promise((r) => setTimeout(r, Math.min(this.#pollMs, Math.max(1, end - Date.now()))));
    }
  }

  async device(volumeId: string): Promise<string | undefined> {
    const known = this.#known.get(volumeId);
    if (known) return findDisk(this.#sysfs, this.#dev, known);
    const want = this.#idsOf(volumeId);
    if (!want) return undefined;
    const alternate = this.#alternateIds?.(want);
    return (await findDisk(this.#sysfs, this.#dev, want)) ?? (alternate && findDisk(this.#sysfs, this.#dev, alternate));
  }

  async detach(volumeId: string): Promise<void> {
    // The DPU owns the connection and takes the disk away on its unstage; the host only forgets it.
    this.#known.delete(volumeId);
  }

  async rescan(volumeId: string, minBytes?: number): Promise<number> {
    const dev = await this.device(volumeId);
    if (!dev) throw notFound(`volume ${volumeId} has no disk on this host`);
    // NVMe: rescan the controller, which re-reads each namespace's size; SCSI: the disk.
    // virtio-blk has neither and needs none: its size change arrives as a config interrupt.
    const device = join(this.#sysfs, 'block', basename(dev), 'device');
    for (const f of ['rescan_controller', 'rescan']) {
      const path = join(device, f);
      if (existsSync(path)) await writeFile(path, '1');
    }
    return untilGrown(() => blockDeviceBytes(dev, this.#sysfs), minBytes ?? 0, dev, { timeoutMs: this.#timeoutMs, pollMs: this.#pollMs });
  }

  /**
   * The volume's ids after a restart, from the volume_id itself, since this driver's volumes
   * take their id as their UUID (and NGUID).
   */
  #idsOf(volumeId: string): VolumeIds | undefined {
    if (!UUID.test(volumeId)) return undefined;
    const hex = idHex(volumeId);
    return { nguid: hex, uuid: hex, serial: volumeSerial(hex) };
  }
}
