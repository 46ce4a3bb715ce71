/**
 * How a node turns a published volume into a local block device: the seam between the
 * CSI node service (staging, mounting, stats, growing file systems) and whatever does the
 * connecting. Node roles, one attacher each (lib/csi/attachers/):
 *
 *   default  the Linux kernel's NVMe-oF host, driven with nvme-cli (KernelNvmeAttacher);
 *   dpu      a DPU that connects to the gateway and exposes the volume to the host it sits
 *            in, as a namespace of its host-facing NVMe function (DpuAttacher): it neither
 *            formats nor mounts, the file system belongs to the host;
 *   host     the machine behind a DPU: it connects nothing, it waits for the disk that its
 *            DPU exposes, found by NGUID, UUID or serial (HostDiskAttacher), and formats
 *            and mounts it as the default role does; with its DPU's OPI bridge, it first
 *            asks the DPU to attach the volume (DpuBridgeAttacher).
 */
import { DpuAttacher, type DpuAttacherOptions } from './attachers/dpu';
import { HostDiskAttacher, type HostDiskAttacherOptions } from './attachers/host-disk';
import { KernelNvmeAttacher, type KernelNvmeAttacherOptions } from './attachers/kernel-nvme';
import { unimplemented } from './errors';
import type { NodeRole, VolumeAttacher } from './volume-attacher';

export { KernelNvmeAttacher, type KernelNvmeAttacherOptions, type KernelNvmeSystem } from './attachers/kernel-nvme';
export { HostDiskAttacher, type HostDiskAttacherOptions } from './attachers/host-disk';
export { DpuAttacher, type DpuAttacherOptions } from './attachers/dpu';
export { DpuBridgeAttacher, dpuResourceId, type DpuBridgeAttacherOptions, type HostFunction } from './attachers/dpu-bridge';
export { NODE_ROLES, type AttachOptions, type NodeRole, type VolumeAttacher } from './volume-attacher';

/** A role whose attach path is not built: says so for every call that needs a device. */
export class UnimplementedAttacher implements VolumeAttacher {
  constructor(readonly role: NodeRole, private readonly what: string) {}

  async probe(): Promise<void> {
    // The node service itself is up; each volume operation says what is missing.
  }

  attach(): Promise<string> { return Promise.reject(this.#error()); }
  device(): Promise<string | undefined> { return Promise.reject(this.#error()); }
  detach(): Promise<void> { return Promise.reject(this.#error()); }
  rescan(): Promise<number> { return Promise.reject(this.#error()); }

  #error(): Error {
    return unimplemented(`node role ${this.role}: ${this.what} is not implemented in this slice`);
  }
}

export interface AttacherOptions extends KernelNvmeAttacherOptions {
  host?: HostDiskAttacherOptions;
  dpu?: DpuAttacherOptions;
}

export function attacherFor(role: NodeRole, options: AttacherOptions = {}): VolumeAttacher {
  const { host, dpu, ...kernel } = options;
  switch (role) {
    case 'default':
      return new KernelNvmeAttacher(kernel);
    case 'host':
      return new HostDiskAttacher(host);
    case 'dpu':
      return new DpuAttacher({ ...dpu, kernel: dpu?.kernel ?? new KernelNvmeAttacher(kernel) });
  }
}
