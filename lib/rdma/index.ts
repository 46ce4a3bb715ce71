export { available, devices, requireRdma, resources, type RdmaAvailability } from './devices';
export { RdmaConnection, connect, type RdmaConnectOptions, type RdmaConnectionOptions, type RemoteBuffer,
  type TransferRange } from './connection';
export type { RdmaConnectionCounters, RdmaDevice, RdmaPort, RdmaResourceCounts } from '../native';
export { RdmaListener, type RdmaListenOptions } from './listener';
export { wcStatusName } from './wc-status';
