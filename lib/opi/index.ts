/**
 * The OPI storage API bridge (opi_api.storage.v1) over a DPU's rdmagate gateway, with our
 * KernelNvmeService (rdmagate.dpu.v1) beside it, and a client for both.
 * @module
 */
export { DEFAULT_OPI_LISTEN, DEFAULT_OPI_STATE_PATH, OpiBridge, type OpiBridgeOptions } from './bridge';
export { opiClient, OpiClientError, type KernelNvmeClient, type OpiClient } from './client';
export { OpiError, OpiStatus } from './errors';
export type * from './messages';
export { bridgeServices, EXTENSION_SERVICES, opiServices, OPI_SERVICES, type BridgeServiceName, type ExtensionServiceName,
  type OpiServiceName } from './proto';
export type { ReconcileReport } from './reconcile';
