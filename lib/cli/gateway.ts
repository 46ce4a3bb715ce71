/** `rdmagate gateway`: runs a Gateway until SIGINT or SIGTERM, logging JSON lines to stderr. */
import { InvalidArgumentError } from '../errors';
import { DEFAULT_CONFIG_PATH, DEFAULT_SOCKET_PATH, Gateway } from '../gateway';
import { Target } from '../nvmf/target';
import { parseArgs, stringFlags } from './args';
import { findRdmaAddress } from './demo';

const DEMO_BACKEND_NQN = 'nqn.2026-11.io.rdmagate:demo-backend';
const DEMO_NQN = 'nqn.2026-11.io.rdmagate:gateway';

export async function runGateway(argv: string[]): Promise<number> {
  const args = parseArgs(argv, [{ name: 'socket', short: 's' }, { name: 'config' }, { name: 'reactors' },
    { name: 'buffer-pool-bytes' }, { name: 'metrics-port' }, { name: 'demo', boolean: true }]);
  if (args.positionals.length > 0) throw new InvalidArgumentError(`unexpected argument '${args.positionals[0]}'`);
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
  const gateway = new Gateway({
    socketPath: flag('socket') ?? DEFAULT_SOCKET_PATH,
    // The demo is ephemeral unless a config path is given.
    configPath: flag('config') ?? (demo ? null : DEFAULT_CONFIG_PATH),
    target: { ...(reactors === undefined ? {} : { reactors }),
      ...(bufferPoolBytes === undefined ? {} : { bufferPoolBytes }) },
    ...(metricsPort === undefined ? {} : { metrics: { port: metricsPort } }),
  });
  const backend = demo ? startDemoBackend() : undefined;
  try {
    await gateway.start();
    if (demo) await exportDemo(gateway);
  } catch (e) {
    backend?.close();
    await gateway.close();
    throw e;
  }
  if (gateway.metricsPort !== undefined) console.log(`metrics: http://127.0.0.1:${gateway.metricsPort}/metrics`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await gateway.close();
  backend?.close();
  return 0;
}

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
  console.log('or with rdmagate:');
  console.log('  rdmagate discover -t tcp -a 127.0.0.1 -s 4420');
  console.log(`  rdmagate id-ctrl -t tcp -a 127.0.0.1 -s 4420 -n ${DEMO_NQN}`);
  console.log(`manage it: rdmagate rpc -s ${g.socketPath ?? DEFAULT_SOCKET_PATH} nvmf_get_subsystems`);
  console.log('Ctrl-C stops the gateway');
}
