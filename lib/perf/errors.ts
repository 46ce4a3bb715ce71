/** Errors of `rdmagate perf` beyond the host's own (NvmeError and friends for failed I/O). */
import { RdmagateError } from '../errors';
import type { PerfReport } from './report';
import type { VerifyFailure } from './verify';

/**
 * --verify found blocks that did not read back as written (ERR_PERF_VERIFY). The run's
 * report is attached, so that its numbers can still be printed.
 */
export class PerfVerifyError extends RdmagateError {
  declare readonly code: 'ERR_PERF_VERIFY';
  readonly report: PerfReport;
  readonly failures: readonly VerifyFailure[];
  constructor(report: PerfReport, bad: number, blocks: number, failures: readonly VerifyFailure[]) {
    const first = failures[0];
    super('ERR_PERF_VERIFY', `verify failed: ${bad} of ${blocks} blocks did not read back as written` +
      (first ? `; first: LBA ${first.lba}: ${first.reason}` : ''));
    this.report = report;
    this.failures = failures;
  }
}

/** The native engine could not keep its commands in the queue (ERR_PERF_QUEUE_FULL). */
export class PerfQueueFullError extends RdmagateError {
  declare readonly code: 'ERR_PERF_QUEUE_FULL';
  constructor(message: string) {
    super('ERR_PERF_QUEUE_FULL', message);
  }
}
