export { Controller, connect, type ControllerState } from './controller';
export { MultipathController, MultipathQueuePair, connectMultipath, SPDK_MULTIPATH_POLICIES, SPDK_MULTIPATH_SELECTORS, type MultipathOptions, type MultipathPolicy,
  type PathInfo } from './multipath';
export { QueuePair } from './queue-pair';
export { discover, type AddressFamily, type DiscoveryLogEntry, type SubsystemType, type TransportName } from './discovery';
export { supports, type ControllerIdentity, type LbaFormat, type NamespaceIdentity } from './identify';
export type { AnaGroupState, AnaLog } from './ana';
export type { ConnectOptions, DiscoverOptions, HostPolling, HostTransport, IoFailureMode } from './options';
export type { HostCounters } from '../../native';
export { hostResources } from './resources';
