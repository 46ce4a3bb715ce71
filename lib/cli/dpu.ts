/**
 * `rdmagate dpu`: what runs on a DPU, in one process (lib/dpu): its gateway, the OPI
 * bridge over it with KernelNvmeService, and the host-facing NVMe function, until
 * SIGINT or SIGTERM. Logs JSON lines to stderr; prints one JSON line, `dpu ready`, on
 * stdout once the function is there, for whatever waits on it.
 */
import { DEFAULT_DPU_GATEWAY_SOCKET, DEFAULT_DPU_STATE_DIR, DEFAULT_HOST_FACING, DEFAULT_HOST_SUBSYSTEM_NQN, startDpu } from '../dpu';
import { InvalidArgumentError } from '../errors';
import { Logger, stderrSink } from '../log/logger';
import { DEFAULT_OPI_LISTEN } from '../opi';
import { LOG_LEVELS, logLevelFlag, stringFlags, type FlagSpec, type ParsedArgs } from './args';
import { type Command } from './command';
import { listenAddress } from './opi-bridge';

export const DPU_FLAGS: FlagSpec[] = [
  { name: 'state-dir', value: 'DIR', help: `its state (default ${DEFAULT_DPU_STATE_DIR})` },
  { name: 'gateway-socket', value: 'PATH', help: `its gateway's JSON-RPC socket (default ${DEFAULT_DPU_GATEWAY_SOCKET})` },
  { name: 'opi-listen', value: 'ADDR:PORT', help: `the OPI storage API and rdmagate.dpu.v1.KernelNvmeService on gRPC (default ${DEFAULT_OPI_LISTEN})` },
  { name: 'host-facing', value: 'TRTYPE:ADDR:PORT', help: `the host-facing NVMe function's listener, tcp or rdma (default ${DEFAULT_HOST_FACING})` },
  { name: 'host-subsystem-nqn', value: 'NQN', help: `the host-facing subsystem (default ${DEFAULT_HOST_SUBSYSTEM_NQN})` },
  { name: 'host-nqn', value: 'NQN', help: 'the only host let in to the host-facing subsystem' },
  { name: 'serial', value: 'SN', help: 'the host-facing subsystem\'s serial number' },
  { name: 'rdma-device', value: 'NAME[,NAME]', list: true, help: 'the RDMA devices towards the storage gateways, each checked for an active port' },
  { name: 'reactors', value: 'N', help: 'its target\'s reactor threads' },
  { name: 'log-level', value: LOG_LEVELS.join('|'), help: 'JSON lines to stderr from this level up (default info)' },
];

async function runDpu(args: ParsedArgs): Promise<number> {
  const flag = stringFlags(args);
  const level = logLevelFlag(flag('log-level'));
  const reactors = flag('reactors');
  if (reactors !== undefined && !/^[1-9]\d*$/.test(reactors)) throw new InvalidArgumentError(`--reactors must be a positive number, got '${reactors}'`);
  const rdmaDevices = flag('rdma-device')?.split(',').map((d) => d.trim());
  if (rdmaDevices?.some((d) => d === '')) throw new InvalidArgumentError('--rdma-device must name devices: NAME or NAME,NAME');

  // Taken from the start: a stop asked for while starting is done once started.
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => { stop = resolve; });
  process.once('SIGINT', () => stop());
  process.once('SIGTERM', () => stop());

  const dpu = await startDpu({
    stateDir: flag('state-dir') ?? DEFAULT_DPU_STATE_DIR,
    gatewaySocket: flag('gateway-socket') ?? DEFAULT_DPU_GATEWAY_SOCKET,
    opiListen: listenAddress(flag('opi-listen') ?? DEFAULT_OPI_LISTEN, '--opi-listen'),
    hostFacing: flag('host-facing') ?? DEFAULT_HOST_FACING,
    hostSubsystemNqn: flag('host-subsystem-nqn') ?? DEFAULT_HOST_SUBSYSTEM_NQN,
    ...(flag('host-nqn') === undefined ? {} : { hostNqn: flag('host-nqn') }),
    ...(flag('serial') === undefined ? {} : { serial: flag('serial') }),
    ...(rdmaDevices ? { rdmaDevices } : {}),
    ...(reactors === undefined ? {} : { target: { reactors: Number(reactors) } }),
    log: stderrSink(level),
  });
  const { nqn, trtype, traddr, trsvcid } = dpu.hostFunction;
  new Logger((entry) => process.stdout.write(JSON.stringify(entry) + '\n')).info('dpu ready', {
    gatewaySocket: dpu.gatewaySocket ?? null, opiAddress: dpu.opiAddress,
    hostFunction: { nqn, trtype, traddr, trsvcid }, rdmaDevices: dpu.rdmaDevices.map((d) => d.name),
  });
  await stopped;
  await dpu.close();
  return 0;
}

export const DPU_COMMAND: Command = {
  name: 'dpu',
  description: 'what runs on a DPU: its gateway, the OPI API over it, and the host-facing NVMe function\n'
    + 'all in one process, until SIGINT or SIGTERM; it logs JSON lines to stderr, and prints one JSON line,\n'
    + '`dpu ready`, on stdout once the function is there',
  flags: DPU_FLAGS,
  run: runDpu,
};
