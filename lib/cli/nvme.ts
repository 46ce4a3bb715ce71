/**
 * `rdmagate discover | id-ctrl | id-ns`: nvme-cli's commands of the same names, through
 * rdmagate's own host (no kernel module needed), with nvme-cli's flags and output fields.
 * id-ctrl and id-ns take more than one path (repeated -a/-s): one multipath controller.
 * nvme-cli's -S/-C (DH-HMAC-CHAP) and --tls/--tls-key (NVMe/TCP TLS with a PSK) too.
 */
import { InvalidArgumentError } from '../errors';
import { connect, connectMultipath, discover, MultipathController, type ConnectOptions, type DiscoveryLogEntry } from '../nvmf/host';
import { stringFlags, type FlagSpec, type ParsedArgs } from './args';
import { isJson, OUTPUT_FORMAT_FLAG, type Command } from './command';
import { explainConnectRefusal } from './connect-refusal';
import { DHCHAP_FLAGS, dhchapFlags } from './dhchap-flags';
import { formatIdNs } from './id-ns-format';
import { formatPath, MULTIPATH_POLICY_FLAG, MULTIPATH_SELECTOR_FLAG, multipathPolicy, pathFlags, type PathFlags } from './multipath';
import { TLS_FLAGS, tlsFlags } from './tls-flags';

/** The well-known discovery subsystem, which `discover` asks unless given -n. */
const DISCOVERY_NQN = 'nqn.2014-08.org.nvmexpress.discovery';

const TRANSPORT: FlagSpec = { name: 'transport', short: 't', choices: ['tcp', 'rdma'], help: 'tcp (default) or rdma' };
const TRADDR: FlagSpec = { name: 'traddr', short: 'a', value: 'TRADDR', required: true, help: 'the controller\'s IP address' };
const HOSTNQN: FlagSpec = { name: 'hostnqn', short: 'q', value: 'HOSTNQN', help: 'this host\'s NQN (default /etc/nvme/hostnqn, else one made up per run)' };
const HOSTID: FlagSpec = { name: 'hostid', short: 'I', value: 'HOSTID', help: 'this host\'s UUID (default /etc/nvme/hostid)' };
const trsvcid = (fallback: string): FlagSpec => ({ name: 'trsvcid', short: 's', value: 'TRSVCID', help: `the port (default ${fallback})` });
const SUBNQN: FlagSpec = { name: 'nqn', short: 'n', value: 'NQN', required: true, help: 'the subsystem\'s NQN' };

/** Repeated, one path each (multipath.ts pairs them); -t and the rest apply to every path. */
const TRADDRS: FlagSpec = { ...TRADDR, list: true, help: 'the controller\'s IP address; repeat -a (with -s) for more paths to the subsystem' };
const TRSVCIDS: FlagSpec = { ...trsvcid('4420'), list: true,
  help: 'the port (default 4420); repeated: the i-th -s is the i-th -a\'s, one -s is every -a\'s' };

const IDENTIFY_FLAGS: FlagSpec[] = [TRANSPORT, TRADDRS, TRSVCIDS, SUBNQN, HOSTNQN, HOSTID, ...DHCHAP_FLAGS, ...TLS_FLAGS,
  MULTIPATH_POLICY_FLAG, MULTIPATH_SELECTOR_FLAG, OUTPUT_FORMAT_FLAG];

function port(args: ParsedArgs, fallback: number): number {
  return portOf(stringFlags(args)('trsvcid'), fallback);
}

function portOf(s: string | undefined, fallback: number): number {
  if (s === undefined) return fallback;
  if (!/^\d+$/.test(s)) throw new InvalidArgumentError(`-s/--trsvcid must be a port number, got '${s}'`);
  return Number(s);
}

function transport(args: ParsedArgs): 'tcp' | 'rdma' {
  return stringFlags(args)('transport') === 'rdma' ? 'rdma' : 'tcp';  // the parser allows only these
}

/** A required flag's value (the parser has checked it is there). */
function required(args: ParsedArgs, name: string, short: string): string {
  const v = stringFlags(args)(name);
  if (!v) throw new InvalidArgumentError(`-${short}/--${name} is required`);
  return v;
}

function connectOptions(args: ParsedArgs, path: PathFlags): ConnectOptions & { trsvcid: number } {
  const flag = stringFlags(args);
  return {
    transport: transport(args),
    traddr: path.traddr,
    trsvcid: portOf(path.trsvcid, 4420),
    subnqn: required(args, 'nqn', 'n'),
    hostnqn: flag('hostnqn'),
    hostid: flag('hostid'),
    ...dhchapFlags(args),
    ...tlsFlags(args),
    ctrlLossTmo: 0,
  };
}

async function runDiscover(args: ParsedArgs): Promise<number> {
  const flag = stringFlags(args);
  const t = transport(args);
  // As nvme-cli: NVMe/TCP's discovery port is 8009, NVMe/RDMA's 4420.
  const options = { transport: t, traddr: required(args, 'traddr', 'a'), trsvcid: port(args, t === 'rdma' ? 4420 : 8009),
    subnqn: flag('nqn') ?? DISCOVERY_NQN, hostnqn: flag('hostnqn'), hostid: flag('hostid'), ...dhchapFlags(args), ...tlsFlags(args) };
  const entries = await discover(options).catch((e: unknown) => { throw explainConnectRefusal(e, options); });
  if (isJson(args)) {
    console.log(JSON.stringify({ records: entries.map(record) }, null, 2));
    return 0;
  }
  console.log(`\nDiscovery Log Number of Records ${entries.length}`);
  entries.forEach((e, i) => {
    console.log(`=====Discovery Log Entry ${i}======`);
    for (const [k, v] of Object.entries(record(e))) console.log(`${`${k}:`.padEnd(9)}${v}`);
  });
  return 0;
}

/** NVMe/TCP's SECTYPE as libnvme (so nvme-cli's discover) names it. */
const SECTYPES: readonly string[] = ['none', 'tls', 'tls13'];

function record(e: DiscoveryLogEntry): Record<string, string | number> {
  const secure = ['not specified', 'required', 'not required'][e.treq & 3] ?? 'reserved';
  const treq = e.treq & 4 ? `${secure}, sq flow control disable supported` : secure;
  return { trtype: e.trtype, adrfam: e.adrfam, subtype: e.subtype, treq, portid: e.portid, trsvcid: e.trsvcid,
    subnqn: e.subnqn, traddr: e.traddr, eflags: e.eflags, sectype: SECTYPES[e.sectype] ?? e.sectype };
}

async function runIdentify(which: 'id-ctrl' | 'id-ns', args: ParsedArgs): Promise<number> {
  const json = isJson(args);
  const paths = pathFlags(args);
  const policy = multipathPolicy(args, paths.length);
  const [first, ...more] = paths;
  if (!first?.traddr) throw new InvalidArgumentError('-a/--traddr is required');
  const options = connectOptions(args, first);
  // A refusal is said for the first path: the multipath controller gives up with its error when no path connects.
  const c = await (more.length === 0 ? connect(options)
    : connectMultipath({ paths: [options, ...more.map((p) => connectOptions(args, p))], policy }))
    .catch((e: unknown) => { throw explainConnectRefusal(e, options); });
  try {
    if (which === 'id-ctrl') {
      const id = await c.identify();
      if (!(c instanceof MultipathController)) {
        print(id as unknown as Record<string, unknown>, json, 'NVME Identify Controller:');
      } else if (json) {
        print({ ...id, paths: c.paths() }, true, '');
      } else {
        // The paths as they stand after the identify, under the fields of whichever path served it.
        const list = c.paths();
        print({ ...id, paths: list.length }, false, 'NVME Identify Controller:');
        for (const p of list) console.log(formatPath(p));
      }
    } else {
      const nsid = Number(stringFlags(args)('namespace-id') ?? c.namespaces[0]?.nsid ?? 1);
      if (!Number.isInteger(nsid) || nsid < 1) throw new InvalidArgumentError('--namespace-id must be a positive integer');
      const ns = await c.identifyNamespace(nsid);
      // JSON keeps the library's NamespaceIdentity (sizes in bytes as well as blocks); text is nvme-cli's.
      if (json) print(ns as unknown as Record<string, unknown>, true, '');
      else for (const line of formatIdNs(ns)) console.log(line);
    }
  } finally {
    await c.close();
  }
  return 0;
}

function print(fields: Record<string, unknown>, json: boolean, title: string): void {
  if (json) {
    console.log(JSON.stringify(fields, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v), 2));
    return;
  }
  console.log(title);
  for (const [k, v] of Object.entries(fields)) {
    const text = typeof v === 'number' && !['sn', 'mn', 'fr'].includes(k) && Number.isInteger(v) && v > 9
      ? `${v} (0x${v.toString(16)})` : typeof v === 'object' ? JSON.stringify(v) : String(v);
    console.log(`${k.padEnd(10)}: ${text}`);
  }
}

export const DISCOVER_COMMAND: Command = {
  name: 'discover',
  description: 'nvme-cli\'s discover, through rdmagate\'s own NVMe-oF host: a discovery controller\'s log',
  flags: [TRANSPORT, TRADDR, trsvcid('8009 over tcp, 4420 over rdma'),
    { name: 'nqn', short: 'n', value: 'NQN', help: `the discovery subsystem's NQN (default ${DISCOVERY_NQN})` },
    HOSTNQN, HOSTID, ...DHCHAP_FLAGS, ...TLS_FLAGS, OUTPUT_FORMAT_FLAG],
  run: runDiscover,
};

export const ID_CTRL_COMMAND: Command = {
  name: 'id-ctrl',
  description: 'nvme-cli\'s id-ctrl, through rdmagate\'s own NVMe-oF host: Identify Controller',
  flags: IDENTIFY_FLAGS,
  run: (args) => runIdentify('id-ctrl', args),
};

export const ID_NS_COMMAND: Command = {
  name: 'id-ns',
  description: 'nvme-cli\'s id-ns, through rdmagate\'s own NVMe-oF host: Identify Namespace',
  flags: [...IDENTIFY_FLAGS, { name: 'namespace-id', value: 'NSID', help: 'the namespace (default the first active one)' }],
  run: (args) => runIdentify('id-ns', args),
};
