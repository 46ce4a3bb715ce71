/**
 * A fake kernel NVMe-oF host for the KernelNvmeService and DPU tests: "connecting" a
 * volume makes a sparse file that stands in for its block device; it records what it
 * was asked, counts connects, and lets a test fail or slow a call, or grow the device.
 */
import { rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VolumeAttacher } from '../../lib/csi';
import { notFound } from '../../lib/csi/errors';
import { volumeIdOfNqn, type ConnectTuning, type PublishContext } from '../../lib/csi/parameters';

export interface FakeConnection {
  ctx: PublishContext;
  tuning: ConnectTuning;
  hostnqn: string;
  device: string;
}

export class FakeKernelAttacher implements VolumeAttacher {
  readonly role = 'default';
  readonly connected = new Map<string, FakeConnection>();
  connects = 0;
  rescans = 0;
  inFlight = 0;
  maxInFlight = 0;
  /** Thrown (once) by the next call of that method. */
  readonly failNext: Partial<Record<'attach' | 'detach' | 'rescan' | 'probe', Error>> = {};
  /** How long attach takes. */
  attachMs = 0;
  /** What rescan grows the device to, and after how long (the kernel rescans in the background). */
  growTo: { bytes: number; afterMs: number } | undefined;

  constructor(private readonly dir: string, private readonly sizeBytes = 1 << 20) {}

  #fail(method: keyof FakeKernelAttacher['failNext']): void {
    const e = this.failNext[method];
    if (e) {
      delete this.failNext[method];
      throw e;
    }
  }

  async probe(): Promise<void> {
    this.#fail('probe');
  }

  async attach(ctx: PublishContext, tuning: ConnectTuning, hostnqn: string): Promise<string> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.attachMs > 0) await new Promise((r) => setTimeout(r, this.attachMs));
      this.#fail('attach');
      const volumeId = volumeIdOfNqn(ctx.subnqn)!;
      const there = this.connected.get(volumeId);
      if (there) return there.device;
      this.connects++;
      const device = join(this.dir, `nvme-${volumeId}.dev`);
      writeFileSync(device, Buffer.alloc(0));
      truncateSync(device, this.sizeBytes);
      this.connected.set(volumeId, { ctx, tuning, hostnqn, device });
      return device;
    } finally {
      this.inFlight--;
    }
  }

  async device(volumeId: string): Promise<string | undefined> {
    return this.connected.get(volumeId)?.device;
  }

  async detach(volumeId: string): Promise<void> {
    this.#fail('detach');
    const c = this.connected.get(volumeId);
    if (!c) return;
    rmSync(c.device, { force: true });
    this.connected.delete(volumeId);
  }

  /** The device grows in the background, `growTo.afterMs` later; with minBytes, rescan answers after that growth, which may fall short. */
  async rescan(volumeId: string, minBytes?: number): Promise<number> {
    this.#fail('rescan');
    this.rescans++;
    const c = this.connected.get(volumeId);
    if (!c) throw notFound(`volume ${volumeId} is not connected`);
    const grow = this.growTo;
    if (grow) {
      const apply = () => truncateSync(c.device, grow.bytes);
      if (minBytes === undefined && grow.afterMs > 0) setTimeout(apply, grow.afterMs);
      else {
        await new Promise((r) => setTimeout(r, grow.afterMs));
        apply();
      }
    }
    return statSync(c.device).size;
  }

}
