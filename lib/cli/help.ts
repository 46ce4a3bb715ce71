/**
 * Help text, written from the commands' own flag tables (the ones their arguments are
 * parsed with), so that help and parsing cannot drift apart.
 */
import type { FlagSpec } from './args';
import { commandFlags, type Command } from './command';

const WIDTH = 100;
/** Where an option's description starts. */
const OPTION_COLUMN = 32;

function placeholder(f: FlagSpec): string {
  return f.value ?? (f.choices ? f.choices.join('|') : 'VALUE');
}

/** `[-s PATH]`, `-a TRADDR` (required), `[--rdma-device NAME]...` (repeatable). */
function synopsisItem(f: FlagSpec): string {
  const flag = f.short ? `-${f.short}` : `--${f.name}`;
  const text = f.boolean ? flag : `${flag} ${placeholder(f)}`;
  return `${f.required ? text : `[${text}]`}${f.list ? '...' : ''}`;
}

/** Words joined into lines of at most `width`, each after the first starting with `hang`. */
function wrap(words: readonly string[], width: number, hang: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line !== '' && line.length + 1 + w.length > width) {
      lines.push(line);
      line = hang + w;
    } else {
      line = line === '' ? w : `${line} ${w}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** `name [flags...] OPERANDS`, wrapped under its first flag; `indent` is where it starts on screen. */
function synopsis(c: Command, indent: number): string[] {
  const words = [c.name, ...c.flags.map(synopsisItem), ...(c.operands ? [c.operands] : [])];
  return wrap(words, WIDTH - indent, ' '.repeat(c.name.length + 1));
}

function optionLines(flags: readonly FlagSpec[]): string[] {
  const out: string[] = [];
  for (const f of flags) {
    const left = `  ${f.short ? `-${f.short}, ` : '    '}--${f.name}${f.boolean ? '' : ` ${placeholder(f)}`}${f.list ? ' (repeatable)' : ''}`;
    const text = wrap((f.help ?? '').split(/\s+/).filter((w) => w !== ''), WIDTH - OPTION_COLUMN, '');
    if (text.length === 0) {
      out.push(left);
      continue;
    }
    // A long flag gets its description on the next line rather than a ragged column.
    if (left.length + 2 > OPTION_COLUMN) out.push(left);
    else out.push(left.padEnd(OPTION_COLUMN) + text.shift()!);
    for (const l of text) out.push(' '.repeat(OPTION_COLUMN) + l);
  }
  return out;
}

/** `rdmagate <command> --help`. */
export function commandUsage(c: Command): string {
  const prefix = 'usage: rdmagate ';
  const [first, ...rest] = synopsis(c, prefix.length);
  return [
    `${prefix}${first}`, ...rest.map((l) => ' '.repeat(prefix.length) + l),
    '', ...c.description.split('\n'),
    '', 'options:', ...optionLines(commandFlags(c)),
  ].join('\n');
}

/** `rdmagate --help`: every command with every flag, and its summary. */
export function globalUsage(commands: readonly Command[]): string {
  const lines = [
    'usage: rdmagate <command> [options]',
    '       rdmagate <command> -h|--help    the command\'s options, each explained',
    '       rdmagate --version',
    '',
    'commands:',
  ];
  for (const c of commands) {
    lines.push(...synopsis(c, 2).map((l) => `  ${l}`));
    lines.push(`      ${c.description.split('\n')[0]}`);
  }
  lines.push('  help [COMMAND]', '      this help, or that of COMMAND');
  return lines.join('\n');
}
