/**
 * The native engine (native/perf/perf_engine.cc through native/napi/perf_binding.cc): the
 * I/O loop runs in C++, one thread per job, as spdk_nvme_perf does, so its numbers are
 * the host's and the target's without the JS API in the way.
 *
 * A controller reports I/O completions to the sink it was created with, so the engine
 * needs a controller of its own: connectForNativeEngine() connects one with the engine
 * as its sink. It is an ordinary Controller otherwise, but while a run goes nothing else
 * may submit I/O to it.
 */
import { InvalidArgumentError } from '../errors';
import { native, type NativeDirection, type NativeJobResult, type NativePerfEngine, type NativePerfResult,
  type TcpRoundTrip } from '../native';
import { Controller } from '../nvmf/host/controller';
import { ensureDispatcher } from '../nvmf/host/dispatcher';
import { connectOptions, type ConnectOptions } from '../nvmf/host/options';
import { errorFromStatus } from '../nvmf/host/status';
import type { DirectionStats, EnginePlan, EngineResult, EngineRun } from './engine';
import { PerfQueueFullError } from './errors';
import { LatencyHistogram } from './histogram';

/** native/perf/perf_engine.h: kHostStatusBase + 0x100. */
const STATUS_SUBMIT_RING_FULL = 0x10100;
const OP_READ = 0x02;

/**
 * Times `roundTrips` exchanges of `requestBytes` out and `responseBytes` back over loopback
 * TCP between two busy-polling native threads, as a reactor pair would, with no NVMe.
 */
export function tcpRoundTrip(roundTrips: number, requestBytes: number, responseBytes: number): Promise<TcpRoundTrip> {
  return native.tcpRoundTrip(roundTrips, requestBytes, responseBytes);
}

/** connect(), with the native engine between the controller and JS. */
export async function connectForNativeEngine(options: ConnectOptions): Promise<{ controller: Controller; engine: NativePerfEngine }> {
  const o = connectOptions(options);
  if (o.polling !== 'reactor') throw new InvalidArgumentError("the native engine runs in the host's reactors: polling must be 'reactor'");
  ensureDispatcher();
  const { id, handle, engine } = native.perfConnect(o);
  const controller = Controller.create(id, handle, o);
  await controller.ready();
  return { controller, engine };
}

function direction(jobs: NativeJobResult[], pick: (j: NativeJobResult) => NativeDirection, runtimeNs: number): DirectionStats {
  const latency = new LatencyHistogram();
  let ios = 0;
  let bytes = 0;
  for (const j of jobs) {
    const d = pick(j);
    ios += d.ios;
    bytes += d.bytes;
    latency.add(LatencyHistogram.fromNative(d.latency));
  }
  return { ios, bytes, runtimeNs, latency };
}

function result(r: NativePerfResult, plan: EnginePlan): EngineResult {
  for (const [i, j] of r.jobs.entries()) {
    if (!j.failed) continue;
    if (j.status === STATUS_SUBMIT_RING_FULL) {
      throw new PerfQueueFullError(`perf job ${i}: iodepth ${plan.iodepth} does not fit the I/O queue`);
    }
    const op = j.opcode === OP_READ ? 'read' : 'write';
    throw errorFromStatus(j.status, `perf job ${i}: ${op} of nsid ${plan.nsid} (LBA ${j.lba}, ${plan.region.ioBlocks} blocks, queue ${i + 1})`);
  }
  return { read: direction(r.jobs, (j) => j.read, r.runtimeNs), write: direction(r.jobs, (j) => j.write, r.runtimeNs) };
}

export function startNativeEngine(engine: NativePerfEngine, plan: EnginePlan): EngineRun {
  const run = engine.run({
    queues: plan.numjobs,
    iodepth: plan.iodepth,
    nsid: plan.nsid,
    blockSize: plan.blockSize,
    ioBlocks: plan.region.ioBlocks,
    firstLba: plan.region.firstLba,
    regionIos: plan.region.units,
    random: plan.random,
    readPercent: plan.readPercent,
    rampNs: Math.round(plan.rampMs * 1e6),
    runNs: Math.round(plan.runMs * 1e6),
    seed: plan.seed,
  });
  // The run blocks a libuv pool thread until it ends, and process.exit() joins that pool:
  // without a stop here, exiting mid-run would wait out the whole runtime.
  const stop = () => run.stop();
  process.once('exit', stop);
  const done = run.done.finally(() => process.removeListener('exit', stop));
  return { done: done.then((r) => result(r, plan)), progress: () => run.progress(), stop };
}
