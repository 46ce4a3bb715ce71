/**
 * One `rdmagate` subcommand: its flags table, which both parses its arguments and writes
 * its help, its description, and what it runs.
 */
import { InvalidArgumentError } from '../errors';
import { parseArgs, type FlagSpec, type ParsedArgs } from './args';

export interface Command {
  name: string;
  /** What it does; the first line is its summary in `rdmagate --help`. */
  description: string;
  flags: readonly FlagSpec[];
  /** Its positional arguments in the usage line, e.g. 'METHOD [PARAMS]'; none when absent (they are refused). */
  operands?: string;
  /** For arguments that are not all flags (rpc's free-form params); default parseArgs over `flags` and --help. */
  parse?(argv: readonly string[]): ParsedArgs;
  run(args: ParsedArgs): Promise<number>;
}

/** Every command's -h/--help, part of its table so that help lists it. */
export const HELP_FLAG: FlagSpec = { name: 'help', short: 'h', boolean: true, help: 'print this help and exit' };

export const OUTPUT_FORMAT_FLAG: FlagSpec = { name: 'output-format', short: 'o', choices: ['normal', 'json'],
  help: 'output format (default normal)' };

/** The table a command parses with: its flags and --help. */
export function commandFlags(c: Command): readonly FlagSpec[] {
  return [...c.flags, HELP_FLAG];
}

/** argv (after the command's name) as the command's flags, operands refused where it takes none. */
export function parseCommandArgs(c: Command, argv: readonly string[]): ParsedArgs {
  const args = c.parse ? c.parse(argv) : parseArgs(argv, commandFlags(c));
  if (!args.help && c.operands === undefined && args.positionals.length > 0) {
    throw new InvalidArgumentError(`unexpected argument '${args.positionals[0]}': ${c.name} takes none`);
  }
  return args;
}

export function isJson(args: ParsedArgs): boolean {
  return args.flags.get('output-format') === 'json';
}
