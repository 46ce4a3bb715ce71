/**
 * rdmagate: registered buffers, RDMA verbs, the NVMe-oF target and host, the gateway, and the
 * CSI driver, OPI bridge, DPU and perf tool built on them. Each namespace here is also an entry
 * point of its own (`rdmagate/csi`, `rdmagate/perf`, ...; package.json's `exports`), which
 * loads only what it needs: `rdmagate/errors`, `rdmagate/jsonrpc` and `rdmagate/csi` load
 * without the native addon.
 * @module rdmagate
 */
export * from './errors';
export * from './buffers';
export * as rdma from './rdma';
export { RdmaConnection, RdmaListener } from './rdma';
export * from './nvmf';
export * as nvmf from './nvmf';
export * from './gateway';
export * as csi from './csi';
export * as opi from './opi';
export { OpiBridge, opiClient, type OpiBridgeOptions, type OpiClient } from './opi';
export * as dpu from './dpu';
export { Dpu, DpuError, startDpu, type DpuOptions } from './dpu';
export * as perf from './perf';
export { perfOptions, runPerf, type PerfOptions, type PerfOptionsInput, type PerfReport } from './perf';
