/** The Kubernetes CSI driver: Identity, Controller and Node services over gRPC. */
export { attacherFor, KernelNvmeAttacher, NODE_ROLES, UnimplementedAttacher, type NodeRole, type VolumeAttacher } from './attach';
export { CsiClient, CsiClientError } from './client';
export { ControllerService, DEFAULT_VOLUME_BYTES, type ControllerServiceOptions } from './controller';
export { CsiError, GrpcStatus } from './errors';
export { NvmfExporter, socketGatewayRpc, type GatewayRpc, type ListenAddress, type NvmfExporterOptions } from './export';
export { DRIVER_NAME, IdentityService, type IdentityServiceOptions } from './identity';
export { CsiLogger, REDACTED, redactSecrets } from './log';
export { NodeService, type NodeServiceOptions } from './node';
export { RDMA_TOPOLOGY_KEY, volumeNqn, type PublishContext } from './parameters';
export { LocalPlugin, type LocalPluginOptions } from './plugins/local';
export { MayastorApiError, MayastorUnreachableError } from './plugins/mayastor/errors';
export { MayastorPlugin, type MayastorPluginOptions } from './plugins/mayastor/plugin';
export { MayastorClient, type MayastorClientOptions } from './plugins/mayastor/rest-client';
export type {
  BlockSource, ContentSource, FileBlockSource, NvmfBlockSource, SnapshotRecord, StoragePlugin, VolumeRecord,
} from './plugins/plugin';
export { CsiServer, parseEndpoint, type CsiServerOptions, type RpcHandler, type RpcHandlers } from './server';
