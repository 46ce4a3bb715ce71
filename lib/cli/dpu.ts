/**
 * `rdmagate dpu`: what runs on a DPU, in one process (lib/dpu): its gateway, the OPI
 * bridge over it with KernelNvmeService, and the host-facing NVMe function, until
 * SIGINT or SIGTERM. Logs JSON lines to stderr; prints one JSON line, `dpu ready`, on
 * stdout once the function is there, for whatever waits on it.
 */
import { DEFAULT_DPU_GATEWAY_SOCKET, DEFAULT_DPU_STATE_DIR, DEFAULT_HOST_FACING, DEFAULT_HOST_SUBSYSTEM_NQN, startDpu } from '../dpu';
import { InvalidArgumentError } from '../errors';
import { stderrSink } from '../gateway';
import { Logger } from '../gateway/logger';
import { DEFAULT_OPI_LISTEN } from '../opi';
import { logLevelFlag, parseArgs, stringFlags, type FlagSpec } from './args';
import { listenAddress } from './opi-bridge';

export const DPU_USAGE = `  dpu [--state-dir DIR] [--gateway-socket PATH] [--opi-listen ADDR:PORT] [--host-facing TRTYPE:ADDR:PORT]
      [--host-subsystem-nqn NQN] [--host-nqn NQN] [--serial SN] [--rdma-device NAME[,NAME]]... [--reactors N]
      [--log-level debug|info|warn|error]
      what runs on a DPU: its gateway (JSON-RPC on PATH, default ${DEFAULT_DPU_GATEWAY_SOCKET}), the OPI storage
      API over it with rdmagate.dpu.v1.KernelNvmeService (gRPC on ADDR:PORT, default ${DEFAULT_OPI_LISTEN}), and the
      host-facing NVMe function (subsystem NQN, default ${DEFAULT_HOST_SUBSYSTEM_NQN}, on TRTYPE:ADDR:PORT, tcp or
      rdma, default ${DEFAULT_HOST_FACING}; --host-nqn: the only host let in); --rdma-device: the devices towards the
      storage gateways, each checked for an active port; state in DIR (default ${DEFAULT_DPU_STATE_DIR})`;

export const DPU_FLAGS: FlagSpec[] = [{ name: 'state-dir' }, { name: 'gateway-socket' }, { name: 'opi-listen' },
  { name: 'host-facing' }, { name: 'host-subsystem-nqn' }, { name: 'host-nqn' }, { name: 'serial' },
  { name: 'rdma-device', list: true }, { name: 'reactors' }, { name: 'log-level' }];

export async function runDpu(argv: string[]): Promise<number> {
  const args = parseArgs(argv, DPU_FLAGS);
  if (args.positionals.length > 0) throw new InvalidArgumentError(`unexpected argument '${args.positionals[0]}'`);
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
