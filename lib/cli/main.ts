#!/usr/bin/env node
/** The `rdmagate` command: finds the subcommand, parses its flags by its own table, runs it. */
import { RdmagateError } from '../errors';
import { parseCommandArgs } from './command';
import { allCommands, findCommand } from './commands';
import { commandUsage, globalUsage } from './help';
import { packageVersion } from './version';

async function main(argv: string[]): Promise<number> {
  const [name = 'help', ...rest] = argv;
  if (name === '--version') {
    console.log(`rdmagate ${packageVersion()}`);
    return 0;
  }
  if (name === 'help' || name === '--help' || name === '-h') {
    // `rdmagate help gateway` is `rdmagate gateway --help`.
    const topic = rest[0] === undefined ? undefined : await findCommand(rest[0]);
    if (rest[0] !== undefined && !topic) return unknownCommand(rest[0]);
    console.log(topic ? commandUsage(topic) : globalUsage(await allCommands()));
    return 0;
  }
  const command = await findCommand(name);
  if (!command) return unknownCommand(name);
  const args = parseCommandArgs(command, rest);
  if (args.help) {
    console.log(commandUsage(command));
    return 0;
  }
  return command.run(args);
}

async function unknownCommand(name: string): Promise<number> {
  console.error(`rdmagate: unknown command '${name}'\n${globalUsage(await allCommands())}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    if (e instanceof RdmagateError) console.error(`rdmagate: ${e.message} (${e.code})`);
    else console.error(e);
    process.exitCode = 1;
  },
);
