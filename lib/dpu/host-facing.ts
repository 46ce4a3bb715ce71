/**
 * The host-facing endpoint, TRTYPE:ADDR:PORT (tcp:10.0.0.1:4420, rdma:[fd00::1]:4420):
 * where the emulated NVMe function listens for its host. A real DPU shows its host a PCIe
 * function; here the host's kernel connects to this fabrics address, once.
 */
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../errors';

export interface HostFacing {
  trtype: 'tcp' | 'rdma';
  traddr: string;
  trsvcid: number;
  adrfam: 'IPv4' | 'IPv6';
}

export const DEFAULT_HOST_FACING = 'tcp:127.0.0.1:4420';

export function parseHostFacing(value: string, what = 'hostFacing'): HostFacing {
  const m = /^([a-z]+):(\[[^\]]*\]|[^:[\]]*):(\d{1,5})$/i.exec(value);
  if (!m) throw new InvalidArgumentError(`${what} must be TRTYPE:ADDR:PORT (tcp:10.0.0.1:4420, rdma:[fd00::1]:4420), got '${value}'`);
  const trtype = m[1].toLowerCase();
  if (trtype !== 'tcp' && trtype !== 'rdma') throw new InvalidArgumentError(`${what}: the transport must be tcp or rdma, got '${m[1]}'`);
  const traddr = m[2].replace(/^\[(.*)\]$/, '$1');
  const family = isIP(traddr);
  if (family === 0) throw new InvalidArgumentError(`${what}: the address must be an IP address, got '${traddr}'`);
  if (family === 6 && !m[2].startsWith('[')) throw new InvalidArgumentError(`${what}: write an IPv6 address in brackets, got '${value}'`);
  const trsvcid = Number(m[3]);
  if (trsvcid < 1 || trsvcid > 65535) throw new InvalidArgumentError(`${what}: the port must be in [1, 65535], got ${trsvcid}`);
  return { trtype, traddr, trsvcid, adrfam: family === 4 ? 'IPv4' : 'IPv6' };
}
