/**
 * What the Controller service needs of whatever exports volumes to nodes: one gateway
 * (NvmfExporter, export.ts) or a group of gateways that export every volume alike
 * (GroupExporter, group-exporter.ts). Every method is idempotent.
 */
import type { HostKeys } from './key-dir';
import type { PublishContext, Transport } from './parameters';
import type { BlockSource } from './plugins/plugin';

export interface ExportSpec {
  volumeId: string;
  uuid: string;
  source: BlockSource;
  /**
   * The volume requires NVMe/TCP TLS: it is exported on the gateway's secure-channel listener
   * (its TLS address) only, and each host is allowed with its PSK (ExportOptions.keys.psk).
   */
  tls?: boolean;
}

export interface ExportOptions {
  /**
   * The host must authenticate with these keys (DH-HMAC-CHAP), or connect over TLS with this
   * PSK, or both: their files are added to the gateway's keyring and the host allowed with
   * them; the host's other keys of the volume are taken off the keyring. Without them, the
   * host is allowed as it is.
   */
  keys?: HostKeys;
}

export interface VolumeExporter {
  /** Whether volumes can be exported over RDMA (every gateway has an RDMA address). */
  readonly hasRdma: boolean;
  /** Exports the volume to `hostnqn` over `transport`; resolves with what the node needs to connect. */
  publish(spec: ExportSpec, hostnqn: string, transport: Transport, options?: ExportOptions): Promise<PublishContext>;
  /**
   * Takes `hostnqn` off the volume, then its keys off the gateway's keyring; resolves true when
   * no one is served the volume any more.
   */
  unpublish(volumeId: string, hostnqn: string): Promise<boolean>;
  /** Takes the volume's export down, whoever it still allows, and every key of it off the keyring. */
  unexport(volumeId: string): Promise<void>;
  /** The nodes (host NQNs) each exported volume is published to, by volume_id. */
  exports(): Promise<Map<string, string[]>>;
  /** Tells the hosts of an exported volume that it grew. */
  grown(volumeId: string): Promise<void>;
  /** Whether the volume is still served (to anyone): then it may not be deleted. */
  isExported(volumeId: string): Promise<boolean>;
}
