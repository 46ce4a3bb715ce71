/**
 * The roles one `rdmagate csi` process serves (--role): `controller` (Identity and
 * Controller), one node role (Identity and Node), or the controller and one node role
 * together on one socket, e.g. `controller,default`: a single-node cluster, or a
 * conformance tool (csi-sanity) that calls every service on one endpoint.
 *
 * A process serves at most one node role: one Node service has one attacher, and the CO
 * knows a node by the one node_id it answers.
 */
import { RdmagateError } from '../errors';
import { NODE_ROLES, type NodeRole } from './volume-attacher';

export const CONTROLLER_ROLE = 'controller';
export type CsiRole = typeof CONTROLLER_ROLE | NodeRole;
/** Every role, in the order a role list is written back (the controller first). */
export const CSI_ROLES: readonly CsiRole[] = [CONTROLLER_ROLE, ...NODE_ROLES];

/** Why a role list was refused. */
export type CsiRoleErrorReason = 'empty' | 'unknown' | 'duplicate' | 'conflict';

/** A role list that names no role, an unknown one, one twice, or two node roles (code ERR_CSI_ROLE). */
export class CsiRoleError extends RdmagateError {
  readonly reason: CsiRoleErrorReason;
  constructor(reason: CsiRoleErrorReason, message: string) {
    super('ERR_CSI_ROLE', message);
    this.reason = reason;
  }
}

/** What a process serves, by its role list. */
export interface CsiRoles {
  /** Serves the Controller service. */
  readonly controller: boolean;
  /** The node role whose Node service it serves; undefined for a controller alone. */
  readonly node: NodeRole | undefined;
  /** The list as written back, the controller first: `controller`, `dpu`, `controller,default`. */
  readonly label: string;
}

const isRole = (r: string): r is CsiRole => (CSI_ROLES as readonly string[]).includes(r);

/**
 * Parses a comma-separated role list (`controller`, `default`, `controller,default`, in any
 * order; blanks around a comma are ignored). `what` names the list in messages.
 */
export function parseCsiRoles(text: string, what = '--role'): CsiRoles {
  const names = text.split(',').map((r) => r.trim());
  if (names.some((r) => r === '')) {
    throw new CsiRoleError('empty', `${what} '${text}' has an empty role: give ${CSI_ROLES.join(', ')}, or controller,<node role>`);
  }
  const roles: CsiRole[] = [];
  for (const r of names) {
    if (!isRole(r)) {
      throw new CsiRoleError('unknown', `${what} must be one of ${CSI_ROLES.join(', ')}, or controller,<node role>; '${r}' is none of them`);
    }
    if (roles.includes(r)) throw new CsiRoleError('duplicate', `${what} '${text}' names ${r} twice`);
    roles.push(r);
  }
  const nodes = roles.filter((r): r is NodeRole => r !== CONTROLLER_ROLE);
  if (nodes.length > 1) {
    throw new CsiRoleError('conflict', `${what} '${text}' names node roles ${nodes.join(' and ')}: one process serves one node role `
      + '(one attacher, one node_id)');
  }
  const controller = roles.includes(CONTROLLER_ROLE);
  const node = nodes[0];
  return { controller, node, label: CSI_ROLES.filter((r) => roles.includes(r)).join(',') };
}
