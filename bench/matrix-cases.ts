/**
 * The matrix's axes and the cells they span: transport x reactors x path x workload. Pure:
 * what exists on this machine (RDMA devices, cores) is passed in.
 */
import type { ReadWrite } from '../lib/perf';

export type Transport = 'tcp' | 'rdma';
export const TRANSPORTS: readonly Transport[] = ['tcp', 'rdma'];

/**
 * direct: host to the target. gateway: host to a gateway that forwards to a backend over
 * loopback TCP. dpu: host to a DPU that attaches the gateway (with its backend, as on the
 * gateway path) over the transport under test and re-exports it to the host over loopback
 * TCP, standing in for the PCIe function a real DPU presents. Each role is a process.
 */
export type PathKind = 'direct' | 'gateway' | 'dpu';
export const PATHS: readonly PathKind[] = ['direct', 'gateway', 'dpu'];

export interface Workload {
  name: string;
  rw: ReadWrite;
  /** fio's size syntax, as perfOptions takes it. */
  bs: string;
  bsBytes: number;
  /** Per job: each reactor gets a job, so a cell keeps reactors x iodepth in flight. */
  iodepth: number;
  /** randrw only. */
  rwmixread?: number;
}

export const LATENCY_WORKLOAD = '4k randread QD1';

export const WORKLOADS: readonly Workload[] = [
  { name: '4k randread QD64', rw: 'randread', bs: '4k', bsBytes: 4096, iodepth: 64 },
  { name: '4k randwrite QD64', rw: 'randwrite', bs: '4k', bsBytes: 4096, iodepth: 64 },
  { name: '4k randrw 70/30 QD64', rw: 'randrw', bs: '4k', bsBytes: 4096, iodepth: 64, rwmixread: 70 },
  { name: '128k read QD16', rw: 'read', bs: '128k', bsBytes: 128 * 1024, iodepth: 16 },
  { name: '128k write QD16', rw: 'write', bs: '128k', bsBytes: 128 * 1024, iodepth: 16 },
  { name: LATENCY_WORKLOAD, rw: 'randread', bs: '4k', bsBytes: 4096, iodepth: 1 },
];

export interface CellSpec {
  transport: Transport;
  /** For the target, the gateway (and its backend), the DPU and the host alike. */
  reactors: number;
  path: PathKind;
  workload: Workload;
}

/** What --only matches against, and what progress lines show: "tcp r2 gateway 4k randread QD64". */
export function cellLabel(c: Pick<CellSpec, 'transport' | 'reactors' | 'path'> & { workload: Pick<Workload, 'name'> }): string {
  return `${c.transport} r${c.reactors} ${c.path} ${c.workload.name}`;
}

/** The column a cell lands in: "tcp r2". */
export function setupLabel(c: Pick<CellSpec, 'transport' | 'reactors'>): string {
  return `${c.transport} r${c.reactors}`;
}

/** 1, 2, 4, ... up to `cores`, and `cores` itself when it is not a power of two. */
export function defaultReactorCounts(cores: number): number[] {
  const counts: number[] = [];
  for (let n = 1; n <= cores; n *= 2) counts.push(n);
  if (counts[counts.length - 1] !== cores && cores > 1) counts.push(cores);
  return counts;
}

/**
 * Every cell, in the order they run: a transport, then a reactor count, then a path, so
 * that one setup (targets and gateway) serves all its workloads. `only` keeps the cells
 * whose label contains it.
 */
export function matrixCells(reactorCounts: readonly number[], only?: string): CellSpec[] {
  const cells: CellSpec[] = [];
  for (const transport of TRANSPORTS) {
    for (const reactors of reactorCounts) {
      for (const path of PATHS) {
        for (const workload of WORKLOADS) cells.push({ transport, reactors, path, workload });
      }
    }
  }
  return only === undefined ? cells : cells.filter((c) => cellLabel(c).includes(only));
}
