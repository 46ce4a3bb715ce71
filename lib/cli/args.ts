/** A small argv parser: --flag value, --flag=value, -f value, boolean --flag, positionals. */
import { InvalidArgumentError } from '../errors';

export interface FlagSpec {
  /** Long name without dashes, e.g. 'output-format'. */
  name: string;
  short?: string;
  boolean?: boolean;
  /** May be given more than once: the values are joined with commas (a flag that takes a comma list). */
  list?: boolean;
}

export interface ParsedArgs {
  flags: Map<string, string | true>;
  positionals: string[];
}

export function parseArgs(argv: string[], specs: FlagSpec[]): ParsedArgs {
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const flags = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    let spec: FlagSpec | undefined;
    let inline: string | undefined;
    if (a.startsWith('--')) {
      const [name, value] = a.slice(2).split(/=(.*)/s, 2);
      spec = byLong.get(name);
      inline = value;
      if (!spec) throw new InvalidArgumentError(`unknown option --${name}`);
    } else if (a.length > 1 && a.startsWith('-') && !/^-\d/.test(a)) {
      spec = byShort.get(a.slice(1));
      if (!spec) throw new InvalidArgumentError(`unknown option ${a}`);
    } else {
      positionals.push(a);
      continue;
    }
    if (spec.boolean) {
      flags.set(spec.name, true);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new InvalidArgumentError(`option --${spec.name} needs a value`);
    const earlier = flags.get(spec.name);
    flags.set(spec.name, spec.list && typeof earlier === 'string' ? `${earlier},${value}` : value);
  }
  return { flags, positionals };
}

/** A reader of the flags' string values: undefined for a flag not given (or a boolean one). */
export function stringFlags(args: ParsedArgs): (name: string) => string | undefined {
  return (name) => {
    const v = args.flags.get(name);
    return typeof v === 'string' ? v : undefined;
  };
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** --log-level's value; default info. */
export function logLevelFlag(value: string | undefined): (typeof LOG_LEVELS)[number] {
  const level = value ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new InvalidArgumentError(`--log-level must be ${LOG_LEVELS.join(', ')}`);
  return level as (typeof LOG_LEVELS)[number];
}
