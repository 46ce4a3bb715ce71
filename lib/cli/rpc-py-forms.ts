/**
 * rpc.py's own command lines for the methods one meets first, so that SPDK's documented
 * commands work as written (issue 20):
 *   nvmf_create_transport -t tcp
 *   bdev_malloc_create -b Malloc0 64 512            64 MiB of 512-byte blocks
 *   bdev_null_create Null0 64 512
 *   nvmf_create_subsystem NQN -a -s SN -m MN -n MAX_NAMESPACES
 *   nvmf_subsystem_add_listener NQN -t tcp -a 10.0.0.1 -s 4420 [-f ipv4] [-k|--secure-channel]
 *   nvmf_subsystem_add_ns NQN BDEV [-n NSID] [-u UUID] [-g NGUID]
 *   bdev_nvme_attach_controller -b NAME -t tcp -a IP -s PORT -n SUBNQN [-q HOSTNQN] [-f ipv4]
 *                               [--dhchap-key KEY [--dhchap-ctrlr-key KEY]] [--psk KEY]
 *   keyring_file_add_key NAME PATH
 *   keyring_file_remove_key NAME
 *   nvmf_subsystem_add_host NQN HOST [--dhchap-key KEY [--dhchap-ctrlr-key KEY]] [--psk KEY]
 *   nvmf_subsystem_set_keys NQN HOST [--dhchap-key KEY [--dhchap-ctrlr-key KEY]]
 *   nvmf_set_config [--dhchap-digests sha256,sha384] [--dhchap-dhgroups null,ffdhe2048]
 * With --key value pairs (underscores: --dhchap_key) or a JSON object they go as every other
 * method does.
 */
import { InvalidArgumentError } from '../errors';
import type { JsonObject, JsonValue } from '../jsonrpc';

interface Option {
  /** Where the value goes; dots nest. */
  param: string;
  boolean?: boolean;
  number?: boolean;
  /** A comma-separated list, sent as an array (rpc.py's --dhchap-digests sha256,sha384). */
  list?: boolean;
}

interface Form {
  options: Record<string, Option>;
  /** The positional arguments' params, in order. */
  positionals: Option[];
  /** From rpc.py's arguments to the method's params, where they differ. */
  finish?(p: JsonObject): JsonObject;
}

const MIB = 1024 * 1024;

/** rpc.py's total_size (MiB) and block_size: the method takes num_blocks. */
function sizeInBlocks(p: JsonObject): JsonObject {
  const { total_size: mib, block_size: bs, ...rest } = p;
  if (typeof mib !== 'number' || typeof bs !== 'number' || bs <= 0 || (mib * MIB) % bs !== 0) {
    throw new InvalidArgumentError('total_size (MiB) and block_size must be numbers, the size a whole number of blocks');
  }
  return { ...rest, num_blocks: (mib * MIB) / bs, block_size: bs };
}

const listener = (prefix: string): Record<string, Option> => ({
  '-t': { param: `${prefix}trtype` }, '-a': { param: `${prefix}traddr` }, '-s': { param: `${prefix}trsvcid` },
  '-f': { param: `${prefix}adrfam` },
});

/** rpc.py's DH-HMAC-CHAP key options: the names of keys in the gateway's keyring. */
const DHCHAP_KEYS: Record<string, Option> = {
  '--dhchap-key': { param: 'dhchap_key' }, '--dhchap-ctrlr-key': { param: 'dhchap_ctrlr_key' },
};

/** rpc.py's --psk: the name of an NVMe/TCP TLS PSK in the gateway's keyring, never the PSK. */
const PSK: Record<string, Option> = { '--psk': { param: 'psk' } };

const FORMS: Record<string, Form> = {
  nvmf_create_transport: { options: { '-t': { param: 'trtype' } }, positionals: [] },
  bdev_malloc_create: {
    options: { '-b': { param: 'name' } },
    positionals: [{ param: 'total_size', number: true }, { param: 'block_size', number: true }],
    finish: sizeInBlocks,
  },
  bdev_null_create: {
    options: {},
    positionals: [{ param: 'name' }, { param: 'total_size', number: true }, { param: 'block_size', number: true }],
    finish: sizeInBlocks,
  },
  nvmf_create_subsystem: {
    options: { '-a': { param: 'allow_any_host', boolean: true }, '-s': { param: 'serial_number' },
      '-m': { param: 'model_number' }, '-n': { param: 'max_namespaces', number: true } },
    positionals: [{ param: 'nqn' }],
  },
  nvmf_subsystem_add_listener: {
    options: { ...listener('listen_address.'), '-k': { param: 'secure_channel', boolean: true },
      '--secure-channel': { param: 'secure_channel', boolean: true } },
    positionals: [{ param: 'nqn' }],
  },
  nvmf_subsystem_add_ns: {
    options: { '-n': { param: 'namespace.nsid', number: true }, '-u': { param: 'namespace.uuid' },
      '-g': { param: 'namespace.nguid' } },
    positionals: [{ param: 'nqn' }, { param: 'namespace.bdev_name' }],
  },
  bdev_nvme_attach_controller: {
    options: { '-b': { param: 'name' }, '-n': { param: 'subnqn' }, '-q': { param: 'hostnqn' }, ...listener(''), ...DHCHAP_KEYS, ...PSK,
      '-x': { param: 'multipath' } },
    positionals: [],
  },
  bdev_nvme_set_multipath_policy: {
    options: { '-b': { param: 'name' }, '-p': { param: 'policy' }, '-s': { param: 'selector' }, '-r': { param: 'rr_min_io', number: true } },
    positionals: [],
  },
  // With -t/-a/-s, only that path of the controller goes.
  bdev_nvme_detach_controller: { options: { ...listener(''), '-n': { param: 'subnqn' } }, positionals: [{ param: 'name' }] },
  keyring_file_add_key: { options: {}, positionals: [{ param: 'name' }, { param: 'path' }] },
  keyring_file_remove_key: { options: {}, positionals: [{ param: 'name' }] },
  nvmf_subsystem_add_host: { options: { ...DHCHAP_KEYS, ...PSK }, positionals: [{ param: 'nqn' }, { param: 'host' }] },
  nvmf_subsystem_set_keys: { options: DHCHAP_KEYS, positionals: [{ param: 'nqn' }, { param: 'host' }] },
  nvmf_set_config: {
    options: { '--dhchap-digests': { param: 'dhchap_digests', list: true }, '--dhchap-dhgroups': { param: 'dhchap_dhgroups', list: true } },
    positionals: [],
  },
};

/**
 * Whether `args` (after METHOD) are in rpc.py's form: a short option, a bare word, or one of
 * the form's own long options (rpc.py's are dashed, --dhchap-key; params are not, --dhchap_key).
 */
export function isRpcPyForm(method: string, args: readonly string[]): boolean {
  const form = FORMS[method];
  if (form === undefined || args.length === 0) return false;
  const first = args[0]!;
  return Object.hasOwn(form.options, first) || (!first.startsWith('--') && !first.trimStart().startsWith('{'));
}

/** The method's params from rpc.py's arguments; throws InvalidArgumentError naming what is wrong. */
export function rpcPyParams(method: string, args: readonly string[]): JsonObject {
  const form = FORMS[method]!;
  const params: JsonObject = {};
  let next = 0;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const option = form.options[a];
    if (option) {
      if (option.boolean) {
        set(params, option.param, true);
        continue;
      }
      const value = args[++i];
      // As argparse: an option's value is not the next option (`-s -a` is -s left empty).
      if (value === undefined || (value.startsWith('-') && !/^-\d/.test(value))) {
        throw new InvalidArgumentError(`${method}: ${a} needs a value`);
      }
      set(params, option.param, typed(value, option, a));
    } else if (a.startsWith('-') && !/^-\d/.test(a)) {
      const known = Object.keys(form.options).join(' ');
      throw new InvalidArgumentError(`${method}: unknown option ${a}${known ? ` (it takes ${known})` : ''}`);
    } else {
      const slot = form.positionals[next++];
      if (!slot) throw new InvalidArgumentError(`${method}: unexpected argument '${a}'`);
      set(params, slot.param, typed(a, slot, slot.param));
    }
  }
  if (next < form.positionals.length) {
    throw new InvalidArgumentError(`${method}: missing ${form.positionals.slice(next).map((p) => p.param).join(', ')}`);
  }
  return form.finish ? form.finish(params) : params;
}

function typed(value: string, option: Option, name: string): JsonValue {
  if (option.list) return value.split(',').filter((v) => v !== '');
  if (!option.number) return value;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got '${value}'`);
  return n;
}

function set(root: JsonObject, path: string, value: JsonValue): void {
  const parts = path.split('.');
  let o = root;
  for (const k of parts.slice(0, -1)) o = (o[k] ??= {}) as JsonObject;
  o[parts[parts.length - 1]!] = value;
}
