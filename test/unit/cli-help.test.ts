/**
 * `rdmagate --help`, `rdmagate help [COMMAND]`, `rdmagate COMMAND -h|--help` and
 * `rdmagate --version`, from the built command; and the flag parser they share with every
 * command, so that help and parsing stay one table.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { flagLabel, parseArgs } from '../../lib/cli/args';
import { commandFlags, type Command } from '../../lib/cli/command';
import { allCommands, COMMAND_NAMES, findCommand } from '../../lib/cli/commands';
import { commandUsage } from '../../lib/cli/help';

const MAIN = resolve(__dirname, '../../lib/cli/main.js');
/** Every command, loaded by each describe's before(): commands.ts loads their modules on demand. */
let COMMANDS: readonly Command[] = [];

const run = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 30000 });

/** The options section of a command's help: `-s, --socket PATH` → socket. */
function helpFlags(text: string): string[] {
  const options = text.slice(text.indexOf('\noptions:\n'));
  return [...options.matchAll(/^ {2}(?:-\w, | {4})--([\w-]+)/gm)].map((m) => m[1]);
}

describe('rdmagate help', function () {
  this.timeout(60000);
  before(async () => { COMMANDS = await allCommands(); });

  it('finds each command by its name, in the order help lists them', async () => {
    assert.deepEqual(COMMANDS.map((c) => c.name), COMMAND_NAMES);
    for (const name of COMMAND_NAMES) assert.equal((await findCommand(name))?.name, name);
    assert.equal(await findCommand('no-such-command'), undefined);
  });

  it('--help, help and no arguments print every command with every flag, exit 0', () => {
    const outputs = [run(['--help']), run(['help']), run([]), run(['-h'])];
    for (const r of outputs) {
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, outputs[0].stdout);
    }
    const text = outputs[0].stdout;
    for (const c of COMMANDS) assert.match(text, new RegExp(`^  ${c.name} `, 'm'), c.name);
    // What the hand-written usage used to leave out.
    for (const f of ['--demo', '--metrics-port PORT', '--metrics-address IP', '--buffer-pool-bytes', '--namespace-id']) {
      assert.ok(text.includes(f), f);
    }
  });

  it('each command answers -h and --help with its usage and options, exit 0, even after other flags', () => {
    for (const c of COMMANDS) {
      const long = run([c.name, '--help']);
      assert.equal(long.status, 0, `${c.name}: ${long.stderr}`);
      assert.match(long.stdout, new RegExp(`^usage: rdmagate ${c.name}\\b`), c.name);
      assert.deepEqual(helpFlags(long.stdout), commandFlags(c).map((f) => f.name), c.name);
      assert.equal(run([c.name, '-h']).stdout, long.stdout, c.name);
      assert.equal(run(['help', c.name]).stdout, long.stdout, c.name);
      // Help wins over a mistake elsewhere on the line: it is what the user is after.
      const mixed = run([c.name, '--no-such-flag', '-h']);
      assert.equal(mixed.status, 0, `${c.name}: ${mixed.stderr}`);
    }
  });

  it('the gateway\'s help has all its flags, --demo and the metrics ones included', () => {
    const r = run(['gateway', '--help']);
    assert.deepEqual(helpFlags(r.stdout),
      ['socket', 'config', 'reactors', 'buffer-pool-bytes', 'metrics-port', 'metrics-address', 'rpc-listen', 'rpc-tls-cert', 'rpc-tls-key', 'rpc-tls-ca', 'demo', 'help']);
    assert.match(r.stdout, /^ {2}-s, --socket PATH /m);
  });

  it('rpc: help before METHOD or in place of a param; its params stay free-form', () => {
    for (const args of [['rpc', '--help'], ['rpc', '-s', '/nowhere.sock', '-h'], ['rpc', 'bdev_get_bdevs', '--help'],
      ['rpc', 'bdev_malloc_create', '--name', 'x', '-h']]) {
      const r = run(args);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /^usage: rdmagate rpc \[-s SOCK\] \[-r N\] \[-t S\] [^\n]*\n[^\n]*METHOD/, args.join(' '));
    }
    // A param's value may be -h: it is not a flag there.
    const value = run(['rpc', '-s', '/nonexistent-dir/x.sock', 'm', '--name', '-h']);
    assert.equal(value.status, 1);
    assert.doesNotMatch(value.stdout, /usage:/);
  });

  it('--version prints package.json\'s version', () => {
    const pkg = JSON.parse(readFileSync(resolve(__dirname, '../../../package.json'), 'utf8')) as { version: string };
    const r = run(['--version']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `rdmagate ${pkg.version}\n`);
  });

  it('an unknown command or help topic is exit 2 with the usage on stderr', () => {
    for (const args of [['frobnicate'], ['help', 'frobnicate']]) {
      const r = run(args);
      assert.equal(r.status, 2);
      assert.match(r.stderr, /^rdmagate: unknown command 'frobnicate'\nusage: rdmagate <command>/);
    }
  });

  it('bad flags are one typed line, exit 1', () => {
    for (const [args, message] of [
      [['discover', '--bogus'], /^rdmagate: unknown option --bogus \(ERR_INVALID_ARG\)\n$/],
      [['gateway', '--demo=yes'], /^rdmagate: option --demo takes no value \(ERR_INVALID_ARG\)\n$/],
      [['gateway', '--socket'], /^rdmagate: option --socket needs a value \(ERR_INVALID_ARG\)\n$/],
      [['target', 'extra'], /^rdmagate: unexpected argument 'extra': target takes none \(ERR_INVALID_ARG\)\n$/],
      [['id-ctrl', '-a', '127.0.0.1'], /^rdmagate: -n\/--nqn is required \(ERR_INVALID_ARG\)\n$/],
      [['rpc', '-x', 'm'], /^rdmagate: unknown option -x \(ERR_INVALID_ARG\)\n$/],
    ] as const) {
      const r = run([...args]);
      assert.equal(r.status, 1, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
    }
  });
});

describe('the flag parser (lib/cli/args)', () => {
  before(async () => { COMMANDS = await allCommands(); });
  const specs = [
    { name: 'socket', short: 's' }, { name: 'demo', boolean: true }, { name: 'dev', list: true },
    { name: 'format', short: 'o', choices: ['normal', 'json'] }, { name: 'help', short: 'h', boolean: true },
  ];

  it('takes --f v, --f=v, -f v, -fv, booleans, comma lists, and operands after --', () => {
    const a = parseArgs(['--socket', '/a', '--demo', '--dev', 'x', '--dev=y', '-ojson', 'op', '--', '--not-a-flag'], specs);
    assert.equal(a.help, false);
    assert.equal(a.flags.get('socket'), '/a');
    assert.equal(a.flags.get('demo'), true);
    assert.equal(a.flags.get('dev'), 'x,y');
    assert.equal(a.flags.get('format'), 'json');
    assert.deepEqual(a.positionals, ['op', '--not-a-flag']);
    assert.equal(parseArgs(['-s', '/b'], specs).flags.get('socket'), '/b');
  });

  it('lets a value start with a dash, and a negative number be an operand', () => {
    assert.equal(parseArgs(['--socket', '-1'], specs).flags.get('socket'), '-1');
    assert.deepEqual(parseArgs(['-12'], specs).positionals, ['-12']);
  });

  it('refuses what it cannot take, with typed errors naming the flag', () => {
    const invalid = (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG';
    assert.throws(() => parseArgs(['--nope'], specs), (e: Error) => invalid(e) && /unknown option --nope/.test(e.message));
    assert.throws(() => parseArgs(['-o', 'xml'], specs), (e: Error) => invalid(e) && /-o\/--format must be normal or json, got 'xml'/.test(e.message));
    assert.throws(() => parseArgs(['--socket'], specs), /option --socket needs a value/);
    assert.throws(() => parseArgs([], [{ name: 'traddr', short: 'a', required: true }]), /-a\/--traddr is required/);
  });

  it('every command parses each flag of its help, so the two cannot disagree', () => {
    for (const c of COMMANDS) {
      const flags = commandFlags(c);
      assert.deepEqual(helpFlags(commandUsage(c)), flags.map((f) => f.name), c.name);
      for (const f of flags.filter((x) => x.name !== 'help')) {
        const value = f.choices?.[0] ?? 'v';
        const argv = f.boolean ? [`--${f.name}`] : [`--${f.name}`, value];
        const parse = c.parse ?? ((a: readonly string[]) => parseArgs(a, flags));
        // Required flags are given too, so that only this one is under test.
        const others = flags.filter((x) => x.required && x.name !== f.name).flatMap((x) => [`--${x.name}`, x.choices?.[0] ?? 'v']);
        const args = parse([...argv, ...others, ...(c.operands ? ['METHOD'] : [])]);
        assert.equal(args.flags.get(f.name), f.boolean ? true : value, `${c.name} ${flagLabel(f)}`);
      }
    }
  });
});
