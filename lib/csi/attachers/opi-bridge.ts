/**
 * NVMe-oF mode on the dpu role. The DPU's storage stack connecting to the gateway itself is
 * what the OPI bridge on the DPU does (`rdmagate dpu`), and since the CO calls only the
 * host's node plugin, it is the host that asks for it (DpuBridgeAttacher: --role host
 * --dpu-endpoint). A dpu-role node plugin called for such a volume refuses, naming that.
 */
import { unimplemented } from '../errors';
import type { DpuFrontend, DpuSource, ExposedVolume } from './dpu-frontend';

export class OpiBridgeFrontend implements DpuFrontend {
  async expose(volume: ExposedVolume, _source: DpuSource): Promise<void> {
    throw unimplemented(`connectionMode nvmf (volume ${volume.volumeId}) is staged from the host's node plugin ` +
      '(--role host --dpu-endpoint), which drives this DPU\'s OPI bridge (rdmagate dpu); the dpu role serves connectionMode aio');
  }

  async remove(_volumeId: string): Promise<void> {
    // This frontend exposes nothing: nothing to take back.
  }

  async exposed(_volumeId: string): Promise<boolean> {
    return false;
  }
}
