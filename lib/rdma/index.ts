export { available, devices, requireRdma, resources,
  type RdmaAvailability, type RdmaDevice, type RdmaPort, type RdmaResourceCounts } from './devices';
export { RdmaConnection, connect, type RdmaConnectOptions, type RdmaConnectionCounters,
  type RdmaConnectionOptions, type RemoteBuffer, type TransferRange } from './connection';
export { RdmaListener, type RdmaListenOptions } from './listener';
export { wcStatusName } from './wc-status';
