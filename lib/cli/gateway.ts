/** `rdmagate gateway`: runs a Gateway until SIGINT or SIGTERM, logging JSON lines to stderr. */
import { isIP } from 'node:net';
import { InvalidArgumentError, RdmagateError } from '../errors';
import { DEFAULT_CONFIG_PATH, DEFAULT_SOCKET_PATH, Gateway } from '../gateway';
import { Target } from '../nvmf/target';
import { stringFlags, type FlagSpec, type ParsedArgs } from './args';
import { type Command } from './command';
import { findRdmaAddress } from './demo';

const DEMO_BACKEND_NQN = 'nqn.2026-11.io.rdmagate:demo-backend';
const DEMO_NQN = 'nqn.2026-11.io.rdmagate:gateway';
/** Loopback: metrics say much about the host, so serving them wider is asked for. */
const DEFAULT_METRICS_ADDRESS = '127.0.0.1';

const GATEWAY_FLAGS: FlagSpec[] = [
  { name: 'socket', short: 's', value: 'PATH', help: `its JSON-RPC socket (default ${DEFAULT_SOCKET_PATH})` },
  { name: 'config', value: 'PATH', help: `where its config is saved, and replayed from at start (default ${DEFAULT_CONFIG_PATH}; `
    + 'with --demo, none)' },
  { name: 'reactors', value: 'N', help: 'the target\'s reactor threads' },
  { name: 'buffer-pool-bytes', value: 'BYTES', help: 'the target\'s I/O buffer pool' },
  { name: 'metrics-port', value: 'PORT', help: 'serve Prometheus metrics at http://ADDRESS:PORT/metrics (default none; with --demo, 9464)' },
  { name: 'metrics-address', value: 'IP', help: 'the address the metrics are served on (default 127.0.0.1)' },
  { name: 'demo', boolean: true, help: 'also start a RAM backend on NVMe/TCP 127.0.0.1:4421 and re-export it on 127.0.0.1:4420 '
    + '(and on NVMe/RDMA where an RDMA device has an address), as set up through the JSON-RPC' },
];

async function runGateway(args: ParsedArgs): Promise<number> {
  const flag = stringFlags(args);
  const number = (name: string) => {
    const v = flag(name);
    if (v !== undefined && !/^\d+$/.test(v)) throw new InvalidArgumentError(`--${name} must be a number, got '${v}'`);
    return v === undefined ? undefined : Number(v);
  };
  const demo = args.flags.get('demo') === true;
  const reactors = number('reactors');
  const bufferPoolBytes = number('buffer-pool-bytes');
  const metricsPort = number('metrics-port') ?? (demo ? 9464 : undefined);
  const metricsAddress = flag('metrics-address') ?? DEFAULT_METRICS_ADDRESS;
  if (isIP(metricsAddress) === 0) throw new InvalidArgumentError(`--metrics-address must be a numeric IP address, got '${metricsAddress}'`);
  if (flag('metrics-address') !== undefined && metricsPort === undefined) {
    throw new InvalidArgumentError('--metrics-address needs --metrics-port');
  }
  const gateway = new Gateway({
    socketPath: flag('socket') ?? DEFAULT_SOCKET_PATH,
    // The demo is ephemeral unless a config path is given.
    configPath: flag('config') ?? (demo ? null : DEFAULT_CONFIG_PATH),
    target: { ...(reactors === undefined ? {} : { reactors }),
      ...(bufferPoolBytes === undefined ? {} : { bufferPoolBytes }) },
    ...(metricsPort === undefined ? {} : { metrics: { address: metricsAddress, port: metricsPort } }),
  });
  const backend = demo ? startDemoBackend() : undefined;
  try {
    await gateway.start();
    if (demo) await exportDemo(gateway);
  } catch (e) {
    backend?.close();
    await gateway.close();
    throw metricsPort === undefined ? e : metricsListenError(e, metricsAddress, metricsPort);
  }
  if (gateway.metricsPort !== undefined) console.log(`metrics: http://${hostPort(metricsAddress, gateway.metricsPort)}/metrics`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await gateway.close();
  backend?.close();
  return 0;
}

function hostPort(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Node's own error for the metrics server's listen (a busy port, an address not of this
 * machine) as a typed one, which the command prints as one line rather than a stack.
 */
function metricsListenError(e: unknown, address: string, port: number): unknown {
  const err = e as NodeJS.ErrnoException & { port?: number; address?: string };
  if (!(e instanceof Error) || err.syscall !== 'listen' || err.port !== port || err.address !== address) return e;
  const where = hostPort(address, port);
  const errno = Math.abs(err.errno ?? 0);
  switch (err.code) {
    case 'EADDRINUSE':
      return new RdmagateError('ERR_ADDRESS_IN_USE', `cannot serve metrics on ${where}: the port is in use (--metrics-port)`, errno);
    case 'EADDRNOTAVAIL':
      return new InvalidArgumentError(`cannot serve metrics on ${where}: no interface of this machine has that address (--metrics-address)`);
    case 'EACCES':
      return new RdmagateError('ERR_PERMISSION_DENIED', `cannot serve metrics on ${where}: permission denied (ports below 1024 need root)`, errno);
    default:
      return new RdmagateError('ERR_METRICS_LISTEN', `cannot serve metrics on ${where}: ${err.message}`, errno);
  }
}

export const GATEWAY_COMMAND: Command = {
  name: 'gateway',
  description: 'an NVMe-oF target managed by SPDK-style JSON-RPC on a unix socket\n'
    + 'its config is saved on each change and replayed at start; it logs JSON lines to stderr\n'
    + 'and runs until SIGINT or SIGTERM',
  flags: GATEWAY_FLAGS,
  run: runGateway,
};

/** The embedded default's backend: a RAM namespace on NVMe/TCP port 4421, where Mayastor's nexus listens. */
function startDemoBackend(): Target {
  const t = new Target();
  t.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: 256 << 20 });
  t.addSubsystem({ nqn: DEMO_BACKEND_NQN, modelNumber: 'rdmagate demo backend' }).addNamespace({ bdev: 'Malloc0' });
  t.listen({ transport: 'tcp', address: '127.0.0.1', port: 4421 });
  return t;
}

/** Attaches the backend and re-exports it, through the gateway's own JSON-RPC, as a client would. */
async function exportDemo(g: Gateway): Promise<void> {
  await g.rpc('bdev_nvme_attach_controller', { name: 'Nvme0', trtype: 'TCP', traddr: '127.0.0.1', trsvcid: '4421',
    subnqn: DEMO_BACKEND_NQN });
  await g.rpc('nvmf_create_transport', { trtype: 'TCP' });
  await g.rpc('nvmf_create_subsystem', { nqn: DEMO_NQN, allow_any_host: true, model_number: 'rdmagate gateway' });
  await g.rpc('nvmf_subsystem_add_ns', { nqn: DEMO_NQN, namespace: { bdev_name: 'Nvme0n1' } });
  await g.rpc('nvmf_subsystem_add_listener', { nqn: DEMO_NQN,
    listen_address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: '4420' } });
  const rdma = findRdmaAddress();
  if (rdma) {
    await g.rpc('nvmf_create_transport', { trtype: 'RDMA' });
    await g.rpc('nvmf_subsystem_add_listener', { nqn: DEMO_NQN,
      listen_address: { trtype: 'RDMA', adrfam: 'IPv4', traddr: rdma.address, trsvcid: '4420' } });
  }
  console.log(`gateway: ${DEMO_NQN} re-exports the NVMe/TCP backend ${DEMO_BACKEND_NQN} (127.0.0.1:4421)`);
  console.log('connect with nvme-cli:');
  console.log(`  nvme connect -t tcp -a 127.0.0.1 -s 4420 -n ${DEMO_NQN}`);
  if (rdma) console.log(`  nvme connect -t rdma -a ${rdma.address} -s 4420 -n ${DEMO_NQN}`);
  else console.log('  (no RDMA device here: the RDMA listener starts where one exists)');
  // In a clone the command is npx rdmagate (npm link puts rdmagate on the PATH).
  console.log('or with rdmagate (in a clone: npx rdmagate):');
  console.log('  npx rdmagate discover -t tcp -a 127.0.0.1 -s 4420');
  console.log(`  npx rdmagate id-ctrl -t tcp -a 127.0.0.1 -s 4420 -n ${DEMO_NQN}`);
  console.log(`manage it: npx rdmagate rpc -s ${g.socketPath ?? DEFAULT_SOCKET_PATH} nvmf_get_subsystems`);
  console.log('Ctrl-C stops the gateway; npm test runs in a second terminal');
}
