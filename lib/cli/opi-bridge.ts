/**
 * `rdmagate opi-bridge`: the OPI storage API (gRPC) over a gateway's JSON-RPC socket,
 * its state in a file, until SIGINT or SIGTERM; with --kernel-nvme, also our
 * KernelNvmeService over this machine's kernel NVMe-oF host. Logs JSON lines to stderr.
 */
import { InvalidArgumentError } from '../errors';
import { DEFAULT_SOCKET_PATH, stderrSink } from '../gateway';
import { KernelNvmeAttacher } from '../csi/attach';
import { socketGatewayRpc } from '../csi/export';
import { DEFAULT_OPI_LISTEN, DEFAULT_OPI_STATE_PATH, OpiBridge } from '../opi';
import { logLevelFlag, parseArgs, stringFlags } from './args';

export const OPI_BRIDGE_USAGE = `  opi-bridge [--listen ADDR:PORT] [--gateway-socket PATH] [--state PATH] [--kernel-nvme] [--log-level debug|info|warn|error]
      the OPI storage API (opi_api.storage.v1: NVMe-oF and AIO back ends, NVMe front end) on gRPC
      ADDR:PORT (default ${DEFAULT_OPI_LISTEN}), driving the gateway on PATH (default ${DEFAULT_SOCKET_PATH});
      its resources are kept in --state (default ${DEFAULT_OPI_STATE_PATH}) and re-applied at start;
      --kernel-nvme also serves rdmagate.dpu.v1.KernelNvmeService (this machine's kernel NVMe-oF host, for AIO mode)`;

/** A gRPC listen address as the bridge binds it: ADDR:PORT, [IPv6]:PORT or unix:/path. */
export function listenAddress(value: string, what: string): string {
  if (!/^(unix:\/.+|\[[0-9a-fA-F:.]+\]:\d{1,5}|[^:\s]+:\d{1,5})$/.test(value)) {
    throw new InvalidArgumentError(`${what} must be ADDR:PORT ([IPv6]:PORT) or unix:/path, got '${value}'`);
  }
  return value;
}

export async function runOpiBridge(argv: string[]): Promise<number> {
  const args = parseArgs(argv, [{ name: 'listen' }, { name: 'gateway-socket' }, { name: 'state' }, { name: 'log-level' },
    { name: 'kernel-nvme', boolean: true }]);
  if (args.positionals.length > 0) throw new InvalidArgumentError(`unexpected argument '${args.positionals[0]}'`);
  const flag = stringFlags(args);
  const level = logLevelFlag(flag('log-level'));
  const listen = listenAddress(flag('listen') ?? DEFAULT_OPI_LISTEN, '--listen');
  const bridge = new OpiBridge({
    rpc: socketGatewayRpc(flag('gateway-socket') ?? DEFAULT_SOCKET_PATH),
    statePath: flag('state') ?? DEFAULT_OPI_STATE_PATH,
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
