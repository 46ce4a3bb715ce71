/** `rdmagate target`: an NVMe-oF target from flags, a JSON config, or the embedded default. */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../errors';
import { DEFAULT_NQN, defaultTargetConfig, targetFromConfig, type TargetConfig } from '../nvmf/target';
import type { FlagSpec, ParsedArgs } from './args';
import { isJson, OUTPUT_FORMAT_FLAG, type Command } from './command';

export const TARGET_FLAGS: FlagSpec[] = [
  { name: 'transport', short: 't', choices: ['tcp', 'rdma'], help: 'the listener\'s transport (default tcp)' },
  { name: 'traddr', short: 'a', value: 'TRADDR', help: 'the address to listen on (default 127.0.0.1)' },
  { name: 'trsvcid', short: 's', value: 'TRSVCID', help: 'the port to listen on (default 4420)' },
  { name: 'nqn', short: 'n', value: 'NQN', help: `the subsystem's NQN (default ${DEFAULT_NQN})` },
  { name: 'config', short: 'c', value: 'CONFIG.json', help: 'a target config (bdevs, subsystems, listeners) instead of the flags above' },
  { name: 'reactors', short: 'r', value: 'N', help: 'reactor threads' },
  { name: 'size-mib', value: 'N', help: 'the RAM namespace\'s size in MiB (default 64)' },
  OUTPUT_FORMAT_FLAG,
];

function flag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

function intFlag(args: ParsedArgs, name: string): number | undefined {
  const v = flag(args, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`--${name} must be a number, got '${v}'`);
  return Number(v);
}

export function targetConfigFromArgs(args: ParsedArgs): TargetConfig {
  const file = flag(args, 'config');
  let config: TargetConfig;
  if (file) {
    try {
      config = JSON.parse(readFileSync(file, 'utf8')) as TargetConfig;
    } catch (e) {
      throw new InvalidArgumentError(`cannot read config ${file}: ${(e as Error).message}`);
    }
  } else {
    const transport = flag(args, 'transport') === 'rdma' ? 'rdma' : 'tcp';  // the parser allows only these
    config = defaultTargetConfig({ address: flag(args, 'traddr'), port: intFlag(args, 'trsvcid'), nqn: flag(args, 'nqn'),
      sizeMiB: intFlag(args, 'size-mib') });
    config.listeners![0].transport = transport;
  }
  const reactors = intFlag(args, 'reactors');
  if (reactors !== undefined) config.reactors = reactors;
  return config;
}

async function runTarget(args: ParsedArgs): Promise<number> {
  const json = isJson(args);
  const target = targetFromConfig(targetConfigFromArgs(args));
  const listeners = target.listeners();
  const subsystems = target.subsystems().filter((s) => s.subtype === 'NVMe');
  if (json) {
    console.log(JSON.stringify({ listeners, subsystems }, null, 2));
  } else {
    for (const l of listeners) {
      console.log(`listening: ${l.trtype} ${l.traddr}:${l.trsvcid} (portid ${l.portid}${l.secureChannel ? ', secure channel: TLS required' : ''})`);
    }
    for (const s of subsystems) {
      console.log(`subsystem ${s.nqn}: ${s.namespaces.length} namespace(s)`);
      const l = listeners[0];
      if (l) {
        // A secure channel wants the host's PSK (the config's hosts[].psk), never printed here.
        const tls = l.secureChannel ? ' --tls-key KEY' : '';
        console.log(`  nvme discover -t ${l.trtype} -a ${l.traddr} -s ${l.trsvcid}${tls}`);
        console.log(`  nvme connect -t ${l.trtype} -a ${l.traddr} -s ${l.trsvcid} -n ${s.nqn}${tls}`);
        console.log(`  rdmagate id-ctrl -t ${l.trtype} -a ${l.traddr} -s ${l.trsvcid} -n ${s.nqn}${tls}`);
      }
    }
    console.log('Ctrl-C stops the target');
  }
  // The reactors are native threads: something must keep Node's event loop alive.
  const alive = setInterval(() => undefined, 1 << 30);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(alive);
  await target.close();
  return 0;
}

export const TARGET_COMMAND: Command = {
  name: 'target',
  description: 'an NVMe-oF target; with no arguments, a 64 MiB RAM namespace on tcp 127.0.0.1:4420\n'
    + 'it serves discovery too, and runs until SIGINT or SIGTERM',
  flags: TARGET_FLAGS,
  run: runTarget,
};
