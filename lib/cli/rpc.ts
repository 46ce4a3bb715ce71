/**
 * `rdmagate rpc [-s SOCK] [-r RETRIES] [-t TIMEOUT] METHOD [PARAMS]`: one JSON-RPC call to
 * a gateway, as SPDK's rpc.py makes it. PARAMS is a JSON object, or --key value pairs
 * (a value is JSON when it parses as JSON, else a string; dots nest: --listen_address.trtype tcp).
 */
import { InvalidArgumentError } from '../errors';
import { DEFAULT_SOCKET_PATH, JsonRpcError, rpcCall, type JsonObject, type JsonValue } from '../gateway';

interface RpcArgs {
  socketPath: string;
  retries: number;
  timeoutMs: number;
  method: string;
  params: JsonObject | undefined;
}

export function parseRpcArgs(argv: string[]): RpcArgs {
  let socketPath = DEFAULT_SOCKET_PATH;
  let retries = 0;
  let timeoutMs = 60_000;
  let i = 0;
  // Options come before METHOD, as rpc.py's; everything after METHOD is params.
  for (; i < argv.length && argv[i].startsWith('-'); i += 2) {
    const value = argv[i + 1];
    if (value === undefined) throw new InvalidArgumentError(`option ${argv[i]} needs a value`);
    switch (argv[i]) {
      case '-s': socketPath = value; break;
      case '-r': retries = count(value, '-r'); break;
      case '-t': {
        const s = Number(value);
        if (!(s > 0)) throw new InvalidArgumentError(`-t must be a number of seconds above 0, got '${value}'`);
        timeoutMs = s * 1000;
        break;
      }
      default: throw new InvalidArgumentError(`unknown option ${argv[i]}`);
    }
  }
  const method = argv[i];
  if (method === undefined) throw new InvalidArgumentError('rpc needs a METHOD, e.g. rdmagate rpc rpc_get_methods');
  return { socketPath, retries, timeoutMs, method, params: parseParams(argv.slice(i + 1)) };
}

function count(value: string, flag: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${flag} must be a whole number, got '${value}'`);
  return Number(value);
}

function parseParams(args: string[]): JsonObject | undefined {
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
      else value = true; // a bare flag, like rpc.py's switches
      setPath((params ??= {}), key, value);
    } else {
      throw new InvalidArgumentError(`unexpected argument '${a}': params are one JSON object or --key value pairs`);
    }
  }
  return params;
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
export async function runRpc(argv: string[]): Promise<number> {
  const a = parseRpcArgs(argv);
  try {
    const result = await rpcCall(a.socketPath, a.method, a.params, { retries: a.retries, timeoutMs: a.timeoutMs });
    console.log(JSON.stringify(result, null, 2));
    return 0;
  } catch (e) {
    if (!(e instanceof JsonRpcError)) throw e;
    console.error(`rdmagate rpc: ${a.method}: ${e.message} (code ${e.rpcCode})`);
    return 1;
  }
}
