/**
 * A Mayastor volume target's device URI (`nvmf://10.1.0.5:8420/nqn.2019-05.io.openebs:<uuid>`)
 * as the gateway's backend: where to attach, and which subsystem.
 */
import { isIP } from 'node:net';
import { failedPrecondition, internal } from '../../errors';
import type { NvmfBlockSource } from '../plugin';

/** NVMe/TCP's registered port, for a URI that names none. */
const DEFAULT_TRSVCID = '4420';

export function nvmfSourceFromUri(uri: string): NvmfBlockSource {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw internal(`the volume target's device URI ${JSON.stringify(uri)} is not a URI`);
  }
  // Mayastor writes nvmf:// for NVMe/TCP; nvmf+tcp:// says the same.
  if (url.protocol === 'nvmf+rdma:') {
    throw failedPrecondition(`the volume target is NVMe/RDMA (${uri}); the gateway attaches backends over TCP only`);
  }
  if (url.protocol !== 'nvmf:' && url.protocol !== 'nvmf+tcp:') {
    throw failedPrecondition(`the volume target is shared as ${url.protocol.replace(/:$/, '')} (${uri}), not NVMe-oF: publish it with protocol nvmf`);
  }
  const traddr = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(traddr) === 0) throw internal(`the volume target's device URI ${uri} has no IP address`);
  const subnqn = decodeURIComponent(url.pathname.replace(/^\/+/, ''));
  if (!subnqn.startsWith('nqn.')) throw internal(`the volume target's device URI ${uri} names no subsystem NQN`);
  return { kind: 'nvmf', transport: 'tcp', traddr, trsvcid: url.port || DEFAULT_TRSVCID, subnqn };
}
