/**
 * A storage plugin owns where volume data lives: it creates, deletes, expands, snapshots
 * and clones volumes, keeps its own record of them across restarts, and tells the
 * controller what the gateway should serve for a volume. The controller owns everything
 * CSI: argument checks, idempotency by name, per-volume locking, and the NVMe-oF export.
 *
 * Calls for one volume, snapshot or name never overlap: the controller's locks see to it.
 */
import type { StringMap } from '../types';

/** What a new volume is filled from. */
export type ContentSource = { kind: 'snapshot'; id: string } | { kind: 'volume'; id: string };

export interface VolumeRecord {
  /** The CSI volume_id. */
  id: string;
  /** The CO's name for it (CreateVolumeRequest.name): the idempotency key. */
  name: string;
  capacityBytes: number;
  /** The StorageClass parameters it was created with, after the CO's own keys were dropped. */
  parameters: StringMap;
  /** The volume_context returned at creation and on every listing. */
  context: StringMap;
  source?: ContentSource;
  /** The NVMe namespace UUID the volume is exported with; NGUID is the same 16 bytes. */
  uuid: string;
  /** ISO 8601. */
  createdAt: string;
}

export interface SnapshotRecord {
  id: string;
  name: string;
  sourceVolumeId: string;
  sizeBytes: number;
  /** Milliseconds since the epoch. */
  createdAtMs: number;
  /**
   * How the point-in-time image was made: 'reflink' shares the extents copy-on-write
   * (FICLONE, on XFS with reflink, btrfs, bcachefs), 'copy' read the volume and wrote
   * its 4 KiB blocks that are not zeros, leaving holes elsewhere; 'backend' was cut by the
   * storage system the plugin drives (Mayastor's copy-on-write replica snapshots).
   */
  method: 'reflink' | 'copy' | 'backend';
}

export interface CreateVolumeSpec {
  name: string;
  capacityBytes: number;
  parameters: StringMap;
  context: StringMap;
  /** Thin (sparse) or thick (space reserved up front). */
  thin: boolean;
  source?: ContentSource;
  /** The source volume is exported: as CreateSnapshotSpec.inUse. */
  sourceInUse?: boolean;
  /** Copies of the data the StorageClass asks for (parameter replicas; 1 when absent). */
  replicas?: number;
}

export interface CreateSnapshotSpec {
  name: string;
  sourceVolumeId: string;
  /**
   * The volume is exported and may be written while the snapshot is taken: only an
   * atomic point-in-time method is acceptable.
   */
  inUse: boolean;
}

/**
 * What the gateway serves for a volume: a file or block device on the gateway's machine
 * (a bdev of type 'file'), or a remote NVMe-oF subsystem the gateway attaches as a backend
 * controller (bdev_nvme_attach_controller) and whose namespace 1 it re-exports.
 */
export type BlockSource = FileBlockSource | NvmfBlockSource;

export interface FileBlockSource {
  kind: 'file';
  path: string;
  blockSize: number;
}

export interface NvmfBlockSource {
  kind: 'nvmf';
  /** The gateway attaches backends over TCP only. */
  transport: 'tcp';
  traddr: string;
  trsvcid: string;
  subnqn: string;
}

export interface PoolCapacity {
  availableBytes: number;
  maximumVolumeBytes: number;
  minimumVolumeBytes: number;
}

export interface StoragePlugin {
  /** The StorageClass `plugin` parameter that selects it. */
  readonly name: string;
  /** Sizes are rounded up to a multiple of this. */
  readonly allocationUnit: number;

  /** Reads the persisted state; called once before anything else. */
  open(): Promise<void>;

  /**
   * Plugin-specific checks of the StorageClass parameters that passed the common ones
   * (replicas, thin): throws INVALID_ARGUMENT.
   */
  checkParameters(p: { replicas: number; thin: boolean }): void;

  /** A new volume named spec.name (the controller has checked that no ready one has that name). */
  createVolume(spec: CreateVolumeSpec): Promise<VolumeRecord>;
  /** Idempotent: a volume that is not there is deleted already. */
  deleteVolume(id: string): Promise<void>;
  /** Grows the volume to at least `bytes` (rounded up); never shrinks it. */
  expandVolume(id: string, bytes: number): Promise<VolumeRecord>;
  /** Ready volumes only; a half-made one is not a volume yet. */
  volume(id: string): VolumeRecord | undefined;
  volumeByName(name: string): VolumeRecord | undefined;
  /** Every ready volume, ordered by id (the order pagination relies on). */
  volumes(): VolumeRecord[];

  createSnapshot(spec: CreateSnapshotSpec): Promise<SnapshotRecord>;
  deleteSnapshot(id: string): Promise<void>;
  snapshot(id: string): SnapshotRecord | undefined;
  snapshotByName(name: string): SnapshotRecord | undefined;
  /** Ordered by id. */
  snapshots(): SnapshotRecord[];

  capacity(): Promise<PoolCapacity>;
  /**
   * What the gateway should serve for the volume. May have to ask the storage system to
   * expose the volume first (a Mayastor target), hence async.
   */
  blockSource(id: string): Promise<BlockSource>;
  /**
   * The gateway no longer serves the volume to anyone: undo what blockSource set up
   * outside the gateway. Idempotent; plugins that set up nothing leave it out.
   */
  releaseSource?(id: string): Promise<void>;
}
