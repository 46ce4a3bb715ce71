/**
 * One perf run: start the local target when asked, connect (one controller, or a multipath
 * one over several paths), work out the plan from the options and what the controller
 * granted, run an engine, and measure the process's CPU over the counted window (after
 * ramp_time) against the I/Os completed in it.
 */
import { randomInt } from 'node:crypto';
import { InvalidArgumentError } from '../errors';
import { connect, connectMultipath, SPDK_MULTIPATH_POLICIES, SPDK_MULTIPATH_SELECTORS, type ConnectOptions, type Controller, type MultipathController,
  type NamespaceIdentity } from '../nvmf/host';
import type { EnginePlan, EngineResult, EngineRun } from './engine';
import { PerfVerifyError } from './errors';
import { startJsEngine } from './js-engine';
import { defaultLocalBytes, startLocalTarget, type LocalTarget } from './local-target';
import { connectForNativeEngine, startNativeEngine } from './native-engine';
import type { PerfEngineName, PerfOptions } from './options';
import type { PerfProgress } from './progress';
import type { PerfReport } from './report';

export interface PerfHooks {
  /** About once a second while the run goes. */
  onProgress?(p: PerfProgress): void;
  /** Aborting ends the run early; what was counted is reported. */
  signal?: AbortSignal;
}

const PROGRESS_MS = 1000;
const MIN_QUEUE_SIZE = 128;
const MAX_QUEUE_SIZE = 1024;

interface Sample {
  ms: number;
  cpu: NodeJS.CpuUsage;
  ctx: number;
  ios: number;
}

function sample(run: EngineRun): Sample {
  const ru = process.resourceUsage();
  return {
    ms: performance.now(),
    cpu: process.cpuUsage(),
    ctx: ru.voluntaryContextSwitches + ru.involuntaryContextSwitches,
    ios: run.progress().ios,
  };
}

/** What plan() reads of a controller, single-path or multipath. */
interface PlanController {
  readonly subnqn: string;
  readonly namespaces: readonly NamespaceIdentity[];
  readonly maxTransfer: number;
  readonly queueSize: number;
  readonly queuePairs: readonly unknown[];
}

/** The run in the namespace's terms; every mismatch between the options and the controller is an error here. */
function plan(o: PerfOptions, controller: PlanController, seed: number): EnginePlan {
  const where = controller.subnqn;
  const ns = controller.namespaces.find((n) => n.nsid === o.nsid);
  if (!ns) throw new InvalidArgumentError(`namespace ${o.nsid} is not active on ${where}`);
  const bsz = ns.blockSize;
  if (o.bs % bsz !== 0) throw new InvalidArgumentError(`--bs ${o.bs} is not a multiple of the namespace's ${bsz}-byte blocks`);
  if (o.offset % bsz !== 0) throw new InvalidArgumentError(`--offset ${o.offset} is not a multiple of the namespace's ${bsz}-byte blocks`);
  const nsBytes = ns.blocks * bsz;
  const size = o.size ?? nsBytes - o.offset;
  if (o.offset + size > nsBytes) {
    throw new InvalidArgumentError(`--offset ${o.offset} + --size ${size} exceed namespace ${o.nsid} (${nsBytes} bytes)`);
  }
  const units = Math.floor(size / o.bs);
  if (units < 1) throw new InvalidArgumentError(`no whole I/O of --bs ${o.bs} fits between --offset and the end of the region`);
  if (controller.maxTransfer > 0 && o.bs > controller.maxTransfer) {
    throw new InvalidArgumentError(`--bs ${o.bs} exceeds the controller's largest transfer (MDTS) of ${controller.maxTransfer} bytes`);
  }
  if (o.numjobs > controller.queuePairs.length) {
    throw new InvalidArgumentError(`--numjobs ${o.numjobs} needs as many I/O queues; ${where} granted ${controller.queuePairs.length}`);
  }
  if (o.iodepth > controller.queueSize) {
    throw new InvalidArgumentError(`--iodepth ${o.iodepth} exceeds the I/O queue size of ${controller.queueSize} that ${where} allows`);
  }
  return {
    nsid: o.nsid,
    blockSize: bsz,
    bs: o.bs,
    iodepth: o.iodepth,
    numjobs: o.numjobs,
    random: o.random,
    readPercent: o.readPercent,
    region: { firstLba: o.offset / bsz, ioBlocks: o.bs / bsz, units },
    rampMs: o.verify ? 0 : o.rampTimeS * 1000,
    runMs: o.runtimeS * 1000,
    seed,
    verify: o.verify !== undefined,
  };
}

/** Runs the engine, with progress, abort, and CPU samples at the end of the ramp and at the end. */
async function measure(run: EngineRun, p: EnginePlan, hooks: PerfHooks): Promise<{ result: EngineResult; cpu: PerfReport['cpu'] }> {
  const startMs = performance.now();
  let base = sample(run);
  const ramp = p.rampMs > 0 ? setTimeout(() => { base = sample(run); }, p.rampMs) : undefined;
  let last = { ms: startMs, ios: 0, bytes: 0 };
  const ticker = hooks.onProgress && setInterval(() => {
    const now = { ms: performance.now(), ...run.progress() };
    const s = (now.ms - last.ms) / 1000;
    hooks.onProgress?.({
      elapsedS: (now.ms - startMs) / 1000,
      totalS: (p.rampMs + p.runMs) / 1000,
      iops: s > 0 ? (now.ios - last.ios) / s : 0,
      bytesPerS: s > 0 ? (now.bytes - last.bytes) / s : 0,
    });
    last = now;
  }, PROGRESS_MS);
  const stop = () => run.stop();
  hooks.signal?.addEventListener('abort', stop);
  if (hooks.signal?.aborted) stop();
  try {
    const result = await run.done;
    const end = sample(run);
    return {
      result,
      cpu: {
        userS: (end.cpu.user - base.cpu.user) / 1e6,
        systemS: (end.cpu.system - base.cpu.system) / 1e6,
        wallS: (end.ms - base.ms) / 1000,
        ctx: end.ctx - base.ctx,
        ios: end.ios - base.ios,
      },
    };
  } finally {
    clearTimeout(ramp);
    clearInterval(ticker);
    hooks.signal?.removeEventListener('abort', stop);
  }
}

/**
 * Runs `rdmagate perf`. Rejects with InvalidArgumentError when the options do not fit the
 * namespace or controller, with the host's typed errors when connecting or an I/O fails,
 * and with PerfVerifyError (which carries the report) when --verify finds bad blocks.
 */
export async function runPerf(o: PerfOptions, hooks: PerfHooks = {}): Promise<PerfReport> {
  const multipath = o.target.kind === 'remote' && o.target.paths
    ? { paths: o.target.paths, policy: o.target.multipathPolicy ?? 'active_passive', selector: o.target.multipathSelector } : undefined;
  // The host's multipath runs in JS over its paths' queues: the native engine cannot drive it.
  const engine: PerfEngineName = o.verify || multipath ? 'js' : o.engine;
  const queueSize = Math.min(MAX_QUEUE_SIZE, Math.max(MIN_QUEUE_SIZE, o.iodepth));
  let local: LocalTarget | undefined;
  let where: { traddr: string; trsvcid: number; subnqn: string };
  if (o.target.kind === 'local') {
    local = startLocalTarget({
      bdev: o.target.bdev, reactors: o.target.reactors, bs: o.bs, queueDepth: queueSize, queues: o.numjobs,
      bytes: o.offset + (o.size ?? defaultLocalBytes(o.target.bdev)),
    });
    where = local;
  } else {
    where = o.target;
  }
  let report: PerfReport;
  try {
    const options: ConnectOptions = {
      transport: o.target.kind === 'remote' ? o.target.transport : 'tcp',
      traddr: where.traddr, trsvcid: where.trsvcid, subnqn: where.subnqn,
      nrIoQueues: o.numjobs, queueSize, reactors: o.hostReactors, recvPipe: o.recvPipe,
      ...(o.target.kind === 'remote' ? { dhchapKey: o.target.dhchapKey, dhchapCtrlrKey: o.target.dhchapCtrlrKey, psk: o.target.psk } : {}),
      // Reads then complete with their last C2HData PDU (its SUCCESS flag): one PDU per read
      // instead of two. Every target that lists the option in its discovery log takes it.
      disableSqFlow: true,
    };
    let controller: Controller | MultipathController;
    let start: (p: EnginePlan) => EngineRun;
    let mp: MultipathController | undefined;
    if (multipath) {
      const m = await connectMultipath({
        paths: multipath.paths.map((p) => ({ ...options, polling: o.polling, traddr: p.traddr, trsvcid: p.trsvcid })),
        policy: multipath.selector ? SPDK_MULTIPATH_SELECTORS[multipath.selector] : SPDK_MULTIPATH_POLICIES[multipath.policy],
      });
      mp = m;
      controller = m;
      start = (p) => startJsEngine(m, p);
    } else if (engine === 'native') {
      const c = await connectForNativeEngine(options);
      controller = c.controller;
      start = (p) => startNativeEngine(c.engine, p);
    } else {
      const c = await connect({ ...options, polling: o.polling });
      controller = c;
      start = (p) => startJsEngine(c, p);
    }
    try {
      const p = plan(o, controller, randomInt(1, 2 ** 32 - 1));
      const { result, cpu } = await measure(start(p), p, hooks);
      report = {
        options: withoutSecrets(o),
        engine,
        fallback: engine === o.engine ? undefined : o.verify ? '--verify runs on the js engine' : 'multipath runs on the js engine',
        target: {
          transport: 'tcp', traddr: where.traddr, trsvcid: where.trsvcid, subnqn: where.subnqn, nsid: o.nsid,
          local: o.target.kind === 'local' ? { bdev: o.target.bdev, reactors: o.target.reactors } : undefined,
          // Each path's state, failovers and ANA states as the run leaves them.
          ...(mp && multipath ? { multipath: { policy: multipath.policy, ...(multipath.selector ? { selector: multipath.selector } : {}),
            paths: mp.paths() } } : {}),
        },
        hostReactors: engine === 'js' && o.polling === 'event-loop' ? 0 : o.hostReactors,
        read: result.read,
        write: result.write,
        cpu,
        verify: result.verify && { blocks: result.verify.blocks, bad: result.verify.bad, failures: [...result.verify.failures] },
      };
    } finally {
      await controller.close();
    }
  } finally {
    await local?.close();
  }
  if (report.verify && report.verify.bad > 0) {
    throw new PerfVerifyError(report, report.verify.bad, report.verify.blocks, report.verify.failures);
  }
  return report;
}

/** The options as a report carries them: a remote target's DH-HMAC-CHAP secrets and TLS PSK left out, so that no printout holds them. */
function withoutSecrets(o: PerfOptions): PerfOptions {
  if (o.target.kind !== 'remote') return o;
  const { dhchapKey: _key, dhchapCtrlrKey: _ctrlrKey, psk: _psk, ...target } = o.target;
  return { ...o, target };
}
