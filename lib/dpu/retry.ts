/**
 * Resources the bridge could not re-apply at start (a storage gateway not reachable yet
 * while the DPU boots, a device not back yet) are tried again, the delay doubling up to a
 * minute, until all are applied or the DPU closes: what a crash-looping pod would have
 * done, without taking down the volumes that did come back.
 */
import type { Logger } from '../log/logger';
import type { OpiBridge, ReconcileReport } from '../opi';

export class ReconcileRetry {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(private readonly bridge: OpiBridge, private readonly log: Logger, private readonly firstMs: number,
    private readonly maxMs = 60_000) {}

  /** Schedules retries when `report` left resources unapplied (none when firstMs is 0). */
  after(report: ReconcileReport): void {
    if (report.failed.length > 0 && this.firstMs > 0) this.#schedule(this.firstMs, report);
  }

  #schedule(ms: number, report: ReconcileReport): void {
    if (this.#stopped) return;
    this.log.warn('dpu: resources not re-applied; trying again', { failed: report.failed.map((f) => f.name), inMs: ms });
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.bridge.reconcile().then(
        (next) => {
          if (next.failed.length === 0) this.log.info('dpu: every recorded resource is applied');
          else this.#schedule(Math.min(ms * 2, this.maxMs), next);
        },
        (e: unknown) => {
          this.log.error('dpu: re-applying failed', { error: (e as Error).message });
          this.#schedule(Math.min(ms * 2, this.maxMs), report);
        },
      ).finally(() => { this.#running = undefined; });
    }, ms);
    this.#timer.unref();
  }

  /** No more retries; waits for one under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}
