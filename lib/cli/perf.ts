/**
 * `rdmagate perf`: a workload against an NVMe-oF namespace, with fio's option names and
 * output, and nvme-cli's flags for the target (or --target local); repeated -a/-s are more
 * paths to it, one multipath controller.
 */
import { fioJson, formatNormal, perfOptions, PerfVerifyError, ProgressLine, runPerf, type PerfReport } from '../perf';
import type { FlagSpec, ParsedArgs } from './args';
import { isJson, OUTPUT_FORMAT_FLAG, type Command } from './command';
import { explainConnectRefusal } from './connect-refusal';
import { DHCHAP_CTRL_SECRET_FLAG, DHCHAP_SECRET_FLAG } from './dhchap-flags';
import { MULTIPATH_POLICY_FLAG, MULTIPATH_SELECTOR_FLAG, pathFlags } from './multipath';
import { TLS_FLAG, TLS_KEY_FLAG, tlsFlags } from './tls-flags';

/** Long names as fio and nvme-cli spell them; `key` is the PerfOptionsInput field. */
const FLAGS: (FlagSpec & { key?: string })[] = [
  { name: 'transport', short: 't', value: 'tcp|rdma', help: 'the target\'s transport (default tcp)' },
  { name: 'traddr', short: 'a', value: 'TRADDR', list: true,
    help: 'the target\'s IP address; repeat -a (with -s) for more paths to the subsystem (multipath, on the js engine)' },
  { name: 'trsvcid', short: 's', value: 'TRSVCID', list: true,
    help: 'the target\'s port (default 4420); repeated: the i-th -s is the i-th -a\'s, one -s is every -a\'s' },
  { name: 'nqn', short: 'n', value: 'NQN', help: 'the subsystem\'s NQN' },
  { ...DHCHAP_SECRET_FLAG, key: 'dhchapKey' },
  { ...DHCHAP_CTRL_SECRET_FLAG, key: 'dhchapCtrlrKey' },
  // Checked together by tlsFlags (below): --tls alone is refused, --tls-key implies TLS.
  TLS_FLAG,
  { ...TLS_KEY_FLAG, key: 'psk' },
  { ...MULTIPATH_POLICY_FLAG, key: 'multipathPolicy' },
  { ...MULTIPATH_SELECTOR_FLAG, key: 'multipathSelector' },
  { name: 'target', value: 'local', help: 'start a target in this process instead, and run over loopback TCP' },
  { name: 'bdev', value: 'null|malloc', help: '--target local: the namespace\'s bdev (default null, malloc with --verify)' },
  { name: 'target-reactors', key: 'targetReactors', value: 'N', help: '--target local: its reactors (default 1)' },
  { name: 'nsid', value: 'N', help: 'the namespace (default 1)' },
  { name: 'rw', value: 'read|write|randread|randwrite|randrw', help: 'the workload (default read)' },
  { name: 'rwmixread', value: 'PCT', help: 'randrw: percent of reads (default 50)' },
  { name: 'bs', value: 'SIZE', help: 'bytes per I/O, k/m suffixes (default 4k)' },
  { name: 'iodepth', value: 'N', help: 'I/Os in flight per job (default 1)' },
  { name: 'numjobs', value: 'N', help: 'jobs, one I/O queue pair each (default 1)' },
  { name: 'runtime', value: 'S', help: 'seconds counted (default 10)' },
  { name: 'ramp_time', key: 'rampTime', value: 'S', help: 'seconds run first and not counted (default 0)' },
  { name: 'size', value: 'BYTES', help: 'bytes of the namespace used, from --offset (default: the rest of it)' },
  { name: 'offset', value: 'BYTES', help: 'where the jobs start (default 0)' },
  { name: 'verify', value: 'crc32c', help: 'write, read back and check each block (runs on the js engine)' },
  { name: 'engine', value: 'native|js', help: 'who drives the I/O (default native)' },
  { name: 'host-reactors', key: 'hostReactors', value: 'N', help: 'the host\'s reactor threads (default 1)' },
  { name: 'recv-pipe', key: 'recvPipe', value: '1|0', help: 'NVMe/TCP: read small PDUs through a staging buffer (default 1)' },
  { name: 'polling', value: 'reactor|event-loop', help: 'the js engine: who polls the queues (default event-loop)' },
];

/** The table perf parses with: the workload's flags and -o. */
export const PERF_FLAGS: FlagSpec[] = [...FLAGS.map(({ key: _key, ...spec }) => spec), OUTPUT_FORMAT_FLAG];

function print(report: PerfReport, json: boolean): void {
  console.log(json ? JSON.stringify(fioJson(report), null, 2) : formatNormal(report));
}

async function runPerfCommand(args: ParsedArgs): Promise<number> {
  const json = isJson(args);
  const input: Record<string, string> = {};
  for (const f of FLAGS) {
    const v = args.flags.get(f.name);
    if (typeof v === 'string') input[f.key ?? f.name] = v;
  }
  // --tls alone (no kernel keyring here) and --tls-key with -t rdma are refused here, with their reasons.
  tlsFlags(args);
  // One path stays as it always was (traddr and trsvcid, checked by perfOptions); more go as paths.
  const paths = pathFlags(args);
  if (paths.length > 1) {
    delete input.traddr;
    delete input.trsvcid;
  }
  const options = perfOptions(paths.length > 1 ? { ...input, paths } : input);
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
    print(report, json);
    return 0;
  } catch (e) {
    progress.clear();
    if (!(e instanceof PerfVerifyError)) throw options.target.kind === 'remote' ? explainConnectRefusal(e, options.target) : e;
    print(e.report, json);
    console.error(`rdmagate: ${e.message} (${e.code})`);
    return 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
  }
}

export const PERF_COMMAND: Command = {
  name: 'perf',
  description: 'an I/O workload against an NVMe-oF namespace, with fio\'s options and JSON output (-o json)\n'
    + 'the target: -t tcp|rdma -a TRADDR [-s TRSVCID] -n NQN [-S SECRET] [--tls-key KEY], as nvme-cli; or --target local\n'
    + 'more paths: -a A -s PORT_A -a B -s PORT_B [--multipath-policy active_active], run on the js engine\n'
    + '--verify writes, reads back and checks; exits 1 when a block does not match',
  flags: PERF_FLAGS,
  run: runPerfCommand,
};
