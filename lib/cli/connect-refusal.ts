/**
 * A Connect refused over its subsystem or host NQN, said in words. The status alone
 * ("connect: invalid parameters, bad field at byte 256") does not tell a user what to fix,
 * and which status a target picks differs (Linux and rdmagate answer an unknown subsystem
 * with Invalid Parameters and a host not let in with Invalid Host), so both are named.
 * Likewise a plain NVMe/TCP connection that a listener requiring TLS drops before it
 * answers the ICReq: the socket error alone does not say that --tls-key is what is missing.
 */
import { NvmeConnectError, type NvmeStatus } from '../nvmf';
import { defaultHostNqn } from '../nvmf/host/options';

const SCT_COMMAND_SPECIFIC = 1;
const SC_CONNECT_INVALID_PARAMETERS = 0x82;
const SC_CONNECT_INVALID_HOST = 0x84;
/** How the host names the field Invalid Parameters points at: SUBNQN is byte 256 of the Connect data, HOSTNQN 512. */
const NQN_FIELD = /byte (256|512) of the Connect data/;

export interface ConnectTarget {
  traddr: string;
  trsvcid: number;
  subnqn: string;
  /** The host NQN asked for; default the one the host uses when given none. */
  hostnqn?: string;
  transport?: string;
  /** The TLS PSK connected with (--tls-key), if any: only its presence is looked at. */
  psk?: string;
}

/** How the host says that the peer closed or reset the connection before its ICResp came. */
const DROPPED_AT_ICREQ = /Connection reset by peer|closed the connection during ICReq\/ICResp/;

function isNqnRefusal(e: NvmeConnectError): e is NvmeConnectError & { status: NvmeStatus } {
  const s = e.status;
  if (!s || s.sct !== SCT_COMMAND_SPECIFIC) return false;
  return s.sc === SC_CONNECT_INVALID_HOST || (s.sc === SC_CONNECT_INVALID_PARAMETERS && NQN_FIELD.test(e.message));
}

/** `e` reworded where it is such a refusal; any other error as it was. */
export function explainConnectRefusal(e: unknown, t: ConnectTarget): unknown {
  if (e instanceof NvmeConnectError && !e.status && t.psk === undefined && t.transport !== 'rdma' && DROPPED_AT_ICREQ.test(e.message)) {
    return new NvmeConnectError(`${e.message}: a listener that requires TLS (a secure channel) drops a host that connects ` +
      'without it; if this one does, connect with --tls-key KEY (the PSK, NVMeTLSkey-1:...)', e.errno);
  }
  if (!(e instanceof NvmeConnectError) || !isNqnRefusal(e)) return e;
  const s = e.status;
  const where = t.traddr.includes(':') ? `[${t.traddr}]:${t.trsvcid}` : `${t.traddr}:${t.trsvcid}`;
  const status = `${s.statusName} (sct ${s.sct}, sc 0x${s.sc.toString(16)}${s.dnr ? ', dnr' : ''})`;
  return new NvmeConnectError(`no subsystem ${t.subnqn} on ${where}, or host ${t.hostnqn ?? defaultHostNqn()} not allowed: ${status}`,
    e.errno, s);
}
