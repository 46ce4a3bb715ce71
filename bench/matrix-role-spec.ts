/**
 * What bench/matrix-role.ts is asked to build (one JSON argument) and the line it prints
 * when it listens. Pure, so that the tests can check both without starting anything.
 */
import { TRANSPORTS, type Transport } from './matrix-cases';

/**
 * The processes a path runs beside the host (the bench process):
 * - target: the direct path's null target;
 * - backend: a null target, as a Mayastor nexus would be reached;
 * - gateway: attaches the backend and re-exports it;
 * - dpu: attaches the gateway and shows the host its namespace, where a real DPU presents a
 *   PCIe function.
 */
export const SERVER_ROLES = ['target', 'dpu', 'gateway', 'backend'] as const;
export type ServerRole = (typeof SERVER_ROLES)[number];

/** A subsystem to attach: where it listens, and its NQN. */
export interface Remote {
  transport: Transport;
  traddr: string;
  trsvcid: number;
  subnqn: string;
}

/**
 * A role listens with `transport` on `address`; the gateway and the DPU attach `remote`
 * first, the target and the backend attach nothing.
 */
export interface RoleSpec {
  role: ServerRole;
  reactors: number;
  transport: Transport;
  address: string;
  remote?: Remote;
}

/** What a role prints, as one JSON line on stdout, once it listens. */
export interface RoleReady {
  role: ServerRole;
  pid: number;
  traddr: string;
  port: number;
  nqn: string;
}

type Fields = Record<string, unknown>;

function field<T>(o: Fields, name: string, ok: (v: unknown) => v is T, what: string, where = 'role spec'): T {
  const v = o[name];
  if (!ok(v)) throw new Error(`${where}: ${name} must be ${what}, got ${JSON.stringify(v)}`);
  return v;
}

const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 64;
const isPort = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
const isTransport = (v: unknown): v is Transport => TRANSPORTS.includes(v as Transport);
const isRole = (v: unknown): v is ServerRole => SERVER_ROLES.includes(v as ServerRole);
const isObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v);
/** The roles that attach another. */
const forwards = (role: ServerRole) => role === 'gateway' || role === 'dpu';

function parseRemote(o: Fields): Remote {
  const where = 'role spec: remote';
  return {
    transport: field(o, 'transport', isTransport, `one of ${TRANSPORTS.join(', ')}`, where),
    traddr: field(o, 'traddr', isText, 'an address', where),
    trsvcid: field(o, 'trsvcid', isPort, 'a port', where),
    subnqn: field(o, 'subnqn', isText, 'an NQN', where),
  };
}

export function parseRoleSpec(text: string): RoleSpec {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new Error(`role spec: not JSON: ${JSON.stringify(text)}`);
  }
  if (!isObject(o)) throw new Error('role spec: not an object');
  const role = field(o, 'role', isRole, `one of ${SERVER_ROLES.join(', ')}`);
  const spec: RoleSpec = {
    role,
    reactors: field(o, 'reactors', isCount, 'a count in [1, 64]'),
    transport: field(o, 'transport', isTransport, `one of ${TRANSPORTS.join(', ')}`),
    address: field(o, 'address', isText, 'an address'),
  };
  if (forwards(role)) return { ...spec, remote: parseRemote(field(o, 'remote', isObject, 'an object')) };
  if (o.remote !== undefined) throw new Error(`role spec: a ${role} attaches nothing, but remote was given`);
  return spec;
}

/** The ready line, or undefined for any other line (a role may log before it listens). */
export function parseReadyLine(line: string): RoleReady | undefined {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isObject(o)) return undefined;
  if (!isRole(o.role) || !isPort(o.port) || !isText(o.nqn) || !isText(o.traddr) || typeof o.pid !== 'number') return undefined;
  return { role: o.role, pid: o.pid, traddr: o.traddr, port: o.port, nqn: o.nqn };
}
