/**
 * The OPI messages as the bridge sends and receives them through @grpc/proto-loader
 * (proto.ts's options): field names as in the .proto, enums by name, int64 as a decimal
 * string when received (a number is accepted when sent), absent messages as null.
 */

/** int64: proto-loader hands them over as decimal strings. */
export type Int64 = number | string;

export type NvmeTransportType = 'NVME_TRANSPORT_TYPE_UNSPECIFIED' | 'NVME_TRANSPORT_TYPE_FC' | 'NVME_TRANSPORT_TYPE_PCIE'
  | 'NVME_TRANSPORT_TYPE_RDMA' | 'NVME_TRANSPORT_TYPE_TCP' | 'NVME_TRANSPORT_TYPE_CUSTOM';
export type NvmeAddressFamily = 'NVME_ADDRESS_FAMILY_UNSPECIFIED' | 'NVME_ADDRESS_FAMILY_IPV4' | 'NVME_ADDRESS_FAMILY_IPV6'
  | 'NVME_ADDRESS_FAMILY_IB' | 'NVME_ADDRESS_FAMILY_FC' | 'NVME_ADDRESS_FAMILY_INTRA_HOST';
export type NvmeMultipath = 'NVME_MULTIPATH_UNSPECIFIED' | 'NVME_MULTIPATH_DISABLE' | 'NVME_MULTIPATH_FAILOVER'
  | 'NVME_MULTIPATH_MULTIPATH';

export interface VolumeStats {
  read_bytes_count: number;
  read_ops_count: number;
  write_bytes_count: number;
  write_ops_count: number;
  unmap_bytes_count: number;
  unmap_ops_count: number;
  read_latency_ticks: number;
  write_latency_ticks: number;
  unmap_latency_ticks: number;
}

export interface StatsResponse {
  stats: VolumeStats;
}

export interface FieldMask {
  paths: string[];
}

export interface TcpController {
  hdgst: boolean;
  ddgst: boolean;
  psk: Uint8Array;
}

export interface NvmeRemoteController {
  name: string;
  multipath: NvmeMultipath;
  io_queues_count: Int64;
  queue_size: Int64;
  tcp: TcpController | null;
}

export interface FabricsPath {
  trsvcid: Int64;
  subnqn: string;
  adrfam: NvmeAddressFamily;
  source_traddr: string;
  source_trsvcid: Int64;
  hostnqn: string;
}

export interface NvmePath {
  name: string;
  trtype: NvmeTransportType;
  traddr: string;
  fabrics: FabricsPath | null;
}

export interface NvmeRemoteNamespace {
  name: string;
  nsid: number;
  nguid: string;
  eui64: Int64;
  uuid: string;
}

export interface AioVolume {
  name: string;
  block_size: Int64;
  blocks_count: Int64;
  uuid: string;
  filename: string;
}

export interface NvmeSubsystemSpec {
  nqn: string;
  serial_number: string;
  model_number: string;
  max_namespaces: Int64;
  hostnqn: string;
  psk: Uint8Array;
}

export interface NvmeSubsystem {
  name: string;
  spec: NvmeSubsystemSpec | null;
  status: { firmware_revision: string; fru_guid: Uint8Array } | null;
}

export interface FabricsEndpoint {
  traddr: string;
  trsvcid: string;
  adrfam: NvmeAddressFamily;
}

export interface PciEndpoint {
  port_id: { value: number } | null;
  physical_function: { value: number } | null;
  virtual_function: { value: number } | null;
}

export interface QosLimit {
  rd_iops_kiops: Int64;
  wr_iops_kiops: Int64;
  rw_iops_kiops: Int64;
  rd_bandwidth_mbs: Int64;
  wr_bandwidth_mbs: Int64;
  rw_bandwidth_mbs: Int64;
}

export interface NvmeControllerSpec {
  nvme_controller_id?: number;
  trtype: NvmeTransportType;
  pcie_id?: PciEndpoint | null;
  fabrics_id?: FabricsEndpoint | null;
  max_nsq: number;
  max_ncq: number;
  sqes: number;
  cqes: number;
  max_namespaces: number;
  min_limit: QosLimit | null;
  max_limit: QosLimit | null;
}

export interface NvmeController {
  name: string;
  spec: NvmeControllerSpec | null;
  status: { active: boolean } | null;
}

export type NamespaceState = 'STATE_UNSPECIFIED' | 'STATE_DISABLED' | 'STATE_ENABLED' | 'STATE_DELETING';
export type NamespaceOperState = 'OPER_STATE_UNSPECIFIED' | 'OPER_STATE_ONLINE' | 'OPER_STATE_OFFLINE';

export interface NvmeNamespaceSpec {
  host_nsid: number;
  nguid: string;
  eui64: Int64;
  uuid: string;
  volume_name_ref: string;
}

export interface NvmeNamespace {
  name: string;
  spec: NvmeNamespaceSpec | null;
  status: { state: NamespaceState; oper_state: NamespaceOperState } | null;
}

/** A List response: the page under the collection's field name, and where the next page starts. */
export type ListResponse<K extends string, T> = { [key in K]: T[] } & { next_page_token: string };

// --- rdmagate.dpu.v1 (opi/rdmagate/kernel_nvme.proto): our extension, the DPU's kernel NVMe-oF host ---

/** google.protobuf.Int32Value: null (absent) is "unset". */
export type Int32Value = { value: number } | null;

export interface KernelNvmeTuning {
  nr_io_queues?: Int32Value;
  ctrl_loss_tmo?: Int32Value;
  keep_alive_tmo?: Int32Value;
  reconnect_delay?: Int32Value;
}

export interface ConnectKernelNvmeRequest {
  volume_id?: string;
  /** 'tcp' or 'rdma'. */
  trtype: string;
  traddr: string;
  trsvcid: string;
  subnqn?: string;
  hostnqn: string;
  nguid: string;
  uuid: string;
  tuning?: KernelNvmeTuning | null;
}

export interface DisconnectKernelNvmeRequest {
  volume_id?: string;
  subnqn?: string;
  allow_missing?: boolean;
}

export interface RescanKernelNvmeRequest {
  volume_id?: string;
  subnqn?: string;
  /** Wait until the device holds at least this many bytes (the size the volume grew to). */
  min_size_bytes?: Int64;
}

export interface KernelNvmeDevice {
  volume_id: string;
  /** /dev/nvmeXnY */
  device: string;
  size_bytes: Int64;
}
