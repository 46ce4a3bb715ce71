/**
 * The JS engine: the I/O loop in JavaScript over the public QueuePair API, `iodepth`
 * promises in flight per job. It measures what an application using the API gets, so
 * that the native engine's numbers can be read as the API's overhead removed. It also
 * runs --verify: each job writes its slice of the region with BlockPattern data, then
 * reads it back and checks every block.
 */
import { randomFillSync } from 'node:crypto';
import { BufferPool, type IoBuffer } from '../buffers';
import { InvalidArgumentError } from '../errors';
import type { QueuePair } from '../nvmf/host';
import type { DirectionStats, EnginePlan, EngineResult, EngineRun } from './engine';
import { LatencyHistogram } from './histogram';
import { BlockPattern, VerifyLog } from './verify';
import { UnitOrder, Workload, type Region } from './workload';

const PAGE = 4096;
const REGION_TARGET = 2 << 20;

/** What the engine drives: a queue pair's reads and writes (a Controller's, or a MultipathController's, which pick a path each). */
type IoQueue = Pick<QueuePair, 'read' | 'write'>;

/** A controller's I/O queues, job i on queue i: a Controller or a MultipathController. */
export interface IoController {
  readonly queuePairs: readonly IoQueue[];
}

function stats(): DirectionStats {
  return { ios: 0, bytes: 0, runtimeNs: 0, latency: new LatencyHistogram() };
}

/** A pool with exactly one bs-sized buffer per I/O in flight. */
function bufferPool(plan: EnginePlan): BufferPool {
  const chunkSize = Math.ceil(plan.bs / PAGE) * PAGE;
  const regionSize = chunkSize * Math.max(1, Math.floor(REGION_TARGET / chunkSize));
  const needed = chunkSize * plan.iodepth * plan.numjobs;
  return new BufferPool({ chunkSize, regionSize, capacity: Math.ceil(needed / regionSize) * regionSize });
}

class JsRun {
  readonly #controller: IoController;
  readonly #plan: EnginePlan;
  readonly #read = stats();
  readonly #write = stats();
  #ios = 0;
  #bytes = 0;
  #stopping = false;
  #measureAt = 0;
  #endAt = 0;

  constructor(controller: IoController, plan: EnginePlan) {
    this.#controller = controller;
    this.#plan = plan;
  }

  progress(): { ios: number; bytes: number } {
    return { ios: this.#ios, bytes: this.#bytes };
  }

  stop(): void {
    this.#stopping = true;
  }

  async run(): Promise<EngineResult> {
    const plan = this.#plan;
    const queues = this.#controller.queuePairs.slice(0, plan.numjobs);
    const pool = bufferPool(plan);
    const buffers: IoBuffer[] = [];
    try {
      for (let i = 0; i < plan.iodepth * plan.numjobs; i++) buffers.push(pool.acquire());
      const perJob = (j: number) => buffers.slice(j * plan.iodepth, (j + 1) * plan.iodepth);
      if (plan.verify) return await this.#verify(queues, perJob);
      return await this.#timed(queues, perJob);
    } finally {
      for (const b of buffers) b.release();
      pool.close();
    }
  }

  async #timed(queues: readonly IoQueue[], perJob: (j: number) => IoBuffer[]): Promise<EngineResult> {
    const plan = this.#plan;
    const start = performance.now();
    this.#measureAt = start + plan.rampMs;
    this.#endAt = this.#measureAt + plan.runMs;
    const workers = queues.flatMap((qp, j) => {
      const workload = new Workload(plan.region, plan.random, plan.readPercent, plan.seed + j);
      return perJob(j).map((buf) => {
        // Written data is not all zeros, so that nothing on the way can take a shortcut.
        randomFillSync(buf);
        return this.#timedWorker(qp, workload, buf);
      });
    });
    await settleAll(workers, () => this.stop());
    const ns = Math.max(0, Math.min(performance.now(), this.#endAt) - this.#measureAt) * 1e6;
    this.#read.runtimeNs = this.#write.runtimeNs = ns;
    return { read: this.#read, write: this.#write };
  }

  async #timedWorker(qp: IoQueue, workload: Workload, buf: IoBuffer): Promise<void> {
    const { nsid, region: { ioBlocks }, bs } = this.#plan;
    while (!this.#stopping) {
      const lba = workload.nextLba();
      const read = workload.nextIsRead();
      const t0 = performance.now();
      if (read) await qp.read(nsid, lba, ioBlocks, buf);
      else await qp.write(nsid, lba, ioBlocks, buf);
      const t1 = performance.now();
      this.#ios++;
      this.#bytes += bs;
      if (t1 >= this.#endAt) this.#stopping = true;
      else if (t1 >= this.#measureAt) count(read ? this.#read : this.#write, bs, t1 - t0);
    }
  }

  /** Write phase (until each job's slice is written once, or runtime is up), then read-back. */
  async #verify(queues: readonly IoQueue[], perJob: (j: number) => IoBuffer[]): Promise<EngineResult> {
    const plan = this.#plan;
    const slice = Math.floor(plan.region.units / plan.numjobs);
    if (slice === 0) {
      throw new InvalidArgumentError(`--verify gives each job its own part of the region: ${plan.region.units} I/Os of --bs do not go round ${plan.numjobs} jobs`);
    }
    const pattern = new BlockPattern(plan.blockSize, plan.seed);
    const log = new VerifyLog();
    const jobs = queues.map((qp, j) => {
      const region = { firstLba: plan.region.firstLba + j * slice * plan.region.ioBlocks, ioBlocks: plan.region.ioBlocks, units: slice };
      return { qp, buffers: perJob(j), region, order: new UnitOrder(slice, plan.random, plan.seed + j) };
    });

    let start = performance.now();
    this.#endAt = start + plan.runMs;
    await settleAll(jobs.flatMap((job) => job.buffers.map((buf) =>
      this.#phase(job.qp, job.region, job.order, buf, false, (lba) => pattern.fill(buf, lba, job.region.ioBlocks)))),
    () => this.stop());
    this.#write.runtimeNs = (performance.now() - start) * 1e6;

    // Each unit a worker took was written before it took another, so the units written
    // are the first `issued` of the job's order: read back exactly those.
    start = performance.now();
    this.#endAt = Infinity;
    await settleAll(jobs.flatMap((job, j) => {
      const order = new UnitOrder(slice, plan.random, plan.seed + j, job.order.issued);
      return job.buffers.map((buf) =>
        this.#phase(job.qp, job.region, order, buf, true, (lba) => pattern.check(buf, lba, job.region.ioBlocks, log)));
    }), () => this.stop());
    this.#read.runtimeNs = (performance.now() - start) * 1e6;
    return { read: this.#read, write: this.#write, verify: log };
  }

  /** One verify phase of one worker: `data` fills the buffer before a write, or checks it after a read. */
  async #phase(qp: IoQueue, region: Region, order: UnitOrder, buf: IoBuffer, read: boolean,
    data: (lba: number) => void): Promise<void> {
    const { nsid, bs } = this.#plan;
    while (!this.#stopping) {
      const unit = order.next();
      if (unit < 0) break;
      const lba = region.firstLba + unit * region.ioBlocks;
      if (!read) data(lba);
      const t0 = performance.now();
      if (read) await qp.read(nsid, lba, region.ioBlocks, buf);
      else await qp.write(nsid, lba, region.ioBlocks, buf);
      const t1 = performance.now();
      this.#ios++;
      this.#bytes += bs;
      count(read ? this.#read : this.#write, bs, t1 - t0);
      if (read) data(lba);
      if (t1 >= this.#endAt) break;
    }
  }
}

function count(s: DirectionStats, bytes: number, ms: number): void {
  s.ios++;
  s.bytes += bytes;
  s.latency.record(ms * 1e6);
}

/** Waits for every worker; the first failure stops the others and is rethrown once all are done. */
async function settleAll(workers: Promise<void>[], stop: () => void): Promise<void> {
  let failure: unknown;
  await Promise.all(workers.map((w) => w.catch((e: unknown) => {
    failure ??= e;
    stop();
  })));
  if (failure !== undefined) throw failure;
}

export function startJsEngine(controller: IoController, plan: EnginePlan): EngineRun {
  const run = new JsRun(controller, plan);
  return { done: run.run(), progress: () => run.progress(), stop: () => run.stop() };
}
