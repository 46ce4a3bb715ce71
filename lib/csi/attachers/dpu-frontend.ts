/**
 * The DPU's host-facing side: what puts a volume in front of the host as a namespace of
 * the NVMe function the DPU emulates for it. One implementation per connection mode:
 * `aio` exposes a block device the DPU already has (GatewayDpuFrontend), `nvmf` has the
 * DPU's storage stack reach the gateway itself (OpiBridgeFrontend: staged from the host's
 * node plugin instead, through the DPU's OPI bridge).
 */
import type { PublishContext } from '../parameters';

/** What the host will know the volume's namespace by. */
export interface ExposedVolume {
  volumeId: string;
  /** 32 lower-case hex digits. */
  nguid: string;
  uuid: string;
  /** For frontends with one device per volume (virtio-blk), whose serial the host matches. */
  serial?: string;
}

/**
 * Where the DPU gets the data from: a local block device, or the gateway's subsystem to connect
 * to (over NVMe/TCP with TLS, with `psk`, where the volume requires it).
 */
export type DpuSource = { kind: 'block'; device: string } | { kind: 'nvmf'; ctx: PublishContext; psk?: string };

export interface DpuFrontend {
  /** Throws (a CsiError) when the frontend cannot expose anything: part of the node's Probe. */
  probe?(): Promise<void>;
  /** Exposes the volume to the host, unless it is exposed already. */
  expose(volume: ExposedVolume, source: DpuSource): Promise<void>;
  /** Takes the volume away from the host; nothing to do when it is not exposed. */
  remove(volumeId: string): Promise<void>;
  /** The source grew (a rescanned block device): the host is to see the new size. */
  grown?(volumeId: string): Promise<void>;
  exposed(volumeId: string): Promise<boolean>;
}
