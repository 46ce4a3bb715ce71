/** The Kubernetes CSI driver: Identity, Controller and Node services over gRPC. */
export {
  attacherFor, DpuAttacher, DpuBridgeAttacher, dpuResourceId, HostDiskAttacher, KernelNvmeAttacher, NODE_ROLES, UnimplementedAttacher, type AttacherOptions, type AttachOptions,
  type DpuAttacherOptions, type DpuBridgeAttacherOptions, type HostFunction, type HostDiskAttacherOptions, type KernelNvmeAttacherOptions, type KernelNvmeSystem, type NodeRole, type VolumeAttacher,
} from './attach';
export type { DpuFrontend, DpuSource, ExposedVolume } from './attachers/dpu-frontend';
export { GatewayDpuFrontend, type GatewayDpuFrontendOptions } from './attachers/gateway-frontend';
export { OpiBridgeFrontend } from './attachers/opi-bridge';
export { CsiClient, CsiClientError } from './client';
export { ControllerService, DEFAULT_VOLUME_BYTES, type ControllerServiceOptions } from './controller';
export {
  checkDhchapSecret, DHCHAP_CTRL_SECRET_KEY, DHCHAP_MASTER_SECRET_KEY, DHCHAP_SECRET_KEY, deriveDhchapSecret, dhchapSecretSource,
  dhchapSecretsFor, MIN_MASTER_SECRET_BYTES, type DhchapSecrets, type DhchapSecretSource,
} from './dhchap-secrets';
export { CsiError, GrpcStatus } from './errors';
export {
  NvmfExporter, socketGatewayRpc, VOLUME_MODEL, type AnaState, type CntlidRange, type ExportOptions, type ExportSpec, type GatewayRpc,
  type ListenAddress, type NvmfExporterOptions, type PublishOptions, type VolumeExport, type VolumeExporter,
} from './export';
export {
  CNTLID_SLOT, cntlidRange, GatewayGroup, MAX_GROUP_MEMBERS, parseGatewayMembers, parseListenAddress, rankMembers,
  type GatewayGroupOptions, type GroupMember, type GroupMemberSpec,
} from './gateway-group';
export { GroupAgent, type GroupAgentOptions, type GroupRound, type MemberStatus } from './group-agent';
export {
  checkGroup, compare as compareGroupMembers, type CheckMember, type GroupCheckResult, type GroupFinding, type GroupFindingKind,
  type ListenerView, type MemberView, type NamespaceView, type SubsystemView,
} from './group-check';
export {
  GroupExporter, type AnaMove, type ExportSpecLookup, type GroupExporterOptions, type KnownExport, type ResyncResult,
} from './group-exporter';
export { DRIVER_NAME, IdentityService, type IdentityServiceOptions } from './identity';
export { DhchapKeyDir, hostKeyNames, keyNamePrefix, type HostKeys, type HostSecrets, type KeyFile, type KeyRole } from './key-dir';
export { CsiLogger, REDACTED, redactSecrets } from './log';
export { NodeService, type NodeServiceOptions } from './node';
export type { ExecResult } from './node-system';
export {
  CONNECTION_MODES, DHCHAP_MODES, RDMA_TOPOLOGY_KEY, parsePublishContext, publishContextMap, publishPaths, volumeNqn, volumeSerial, type ConnectionMode,
  type DhchapMode, type PublishContext, type PublishPath,
} from './parameters';
export { LocalPlugin, type LocalPluginOptions } from './plugins/local';
export { MayastorApiError, MayastorUnreachableError } from './plugins/mayastor/errors';
export { MayastorPlugin, type MayastorPluginOptions } from './plugins/mayastor/plugin';
export { MayastorClient, type MayastorClientOptions } from './plugins/mayastor/rest-client';
export type {
  BlockSource, ContentSource, FileBlockSource, NvmfBlockSource, SnapshotRecord, StoragePlugin, VolumeRecord,
} from './plugins/plugin';
export { CONTROLLER_ROLE, CSI_ROLES, CsiRoleError, parseCsiRoles, type CsiRole, type CsiRoleErrorReason, type CsiRoles } from './roles';
export { CsiServer, parseEndpoint, type CsiServerOptions, type RpcHandler, type RpcHandlers } from './server';
export { checkTlsPsk, deriveTlsPsk, TLS_MASTER_SECRET_KEY, TLS_PSK_KEY, tlsPskFor, tlsPskSource, type TlsPskSource } from './tls-secrets';
