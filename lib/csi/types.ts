/**
 * The CSI messages as this driver sees them: decoded by @grpc/proto-loader with keepCase,
 * enums as strings, 64-bit integers as decimal strings (they may exceed 2^53), defaults
 * filled in, and a virtual field naming the member set in each oneof. Only the messages
 * and fields of csi/csi.proto appear here.
 *
 * Responses are written with numbers for int64 fields; protobufjs encodes either.
 */

export type StringMap = Record<string, string>;
/** An int64 as decoded (a decimal string), or as we encode it. */
export type Int64 = string | number;

export type AccessModeName =
  | 'UNKNOWN' | 'SINGLE_NODE_WRITER' | 'SINGLE_NODE_READER_ONLY' | 'MULTI_NODE_READER_ONLY'
  | 'MULTI_NODE_SINGLE_WRITER' | 'MULTI_NODE_MULTI_WRITER' | 'SINGLE_NODE_SINGLE_WRITER' | 'SINGLE_NODE_MULTI_WRITER';

export interface VolumeCapability {
  block?: Record<string, never> | null;
  mount?: { fs_type?: string; mount_flags?: string[]; volume_mount_group?: string } | null;
  access_mode?: { mode?: AccessModeName } | null;
  /** Set on decode: which member of the oneof is present. */
  access_type?: 'block' | 'mount';
}

export interface CapacityRange {
  required_bytes?: Int64;
  limit_bytes?: Int64;
}

export interface VolumeContentSource {
  snapshot?: { snapshot_id: string } | null;
  volume?: { volume_id: string } | null;
  type?: 'snapshot' | 'volume';
}

export interface Topology {
  segments: StringMap;
}

export interface Volume {
  capacity_bytes: Int64;
  volume_id: string;
  volume_context: StringMap;
  content_source?: VolumeContentSource | null;
  accessible_topology: Topology[];
}

export interface Timestamp {
  seconds: Int64;
  nanos: number;
}

export interface Snapshot {
  size_bytes: Int64;
  snapshot_id: string;
  source_volume_id: string;
  creation_time: Timestamp;
  ready_to_use: boolean;
}

export interface VolumeCondition {
  abnormal: boolean;
  message: string;
}

// ---- Identity ----

export type PluginCapability =
  | { service: { type: 'CONTROLLER_SERVICE' | 'VOLUME_ACCESSIBILITY_CONSTRAINTS' } }
  | { volume_expansion: { type: 'ONLINE' | 'OFFLINE' } };

export interface GetPluginInfoResponse {
  name: string;
  vendor_version: string;
  manifest: StringMap;
}

export interface GetPluginCapabilitiesResponse {
  capabilities: PluginCapability[];
}

export interface ProbeResponse {
  ready: { value: boolean };
}

// ---- Controller ----

export interface CreateVolumeRequest {
  name: string;
  capacity_range?: CapacityRange | null;
  volume_capabilities: VolumeCapability[];
  parameters: StringMap;
  secrets: StringMap;
  volume_content_source?: VolumeContentSource | null;
  accessibility_requirements?: { requisite: Topology[]; preferred: Topology[] } | null;
}

export interface CreateVolumeResponse {
  volume: Volume;
}

export interface DeleteVolumeRequest {
  volume_id: string;
  secrets: StringMap;
}

export interface ControllerPublishVolumeRequest {
  volume_id: string;
  node_id: string;
  volume_capability?: VolumeCapability | null;
  readonly: boolean;
  secrets: StringMap;
  volume_context: StringMap;
}

export interface ControllerPublishVolumeResponse {
  publish_context: StringMap;
}

export interface ControllerUnpublishVolumeRequest {
  volume_id: string;
  node_id: string;
  secrets: StringMap;
}

export interface ValidateVolumeCapabilitiesRequest {
  volume_id: string;
  volume_context: StringMap;
  volume_capabilities: VolumeCapability[];
  parameters: StringMap;
  secrets: StringMap;
}

export interface ValidateVolumeCapabilitiesResponse {
  confirmed: { volume_context: StringMap; volume_capabilities: VolumeCapability[]; parameters: StringMap } | null;
  message: string;
}

export interface ListVolumesRequest {
  max_entries: number;
  starting_token: string;
}

export interface ListVolumesResponse {
  entries: { volume: Volume; status: { published_node_ids: string[]; volume_condition?: VolumeCondition | null } }[];
  next_token: string;
}

export interface GetCapacityRequest {
  volume_capabilities: VolumeCapability[];
  parameters: StringMap;
  accessible_topology?: Topology | null;
}

export interface GetCapacityResponse {
  available_capacity: Int64;
  maximum_volume_size: { value: Int64 } | null;
  minimum_volume_size: { value: Int64 } | null;
}

export type ControllerCapabilityName =
  | 'CREATE_DELETE_VOLUME' | 'PUBLISH_UNPUBLISH_VOLUME' | 'LIST_VOLUMES' | 'GET_CAPACITY' | 'CREATE_DELETE_SNAPSHOT'
  | 'LIST_SNAPSHOTS' | 'CLONE_VOLUME' | 'PUBLISH_READONLY' | 'EXPAND_VOLUME' | 'LIST_VOLUMES_PUBLISHED_NODES'
  | 'VOLUME_CONDITION' | 'GET_VOLUME' | 'SINGLE_NODE_MULTI_WRITER' | 'MODIFY_VOLUME';

export interface ControllerGetCapabilitiesResponse {
  capabilities: { rpc: { type: ControllerCapabilityName } }[];
}

export interface CreateSnapshotRequest {
  source_volume_id: string;
  name: string;
  secrets: StringMap;
  parameters: StringMap;
}

export interface CreateSnapshotResponse {
  snapshot: Snapshot;
}

export interface DeleteSnapshotRequest {
  snapshot_id: string;
  secrets: StringMap;
}

export interface ListSnapshotsRequest {
  max_entries: number;
  starting_token: string;
  source_volume_id: string;
  snapshot_id: string;
  secrets: StringMap;
}

export interface ListSnapshotsResponse {
  entries: { snapshot: Snapshot }[];
  next_token: string;
}

export interface ControllerExpandVolumeRequest {
  volume_id: string;
  capacity_range?: CapacityRange | null;
  secrets: StringMap;
  volume_capability?: VolumeCapability | null;
}

export interface ControllerExpandVolumeResponse {
  capacity_bytes: Int64;
  node_expansion_required: boolean;
}

// ---- Node ----

export interface NodeStageVolumeRequest {
  volume_id: string;
  publish_context: StringMap;
  staging_target_path: string;
  volume_capability?: VolumeCapability | null;
  secrets: StringMap;
  volume_context: StringMap;
}

export interface NodeUnstageVolumeRequest {
  volume_id: string;
  staging_target_path: string;
}

export interface NodePublishVolumeRequest {
  volume_id: string;
  publish_context: StringMap;
  staging_target_path: string;
  target_path: string;
  volume_capability?: VolumeCapability | null;
  readonly: boolean;
  secrets: StringMap;
  volume_context: StringMap;
}

export interface NodeUnpublishVolumeRequest {
  volume_id: string;
  target_path: string;
}

export interface NodeGetVolumeStatsRequest {
  volume_id: string;
  volume_path: string;
  staging_target_path: string;
}

export interface VolumeUsage {
  available: Int64;
  total: Int64;
  used: Int64;
  unit: 'BYTES' | 'INODES';
}

export interface NodeGetVolumeStatsResponse {
  usage: VolumeUsage[];
  volume_condition: VolumeCondition;
}

export type NodeCapabilityName =
  | 'STAGE_UNSTAGE_VOLUME' | 'GET_VOLUME_STATS' | 'EXPAND_VOLUME' | 'VOLUME_CONDITION' | 'SINGLE_NODE_MULTI_WRITER'
  | 'VOLUME_MOUNT_GROUP';

export interface NodeGetCapabilitiesResponse {
  capabilities: { rpc: { type: NodeCapabilityName } }[];
}

export interface NodeGetInfoResponse {
  node_id: string;
  max_volumes_per_node: Int64;
  accessible_topology: Topology | null;
}

export interface NodeExpandVolumeRequest {
  volume_id: string;
  volume_path: string;
  capacity_range?: CapacityRange | null;
  staging_target_path: string;
  volume_capability?: VolumeCapability | null;
  secrets: StringMap;
}

export interface NodeExpandVolumeResponse {
  capacity_bytes: Int64;
}

/** An empty response message. */
export type Empty = Record<string, never>;
