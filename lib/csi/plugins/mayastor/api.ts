/**
 * The shapes of the Mayastor control plane's REST API v0 that the plugin uses, with the
 * API's own field names. Only the fields we read or send are typed; the rest of each
 * object is there at run time and ignored. Optional fields are those the API may leave out.
 */

/** The error body of every 4XX and 5XX answer. */
export interface RestJsonError {
  kind: RestErrorKind;
  details: string;
  message: string;
}

export type RestErrorKind =
  | 'Timeout' | 'Deserialize' | 'Internal' | 'InvalidArgument' | 'DeadlineExceeded' | 'NotFound' | 'AlreadyExists'
  | 'PermissionDenied' | 'ResourceExhausted' | 'FailedPrecondition' | 'NotShared' | 'NotPublished' | 'AlreadyPublished'
  | 'AlreadyShared' | 'Aborted' | 'OutOfRange' | 'Unimplemented' | 'Unavailable' | 'Unauthenticated' | 'Unauthorized'
  | 'Conflict' | 'FailedPersist' | 'Deleting' | 'InUse' | 'CapacityLimitExceeded' | 'NotAcceptable';

export interface VolumePolicy {
  self_heal: boolean;
}

/** PUT /volumes/{volume_id} and PUT /snapshots/{snapshot_id}/volumes/{volume_id}. */
export interface CreateVolumeBody {
  policy: VolumePolicy;
  replicas: number;
  size: number;
  thin: boolean;
  labels?: Record<string, string>;
  max_snapshots?: number;
}

/** PUT /volumes/{volume_id}/size. */
export interface ResizeVolumeBody {
  size: number;
}

/** PUT /volumes/{volume_id}/target. */
export interface PublishVolumeBody {
  publish_context: Record<string, string>;
  protocol: 'nvmf' | 'iscsi';
  reuse_existing?: boolean;
  node?: string;
  frontend_node?: string;
  republish?: boolean;
}

export type SpecStatus = 'Creating' | 'Created' | 'Deleting' | 'Deleted';

export interface VolumeSpec {
  uuid: string;
  size: number;
  num_replicas: number;
  status: SpecStatus;
  thin: boolean;
  policy: VolumePolicy;
  num_snapshots: number;
  labels?: Record<string, string>;
  /** Present while the volume is published. */
  target?: { node: string; protocol?: 'nvmf' | 'iscsi' };
  content_source?: { snapshot: { snapshot: string; volume: string } };
}

/** The nexus that serves a published volume. */
export interface Nexus {
  uuid: string;
  node: string;
  /** nvmf://host:port/nqn; missing and '' both mean "not shared". */
  deviceUri: string;
  protocol: 'none' | 'nvmf' | 'iscsi' | 'nbd';
  size: number;
  state: string;
}

export interface VolumeState {
  uuid: string;
  size: number;
  status: 'Unknown' | 'Online' | 'Degraded' | 'Faulted' | 'Shutdown';
  target?: Nexus;
}

export interface Volume {
  spec: VolumeSpec;
  state: VolumeState;
}

/** GET /volumes: one page; next_token is absent on the last. */
export interface Volumes {
  entries: Volume[];
  next_token?: number;
}

export interface PoolState {
  id: string;
  node: string;
  capacity: number;
  used: number;
  status: 'Unknown' | 'Online' | 'Degraded' | 'Faulted';
  committed?: number;
}

/** A pool has a spec, a state, or both (a pool whose node is down has no state). */
export interface Pool {
  id: string;
  spec?: { id: string; node: string; status: SpecStatus };
  state?: PoolState;
}

export interface VolumeSnapshot {
  definition: {
    metadata: {
      status: SpecStatus;
      /** RFC 3339. */
      timestamp?: string;
      /** The source volume's size when the snapshot was taken. */
      size: number;
      spec_size: number;
      num_restores: number;
    };
    spec: { uuid: string; source_volume: string };
  };
  state: {
    uuid: string;
    source_volume: string;
    allocated_size: number;
    timestamp?: string;
    ready_as_source: boolean;
  };
}

export interface VolumeSnapshots {
  entries: VolumeSnapshot[];
  next_token?: number;
}
