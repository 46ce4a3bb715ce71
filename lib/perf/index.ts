/**
 * `rdmagate perf`, fio-like, as a library: perfOptions() checks the options, runPerf() runs
 * them against a remote subsystem (or a local target it starts) and resolves with the
 * report, which formatNormal() and fioJson() print as the command does.
 * @module
 */
export { runPerf, type PerfHooks } from './run';
export { MULTIPATH_POLICIES, MULTIPATH_SELECTORS, perfOptions, READ_WRITE, type LocalBdev, type MultipathPolicyName, type MultipathSelectorName, type PerfEngineName, type PerfOptions,
  type PerfOptionsInput, type PerfPath, type PerfTarget, type ReadWrite } from './options';
export { cpuPerMillion, fioJson, formatNormal, PERCENTILES, type FioDirection, type FioJob, type FioLatency, type FioPath, type PerfJson,
  type PerfReport } from './report';
export { ProgressLine, type PerfProgress } from './progress';
export { PerfQueueFullError, PerfVerifyError } from './errors';
export { LatencyHistogram } from './histogram';
export type { TcpRoundTrip } from '../native';
export { tcpRoundTrip } from './native-engine';
export type { DirectionStats } from './engine';
export type { VerifyFailure } from './verify';
