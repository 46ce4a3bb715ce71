/**
 * NVMe-oF mode: the DPU's storage stack connects to the gateway itself, through the OPI
 * storage API (opi-api, storage/v1alpha1), with no block device on the DPU in between.
 * The bridge is a later issue; this is its seam, and it refuses rather than pretends.
 *
 * The mapping it is to implement, per volume:
 *   expose   CreateNvmeRemoteController  one per volume, named after it (backend);
 *            CreateNvmePath              transport tcp|rdma, traddr, trsvcid, subnqn from the
 *                                        publish_context, hostnqn: the node's host NQN;
 *            CreateNvmeNamespace         on the host-facing subsystem (frontend), volume
 *                                        reference: the remote controller's namespace 1,
 *                                        nguid and uuid: the volume's (what the host matches);
 *   remove   DeleteNvmeNamespace, DeleteNvmePath, DeleteNvmeRemoteController, each
 *            allowing a missing object (idempotent);
 *   exposed  GetNvmeNamespace on the host-facing subsystem.
 */
import { unimplemented } from '../errors';
import type { DpuFrontend, DpuSource, ExposedVolume } from './dpu-frontend';

export const OPI_BRIDGE_ISSUE = 'the OPI storage API bridge (a later issue than 6)';

export class OpiBridgeFrontend implements DpuFrontend {
  async expose(volume: ExposedVolume, _source: DpuSource): Promise<void> {
    throw unimplemented(`connectionMode nvmf (volume ${volume.volumeId}) needs ${OPI_BRIDGE_ISSUE}, which is not implemented yet; ` +
      'use connectionMode aio');
  }

  async remove(_volumeId: string): Promise<void> {
    // Nothing can have been exposed through a bridge that exposes nothing: nothing to take back.
  }

  async exposed(_volumeId: string): Promise<boolean> {
    return false;
  }
}
