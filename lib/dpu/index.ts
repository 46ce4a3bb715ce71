/**
 * What runs on a DPU: its gateway, the OPI bridge over it, and the host-facing NVMe function.
 * @module
 */
export { DEFAULT_DPU_GATEWAY_SOCKET, DEFAULT_DPU_STATE_DIR, DEFAULT_HOST_SUBSYSTEM_NQN, Dpu, startDpu, type DpuOptions } from './dpu';
export { DpuError, type DpuErrorCode } from './errors';
export { DEFAULT_HOST_FACING, parseHostFacing, type HostFacing } from './host-facing';
export { HOST_CONTROLLER_ID, HOST_FUNCTION_MAX_NAMESPACES, HOST_FUNCTION_MODEL, HOST_SUBSYSTEM_ID, type HostFunction } from './host-function';
export { checkRdmaDevices } from './rdma-devices';
