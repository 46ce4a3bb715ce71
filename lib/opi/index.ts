/** The OPI storage API bridge (opi_api.storage.v1) over a DPU's rdmagate gateway, and a client for it. */
export { DEFAULT_OPI_LISTEN, DEFAULT_OPI_STATE_PATH, OpiBridge, type OpiBridgeOptions } from './bridge';
export { opiClient, OpiClientError, type OpiClient } from './client';
export { OpiError, OpiStatus } from './errors';
export type * from './messages';
export { opiServices, OPI_SERVICES, type OpiServiceName } from './proto';
export type { ReconcileReport } from './reconcile';
