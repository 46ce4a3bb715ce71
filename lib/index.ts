export * from './errors';
export * from './buffers';
export * as rdma from './rdma';
export { RdmaConnection, RdmaListener } from './rdma';
export * from './nvmf';
export * as nvmf from './nvmf';
export * from './gateway';
export * as csi from './csi';
