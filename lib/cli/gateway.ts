/** `rdmagate gateway`: runs a Gateway until SIGINT or SIGTERM, logging JSON lines to stderr. */
import { isIP } from 'node:net';
import { InvalidArgumentError, RdmagateError } from '../errors';
import { DEFAULT_CONFIG_PATH, DEFAULT_SOCKET_PATH, Gateway } from '../gateway';
import { stringFlags, type FlagSpec, type ParsedArgs } from './args';
import { type Command } from './command';
import { DEMO_PORTS, exportDemo, startDemoBackend } from './gateway-demo';
import { parseListenAddress } from '../csi/gateway-group';
import { RPC_TLS_FLAGS, rpcTlsFromFlags } from './rpc-tls-flags';

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
  { name: 'rpc-listen', value: 'IP:PORT', help: 'also serve the JSON-RPC over TLS 1.3 there, for clients on other machines (a gateway '
    + 'group\'s CSI controller), each with a certificate that --rpc-tls-ca signed' },
  ...RPC_TLS_FLAGS,
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
  const rpcListen = flag('rpc-listen');
  const rpcTls = rpcTlsFromFlags(flag, rpcListen === undefined ? undefined : '--rpc-listen');
  if (rpcTls && rpcListen === undefined) throw new InvalidArgumentError('--rpc-tls-* are for --rpc-listen');
  const rpcAt = rpcListen === undefined ? undefined : parseListenAddress(rpcListen, '--rpc-listen');
  const gateway = new Gateway({
    socketPath: flag('socket') ?? DEFAULT_SOCKET_PATH,
    // The demo is ephemeral unless a config path is given.
    configPath: flag('config') ?? (demo ? null : DEFAULT_CONFIG_PATH),
    target: { ...(reactors === undefined ? {} : { reactors }),
      ...(bufferPoolBytes === undefined ? {} : { bufferPoolBytes }) },
    ...(metricsPort === undefined ? {} : { metrics: { address: metricsAddress, port: metricsPort } }),
    ...(rpcAt && rpcTls ? { rpcTls: { address: rpcAt.traddr, port: rpcAt.trsvcid, ...rpcTls } } : {}),
  });
  const backend = demo ? startDemoBackend(DEMO_PORTS.backend) : undefined;
  try {
    await gateway.start();
    if (demo) for (const line of await exportDemo(gateway, DEMO_PORTS)) console.log(line);
  } catch (e) {
    await backend?.close();
    await gateway.close();
    throw metricsPort === undefined ? e : metricsListenError(e, metricsAddress, metricsPort);
  }
  if (gateway.metricsPort !== undefined) console.log(`metrics: http://${hostPort(metricsAddress, gateway.metricsPort)}/metrics`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await gateway.close();
  await backend?.close();
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
