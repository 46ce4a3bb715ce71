/** `rdmagate gateway`: runs a Gateway until SIGINT or SIGTERM, logging JSON lines to stderr. */
import { InvalidArgumentError } from '../errors';
import { DEFAULT_CONFIG_PATH, DEFAULT_SOCKET_PATH, Gateway } from '../gateway';
import { parseArgs } from './args';

export async function runGateway(argv: string[]): Promise<number> {
  const args = parseArgs(argv, [{ name: 'socket', short: 's' }, { name: 'config' }, { name: 'reactors' }]);
  if (args.positionals.length > 0) throw new InvalidArgumentError(`unexpected argument '${args.positionals[0]}'`);
  const flag = (name: string) => {
    const v = args.flags.get(name);
    return typeof v === 'string' ? v : undefined;
  };
  const reactors = flag('reactors');
  if (reactors !== undefined && !/^\d+$/.test(reactors)) {
    throw new InvalidArgumentError(`--reactors must be a number, got '${reactors}'`);
  }
  const gateway = new Gateway({
    socketPath: flag('socket') ?? DEFAULT_SOCKET_PATH,
    configPath: flag('config') ?? DEFAULT_CONFIG_PATH,
    target: reactors === undefined ? {} : { reactors: Number(reactors) },
  });
  await gateway.start();
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await gateway.close();
  return 0;
}
