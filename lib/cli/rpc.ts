/**
 * `rdmagate rpc [-s SOCK] [-r RETRIES] [-t TIMEOUT] METHOD [PARAMS]`: one JSON-RPC call to
 * a gateway, as SPDK's rpc.py makes it. PARAMS is a JSON object, or --key value pairs
 * (a value is JSON when it parses as JSON, else a string; dots nest: --listen_address.trtype tcp;
 * a --key with no value is true where the param is a boolean, and refused elsewhere).
 */
import { InvalidArgumentError } from '../errors';
import { DEFAULT_SOCKET_PATH, JsonRpcError, rpcCall, type JsonObject, type JsonValue } from '../jsonrpc';
import { parseArgs, stringFlags, type FlagSpec, type ParsedArgs } from './args';
import { commandFlags, type Command } from './command';
import { methodBooleanParams } from './rpc-boolean-params';
import { isRpcPyForm, rpcPyParams } from './rpc-py-forms';
import { RPC_TLS_FLAGS, rpcTlsFromFlags } from './rpc-tls-flags';
import { isTlsEndpoint, type RpcTlsCredentials } from '../jsonrpc/endpoint';

interface RpcArgs {
  socketPath: string;
  tls: RpcTlsCredentials | undefined;
  retries: number;
  timeoutMs: number;
  method: string;
  params: JsonObject | undefined;
}

/** rpc.py's options and names. */
const RPC_FLAGS: FlagSpec[] = [
  { name: 'server', short: 's', value: 'SOCK', help: `the gateway's JSON-RPC socket (default ${DEFAULT_SOCKET_PATH}), or tls://HOST:PORT `
    + '(its --rpc-listen, with --rpc-tls-*)' },
  { name: 'conn-retries', short: 'r', value: 'N', help: 'connect attempts after the first, 200 ms apart (default 0)' },
  { name: 'timeout', short: 't', value: 'S', help: 'seconds the connect and the call may take (default 60)' },
  ...RPC_TLS_FLAGS,
];

const HELP_WORDS = new Set(['-h', '--help']);

/**
 * Options come before METHOD, as rpc.py's; everything after METHOD is params, free-form,
 * so only the options are parsed by the table. -h/--help is help wherever a flag may be.
 */
export function parseRpcArgs(argv: readonly string[]): ParsedArgs {
  const flags = commandFlags(RPC_COMMAND);
  const byLong = new Map(flags.map((f) => [`--${f.name}`, f]));
  const byShort = new Map(flags.filter((f) => f.short).map((f) => [`-${f.short}`, f]));
  let i = 0;
  while (i < argv.length && argv[i].startsWith('-')) {
    const spec = byLong.get(argv[i]) ?? byShort.get(argv[i]);
    // --name=value and unknown flags are one word; parseArgs below says what is wrong with the latter.
    i += spec && !spec.boolean ? 2 : 1;
  }
  const options = parseArgs(argv.slice(0, i), flags);
  const operands = argv.slice(i);
  if (options.help || asksHelp(operands.slice(1))) return { flags: new Map([['help', true]]), positionals: [], help: true };
  return { ...options, positionals: [...operands] };
}

function rpcArgs(args: ParsedArgs): RpcArgs {
  const flag = stringFlags(args);
  const [method, ...rest] = args.positionals;
  if (method === undefined) throw new InvalidArgumentError('rpc needs a METHOD, e.g. rdmagate rpc rpc_get_methods');
  const params = isRpcPyForm(method, rest) ? rpcPyParams(method, rest) : parseParams(method, rest);
  const timeout = flag('timeout');
  return {
    socketPath: flag('server') ?? DEFAULT_SOCKET_PATH,
    tls: rpcTlsFromFlags(flag, isTlsEndpoint(flag('server') ?? '') ? `-s ${flag('server')}` : undefined),
    retries: count(flag('conn-retries') ?? '0', '-r'),
    timeoutMs: timeout === undefined ? 60_000 : seconds(timeout),
    method,
    params,
  };
}

function seconds(value: string): number {
  const s = Number(value);
  if (!(s > 0)) throw new InvalidArgumentError(`-t must be a number of seconds above 0, got '${value}'`);
  return s * 1000;
}

function count(value: string, flag: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${flag} must be a whole number, got '${value}'`);
  return Number(value);
}

/** -h or --help where a param name would be (after --name it is that param's value). */
function asksHelp(args: readonly string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (HELP_WORDS.has(a)) return true;
    if (a.startsWith('--') && !a.includes('=') && args[i + 1] !== undefined && !args[i + 1].startsWith('--')) i++;
  }
  return false;
}

/** --key value pairs or one JSON object (-h/--help among them was taken as help before). */
function parseParams(method: string, args: readonly string[]): JsonObject | undefined {
  let params: JsonObject | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (i === 0 && a.trimStart().startsWith('{')) {
      const parsed: unknown = parse(a);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new InvalidArgumentError('PARAMS must be a JSON object');
      }
      params = parsed as JsonObject;
    } else if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      const key = eq === -1 ? a.slice(2) : a.slice(2, eq);
      let value: JsonValue;
      if (eq !== -1) value = jsonOrString(a.slice(eq + 1));
      else if (args[i + 1] !== undefined && !args[i + 1].startsWith('--')) value = jsonOrString(args[++i]);
      else value = bareFlag(method, key);
      setPath((params ??= {}), key, value);
    } else {
      throw new InvalidArgumentError(`unexpected argument '${a}': params are one JSON object or --key value pairs`);
    }
  }
  return params;
}

/**
 * A --key with no value: true where the param is a boolean, as rpc.py's switches; anywhere
 * else the value was left out (`--nqn --serial_number X`), which must not become `true`.
 */
function bareFlag(method: string, key: string): true {
  const booleans = methodBooleanParams(method);
  if (booleans.includes(key)) return true;
  const which = booleans.length > 0
    ? `${method}'s are ${booleans.map((b) => `--${b}`).join(', ')}`
    : `${method} has none that rdmagate knows of (write --${key} true)`;
  throw new InvalidArgumentError(`${method}: --${key} needs a value (only a boolean param may stand alone: ${which})`);
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InvalidArgumentError(`PARAMS is not valid JSON: ${(e as Error).message}`);
  }
}

function jsonOrString(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

function setPath(root: JsonObject, key: string, value: JsonValue): void {
  const parts = key.split('.');
  if (parts.some((k) => k === '' || k === '__proto__')) throw new InvalidArgumentError(`invalid param name '--${key}'`);
  let o = root;
  for (const k of parts.slice(0, -1)) {
    const next = o[k] ?? (o[k] = {});
    if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      throw new InvalidArgumentError(`--${key}: '${k}' is already set to a value that is not an object`);
    }
    o = next;
  }
  o[parts[parts.length - 1]] = value;
}

/** Prints the result as JSON; an error response goes to stderr with its code, exit status 1. */
async function runRpc(args: ParsedArgs): Promise<number> {
  const a = rpcArgs(args);
  try {
    const result = await rpcCall(a.socketPath, a.method, a.params, { retries: a.retries, timeoutMs: a.timeoutMs, ...(a.tls ? { tls: a.tls } : {}) });
    console.log(JSON.stringify(result, null, 2));
    return 0;
  } catch (e) {
    if (!(e instanceof JsonRpcError)) throw e;
    console.error(`rdmagate rpc: ${a.method}: ${e.message} (code ${e.rpcCode})`);
    return 1;
  }
}

export const RPC_COMMAND: Command = {
  name: 'rpc',
  description: 'one JSON-RPC call to a gateway, as SPDK\'s rpc.py makes it, its result printed as JSON\n'
    + 'PARAMS: one JSON object, or --key value pairs: a value is JSON where it parses as JSON, else a\n'
    + 'string; a --key alone is true for a boolean param (--allow_any_host), and refused for any other;\n'
    + 'dots nest (--listen_address.trtype tcp). Options come before METHOD.\n'
    + 'rpc.py\'s own forms work for the first methods one meets: nvmf_create_transport -t tcp,\n'
    + 'bdev_malloc_create -b Malloc0 64 512, nvmf_create_subsystem NQN -a, nvmf_subsystem_add_ns NQN BDEV,\n'
    + 'nvmf_subsystem_add_listener NQN -t tcp -a IP -s PORT [-k], bdev_nvme_attach_controller -b NAME -t tcp -a IP -s PORT -n NQN,\n'
    + 'keyring_file_add_key NAME PATH, nvmf_subsystem_add_host NQN HOST --dhchap-key NAME [--dhchap-ctrlr-key NAME] [--psk NAME]\n'
    + 'exits 1 on an error response, printed with its JSON-RPC code',
  flags: RPC_FLAGS,
  operands: 'METHOD [\'{"json":"params"}\' | --key value ...]',
  parse: parseRpcArgs,
  run: runRpc,
};
