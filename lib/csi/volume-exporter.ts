/**
 * What the Controller service needs of whatever exports volumes to nodes: one gateway
 * (NvmfExporter, export.ts) or a group of gateways that export every volume alike
 * (GroupExporter, group-exporter.ts). Every method is idempotent.
 */
import type { PublishContext, Transport } from './parameters';
import type { BlockSource } from './plugins/plugin';

export interface ExportSpec {
  volumeId: string;
  uuid: string;
  source: BlockSource;
}

export interface VolumeExporter {
  /** Whether volumes can be exported over RDMA (every gateway has an RDMA address). */
  readonly hasRdma: boolean;
  /** Exports the volume to `hostnqn` over `transport`; resolves with what the node needs to connect. */
  publish(spec: ExportSpec, hostnqn: string, transport: Transport): Promise<PublishContext>;
  /** Takes `hostnqn` off the volume; resolves true when no one is served the volume any more. */
  unpublish(volumeId: string, hostnqn: string): Promise<boolean>;
  /** Takes the volume's export down, whoever it still allows. */
  unexport(volumeId: string): Promise<void>;
  /** The nodes (host NQNs) each exported volume is published to, by volume_id. */
  exports(): Promise<Map<string, string[]>>;
  /** Tells the hosts of an exported volume that it grew. */
  grown(volumeId: string): Promise<void>;
  /** Whether the volume is still served (to anyone): then it may not be deleted. */
  isExported(volumeId: string): Promise<boolean>;
}
