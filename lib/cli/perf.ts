/**
 * `rdmagate perf`: a workload against an NVMe-oF namespace, with fio's option names and
 * output, and nvme-cli's flags for the target (or --target local).
 */
import { InvalidArgumentError } from '../errors';
import { fioJson, formatNormal, perfOptions, PerfVerifyError, ProgressLine, runPerf, type PerfReport } from '../perf';
import type { FlagSpec, ParsedArgs } from './args';

/** Long names as fio and nvme-cli spell them; `key` is the PerfOptionsInput field. */
const FLAGS: (FlagSpec & { key?: string })[] = [
  { name: 'rw' },
  { name: 'rwmixread' },
  { name: 'bs' },
  { name: 'iodepth' },
  { name: 'numjobs' },
  { name: 'runtime' },
  { name: 'ramp_time', key: 'rampTime' },
  { name: 'size' },
  { name: 'offset' },
  { name: 'verify' },
  { name: 'engine' },
  { name: 'target' },
  { name: 'transport', short: 't' },
  { name: 'traddr', short: 'a' },
  { name: 'trsvcid', short: 's' },
  { name: 'nqn', short: 'n' },
  { name: 'nsid' },
  { name: 'bdev' },
  { name: 'target-reactors', key: 'targetReactors' },
  { name: 'host-reactors', key: 'hostReactors' },
  { name: 'recv-pipe', key: 'recvPipe' },
  { name: 'polling' },
];

export const PERF_FLAGS: FlagSpec[] = FLAGS.map(({ name, short }) => (short ? { name, short } : { name }));

export const PERF_USAGE = `  perf (-t tcp -a TRADDR [-s TRSVCID] -n NQN | --target local [--bdev null|malloc] [--target-reactors N])
       [--nsid N] [--rw read|write|randread|randwrite|randrw] [--rwmixread PCT] [--bs 4k] [--iodepth N]
       [--numjobs N] [--runtime S] [--ramp_time S] [--size BYTES] [--offset BYTES] [--verify crc32c]
       [--engine native|js] [--host-reactors N] [--recv-pipe 1|0]
       [--polling reactor|event-loop] [-o|--output-format normal|json]
      an I/O workload (fio's options and JSON output); --verify writes, reads back and checks`;

function print(report: PerfReport, json: boolean): void {
  console.log(json ? JSON.stringify(fioJson(report), null, 2) : formatNormal(report));
}

export async function runPerfCommand(args: ParsedArgs): Promise<number> {
  if (args.positionals.length > 0) throw new InvalidArgumentError(`perf takes no arguments, got '${args.positionals[0]}'`);
  const format = args.flags.get('output-format') ?? 'normal';
  if (format !== 'normal' && format !== 'json') {
    throw new InvalidArgumentError(`--output-format must be normal or json, got ${JSON.stringify(format)}`);
  }
  const input: Record<string, string> = {};
  for (const f of FLAGS) {
    const v = args.flags.get(f.name);
    if (typeof v === 'string') input[f.key ?? f.name] = v;
  }
  const options = perfOptions(input);
  const progress = new ProgressLine(options.numjobs);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  try {
    const report = await runPerf(options, {
      signal: abort.signal,
      onProgress: progress.enabled ? (p) => progress.update(p) : undefined,
    });
    progress.clear();
    print(report, format === 'json');
    return 0;
  } catch (e) {
    progress.clear();
    if (!(e instanceof PerfVerifyError)) throw e;
    print(e.report, format === 'json');
    console.error(`rdmagate: ${e.message} (${e.code})`);
    return 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
  }
}
