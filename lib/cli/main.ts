#!/usr/bin/env node
/** The `rdmagate` command. */
import { RdmagateError } from '../errors';
import { DEFAULT_SOCKET_PATH } from '../gateway';
import * as rdma from '../rdma';
import { parseArgs } from './args';
import { CSI_USAGE, runCsi } from './csi';
import { printDemo, runDemo } from './demo';
import { DPU_USAGE, runDpu } from './dpu';
import { runGateway } from './gateway';
import { NVME_FLAGS, runDiscover, runIdentify } from './nvme';
import { OPI_BRIDGE_USAGE, runOpiBridge } from './opi-bridge';
import { PERF_FLAGS, PERF_USAGE, runPerfCommand } from './perf';
import { runRpc } from './rpc';
import { TARGET_FLAGS, runTarget } from './target';

const USAGE = `usage: rdmagate <command> [options]

commands:
  demo [--address IP] [-o|--output-format normal|json]
      zero-copy buffers and, with an RDMA device, a loopback SEND/WRITE/READ
  devices [-o|--output-format normal|json]
      the RDMA devices of this machine
  target [-t tcp] [-a TRADDR] [-s TRSVCID] [-n NQN] [-r REACTORS] [--size-mib N] [-c CONFIG.json]
      an NVMe-oF target; with no arguments, a 64 MiB RAM namespace on tcp 127.0.0.1:4420
  discover -t tcp -a TRADDR [-s TRSVCID] [-q HOSTNQN] [-o normal|json]
  id-ctrl -t tcp -a TRADDR [-s TRSVCID] -n NQN [-q HOSTNQN] [-o normal|json]
  id-ns -t tcp -a TRADDR [-s TRSVCID] -n NQN [--namespace-id NSID] [-o normal|json]
      nvme-cli's commands, through rdmagate's own NVMe/TCP host
  gateway [-s SOCK] [--config PATH] [--reactors N] [--buffer-pool-bytes B]
      an NVMe-oF target managed by SPDK-style JSON-RPC on a unix socket (default ${DEFAULT_SOCKET_PATH}),
      its config saved to PATH (default /var/lib/rdmagate/config.json) and replayed at start
  rpc [-s SOCK] [-r RETRIES] [-t TIMEOUT_S] METHOD ['{"json":"params"}' | --key value ...]
      one JSON-RPC call to a gateway, as SPDK's rpc.py; --a.b value nests; values parse as JSON when they can
${PERF_USAGE}
${CSI_USAGE}
${OPI_BRIDGE_USAGE}
${DPU_USAGE}
  help`;

async function main(argv: string[]): Promise<number> {
  const [command = 'help', ...rest] = argv;
  // These parse their own arguments: rpc's params are free-form --key value pairs.
  if (command === 'rpc') return runRpc(rest);
  if (command === 'gateway') return runGateway(rest);
  if (command === 'csi') return runCsi(rest);
  if (command === 'opi-bridge') return runOpiBridge(rest);
  if (command === 'dpu') return runDpu(rest);
  const args = parseArgs(rest, [
    { name: 'output-format', short: 'o' },
    ...(command === 'target' ? TARGET_FLAGS : command === 'perf' ? PERF_FLAGS
      : ['discover', 'id-ctrl', 'id-ns'].includes(command) ? NVME_FLAGS : [{ name: 'address', short: 'a' }]),
  ]);
  const json = args.flags.get('output-format') === 'json';
  switch (command) {
    case 'demo': {
      const address = args.flags.get('address');
      const report = await runDemo(typeof address === 'string' ? address : undefined);
      if (json) console.log(JSON.stringify(report, null, 2));
      else printDemo(report);
      return report.rdma.available && (!report.rdma.writeReadOk || !report.rdma.sendRecvOk) ? 1 : 0;
    }
    case 'devices': {
      const devs = rdma.devices();
      if (json) console.log(JSON.stringify(devs, null, 2));
      else if (devs.length === 0) console.log('no RDMA devices');
      else for (const d of devs) {
        console.log(`${d.name}  guid ${d.guid}  ${d.transport}`);
        for (const p of d.ports) console.log(`  port ${p.number}: ${p.state}, ${p.linkLayer}, mtu ${p.activeMtu}, gids ${p.gids.join(' ')}`);
      }
      return 0;
    }
    case 'target':
      return runTarget(args, json);
    case 'perf':
      return runPerfCommand(args);
    case 'discover':
      return runDiscover(args, json);
    case 'id-ctrl':
    case 'id-ns':
      return runIdentify(command, args, json);
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return 0;
    default:
      console.error(`rdmagate: unknown command '${command}'\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    if (e instanceof RdmagateError) console.error(`rdmagate: ${e.message} (${e.code})`);
    else console.error(e);
    process.exitCode = 1;
  },
);
