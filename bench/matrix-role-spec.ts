/**
 * What bench/matrix-role.ts is asked to build (one JSON argument) and the line it prints
 * when it listens. Pure, so that the tests can check both without starting anything.
 */
import { TRANSPORTS, type Transport } from './matrix-cases';

/**
 * storage: a backend null target and the storage gateway that attaches it over loopback
 * NVMe/TCP and exports it over `transport` on `address`. dpu: a target that attaches the
 * storage gateway's namespace over `transport` and re-exports it to the host over loopback
 * NVMe/TCP.
 */
export type RoleSpec =
  | { role: 'storage'; reactors: number; transport: Transport; address: string }
  | { role: 'dpu'; reactors: number; transport: Transport; traddr: string; trsvcid: number; subnqn: string };

export type RoleName = RoleSpec['role'];

/** What a role prints, as one JSON line on stdout, once it listens. */
export interface RoleReady {
  role: RoleName;
  pid: number;
  /** Where it listens: the transport under test for storage, loopback TCP for the DPU. */
  traddr: string;
  port: number;
  nqn: string;
}

type Fields = Record<string, unknown>;

function field<T>(o: Fields, name: string, ok: (v: unknown) => v is T, what: string): T {
  const v = o[name];
  if (!ok(v)) throw new Error(`role spec: ${name} must be ${what}, got ${JSON.stringify(v)}`);
  return v;
}

const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 64;
const isPort = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
const isTransport = (v: unknown): v is Transport => TRANSPORTS.includes(v as Transport);

export function parseRoleSpec(text: string): RoleSpec {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new Error(`role spec: not JSON: ${JSON.stringify(text)}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error('role spec: not an object');
  const f = o as Fields;
  const reactors = field(f, 'reactors', isCount, 'a count in [1, 64]');
  const transport = field(f, 'transport', isTransport, `one of ${TRANSPORTS.join(', ')}`);
  if (f.role === 'storage') return { role: 'storage', reactors, transport, address: field(f, 'address', isText, 'an address') };
  if (f.role === 'dpu') {
    return {
      role: 'dpu', reactors, transport,
      traddr: field(f, 'traddr', isText, 'an address'),
      trsvcid: field(f, 'trsvcid', isPort, 'a port'),
      subnqn: field(f, 'subnqn', isText, 'an NQN'),
    };
  }
  throw new Error(`role spec: role must be storage or dpu, got ${JSON.stringify(f.role)}`);
}

/** The ready line, or undefined for any other line (a role may log before it listens). */
export function parseReadyLine(line: string): RoleReady | undefined {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof o !== 'object' || o === null) return undefined;
  const r = o as Fields;
  if ((r.role !== 'storage' && r.role !== 'dpu') || !isPort(r.port) || !isText(r.nqn) || !isText(r.traddr) ||
    typeof r.pid !== 'number') return undefined;
  return { role: r.role, pid: r.pid, traddr: r.traddr, port: r.port, nqn: r.nqn };
}
