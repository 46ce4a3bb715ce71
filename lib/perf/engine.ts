/** What the two engines share: the plan they are given and the shape of what they return. */
import type { LatencyHistogram } from './histogram';
import type { VerifyLog } from './verify';
import type { Region } from './workload';

/** The run in the namespace's terms, as run.ts works it out from the options and the controller. */
export interface EnginePlan {
  nsid: number;
  blockSize: number;
  /** Bytes per I/O (a whole number of blocks). */
  bs: number;
  iodepth: number;
  /** Jobs; job i drives I/O queue i. */
  numjobs: number;
  random: boolean;
  readPercent: number;
  /** The namespace region all jobs share (each job takes a slice of it when verifying). */
  region: Region;
  rampMs: number;
  runMs: number;
  seed: number;
  verify: boolean;
}

export interface DirectionStats {
  ios: number;
  bytes: number;
  /** The window these I/Os were counted in. */
  runtimeNs: number;
  /** ns from submission to completion. */
  latency: LatencyHistogram;
}

export interface EngineResult {
  read: DirectionStats;
  write: DirectionStats;
  verify?: VerifyLog;
}

export interface EngineRun {
  readonly done: Promise<EngineResult>;
  /** I/Os completed and bytes moved so far, ramp included. */
  progress(): { ios: number; bytes: number };
  /** Ends the run early; `done` still resolves with what was counted. */
  stop(): void;
}
