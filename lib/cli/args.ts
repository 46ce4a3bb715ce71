/**
 * The command line's flags: --flag value, --flag=value, -f value, -fvalue, boolean --flag,
 * grouped -ab, positionals, `--` ending the flags. Node's util.parseArgs splits argv into
 * tokens; the checks are ours, so that each failure is one InvalidArgumentError line and a
 * value may start with a dash (`--offset -1`), which util.parseArgs' strict mode refuses.
 * The same FlagSpec table drives the help text (help.ts), so the two cannot disagree.
 */
import { parseArgs as tokenize } from 'node:util';
import { InvalidArgumentError } from '../errors';

export interface FlagSpec {
  /** Long name without dashes, e.g. 'output-format'. */
  name: string;
  /** One character, e.g. 'o' for -o. */
  short?: string;
  boolean?: boolean;
  /** May be given more than once: the values are joined with commas (a flag that takes a comma list). */
  list?: boolean;
  /** The only values allowed; anything else is an InvalidArgumentError. */
  choices?: readonly string[];
  /** Must be given (checked after --help, so that help needs nothing else). */
  required?: boolean;
  /** The value's name in help, e.g. 'PATH'; default: the choices, else VALUE. */
  value?: string;
  /** What it does, for help; defaults belong here too. */
  help?: string;
}

export interface ParsedArgs {
  flags: Map<string, string | true>;
  positionals: string[];
  /** --help or -h was given (where the table has a `help` flag): nothing else was checked. */
  help: boolean;
}

/** How a flag is written in messages: -o/--output-format, or --config. */
export function flagLabel(spec: FlagSpec): string {
  return spec.short ? `-${spec.short}/--${spec.name}` : `--${spec.name}`;
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const s of specs) options[s.name] = { type: s.boolean ? 'boolean' : 'string', ...(s.short ? { short: s.short } : {}) };
  // strict: false hands unknown flags and missing values to the checks below, as tokens.
  const { tokens } = tokenize({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });

  // --help wins over every other mistake on the line: help must always be reachable.
  if (byName.get('help')?.boolean && tokens.some((t) => t.kind === 'option' && t.name === 'help')) {
    return { flags: new Map([['help', true]]), positionals: [], help: true };
  }

  const flags = new Map<string, string | true>();
  const positionals: string[] = [];
  let operandIndex = -1;
  for (const t of tokens) {
    if (t.kind === 'positional') {
      positionals.push(t.value);
      continue;
    }
    if (t.kind !== 'option') continue;  // the `--` terminator
    const spec = byName.get(t.name);
    if (!spec) {
      // A negative number is an operand, not a group of unknown short flags.
      if (/^-\d/.test(argv[t.index])) {
        if (operandIndex !== t.index) positionals.push(argv[t.index]);
        operandIndex = t.index;
        continue;
      }
      throw new InvalidArgumentError(`unknown option ${t.rawName}`);
    }
    if (spec.boolean) {
      if (t.value !== undefined) throw new InvalidArgumentError(`option --${spec.name} takes no value`);
      flags.set(spec.name, true);
      continue;
    }
    const value = t.value;
    if (value === undefined) throw new InvalidArgumentError(`option --${spec.name} needs a value`);
    if (spec.choices && !spec.choices.includes(value)) {
      throw new InvalidArgumentError(`${flagLabel(spec)} must be ${orList(spec.choices)}, got '${value}'`);
    }
    const earlier = flags.get(spec.name);
    flags.set(spec.name, spec.list && typeof earlier === 'string' ? `${earlier},${value}` : value);
  }
  for (const s of specs) {
    if (s.required && !flags.has(s.name)) throw new InvalidArgumentError(`${flagLabel(s)} is required`);
  }
  return { flags, positionals, help: false };
}

function orList(values: readonly string[]): string {
  return values.length < 2 ? values.join('') : `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;
}

/** A reader of the flags' string values: undefined for a flag not given (or a boolean one). */
export function stringFlags(args: ParsedArgs): (name: string) => string | undefined {
  return (name) => {
    const v = args.flags.get(name);
    return typeof v === 'string' ? v : undefined;
  };
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** --log-level's value; default info. */
export function logLevelFlag(value: string | undefined): (typeof LOG_LEVELS)[number] {
  const level = value ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new InvalidArgumentError(`--log-level must be ${LOG_LEVELS.join(', ')}`);
  return level as (typeof LOG_LEVELS)[number];
}
