/**
 * `rdmagate opi-bridge`: the OPI storage API (gRPC) over a gateway's JSON-RPC socket,
 * its state in a file, until SIGINT or SIGTERM; with --kernel-nvme, also our
 * KernelNvmeService over this machine's kernel NVMe-oF host. Logs JSON lines to stderr.
 */
import { InvalidArgumentError } from '../errors';
import { KernelNvmeAttacher } from '../csi/attach';
import { socketGatewayRpc } from '../csi/export';
import { DEFAULT_SOCKET_PATH } from '../jsonrpc';
import { stderrSink } from '../log/logger';
import { DEFAULT_OPI_LISTEN, DEFAULT_OPI_STATE_PATH, OpiBridge } from '../opi';
import { LOG_LEVELS, logLevelFlag, stringFlags, type FlagSpec, type ParsedArgs } from './args';
import { type Command } from './command';

const OPI_BRIDGE_FLAGS: FlagSpec[] = [
  { name: 'listen', value: 'ADDR:PORT', help: `the gRPC address, ADDR:PORT, [IPv6]:PORT or unix:/path (default ${DEFAULT_OPI_LISTEN})` },
  { name: 'gateway-socket', value: 'PATH', help: `the gateway's JSON-RPC socket (default ${DEFAULT_SOCKET_PATH})` },
  { name: 'state', value: 'PATH', help: `where its resources are kept, and re-applied from at start (default ${DEFAULT_OPI_STATE_PATH})` },
  { name: 'key-dir', value: 'DIR', help: 'where the TLS PSKs of its resources go as 0600 files for the gateway\'s keyring (default: beside --state)' },
  { name: 'kernel-nvme', boolean: true, help: 'also serve rdmagate.dpu.v1.KernelNvmeService: this machine\'s kernel NVMe-oF host, '
    + 'for AIO mode' },
  { name: 'log-level', value: LOG_LEVELS.join('|'), help: 'JSON lines to stderr from this level up (default info)' },
];

/** A gRPC listen address as the bridge binds it: ADDR:PORT, [IPv6]:PORT or unix:/path. */
export function listenAddress(value: string, what: string): string {
  if (!/^(unix:\/.+|\[[0-9a-fA-F:.]+\]:\d{1,5}|[^:\s]+:\d{1,5})$/.test(value)) {
    throw new InvalidArgumentError(`${what} must be ADDR:PORT ([IPv6]:PORT) or unix:/path, got '${value}'`);
  }
  return value;
}

async function runOpiBridge(args: ParsedArgs): Promise<number> {
  const flag = stringFlags(args);
  const level = logLevelFlag(flag('log-level'));
  const listen = listenAddress(flag('listen') ?? DEFAULT_OPI_LISTEN, '--listen');
  const bridge = new OpiBridge({
    rpc: socketGatewayRpc(flag('gateway-socket') ?? DEFAULT_SOCKET_PATH),
    statePath: flag('state') ?? DEFAULT_OPI_STATE_PATH,
    ...(flag('key-dir') !== undefined ? { keyDir: flag('key-dir') } : {}),
    listen,
    log: stderrSink(level),
    ...(args.flags.get('kernel-nvme') === true ? { kernel: new KernelNvmeAttacher() } : {}),
  });
  await bridge.start();
  console.log(`opi-bridge: listening on ${bridge.address}`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await bridge.close();
  return 0;
}

export const OPI_BRIDGE_COMMAND: Command = {
  name: 'opi-bridge',
  description: 'the OPI storage API on gRPC, driving a gateway through its JSON-RPC socket\n'
    + 'opi_api.storage.v1: NVMe-oF and AIO back ends, NVMe front end; its resources re-applied at start\n'
    + 'logs JSON lines to stderr; runs until SIGINT or SIGTERM',
  flags: OPI_BRIDGE_FLAGS,
  run: runOpiBridge,
};
