/** `rdmagate target`: an NVMe-oF target from flags, a JSON config, or the embedded default. */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../errors';
import { defaultTargetConfig, targetFromConfig, type TargetConfig } from '../nvmf/target';
import type { ParsedArgs } from './args';

export const TARGET_FLAGS = [
  { name: 'transport', short: 't' },
  { name: 'traddr', short: 'a' },
  { name: 'trsvcid', short: 's' },
  { name: 'nqn', short: 'n' },
  { name: 'config', short: 'c' },
  { name: 'reactors', short: 'r' },
  { name: 'size-mib' },
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
    const transport = flag(args, 'transport') ?? 'tcp';
    if (transport !== 'tcp' && transport !== 'rdma') throw new InvalidArgumentError(`unknown transport '${transport}'`);
    config = defaultTargetConfig({ address: flag(args, 'traddr'), port: intFlag(args, 'trsvcid'), nqn: flag(args, 'nqn'),
      sizeMiB: intFlag(args, 'size-mib') });
    config.listeners![0].transport = transport;
  }
  const reactors = intFlag(args, 'reactors');
  if (reactors !== undefined) config.reactors = reactors;
  return config;
}

export async function runTarget(args: ParsedArgs, json: boolean): Promise<number> {
  const target = targetFromConfig(targetConfigFromArgs(args));
  const listeners = target.listeners();
  const subsystems = target.subsystems().filter((s) => s.subtype === 'NVMe');
  if (json) {
    console.log(JSON.stringify({ listeners, subsystems }, null, 2));
  } else {
    for (const l of listeners) console.log(`listening: ${l.trtype} ${l.traddr}:${l.trsvcid} (portid ${l.portid})`);
    for (const s of subsystems) {
      console.log(`subsystem ${s.nqn}: ${s.namespaces.length} namespace(s)`);
      const l = listeners[0];
      if (l) {
        console.log(`  nvme discover -t ${l.trtype} -a ${l.traddr} -s ${l.trsvcid}`);
        console.log(`  nvme connect -t ${l.trtype} -a ${l.traddr} -s ${l.trsvcid} -n ${s.nqn}`);
        console.log(`  rdmagate id-ctrl -t ${l.trtype} -a ${l.traddr} -s ${l.trsvcid} -n ${s.nqn}`);
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
  target.close();
  return 0;
}
