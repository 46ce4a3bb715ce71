// ibv_wc_status values (rdma-core's verbs.h), as ibv_wc_status_str() words them.
const NAMES = [
  'success', 'local length error', 'local QP operation error', 'local EE context operation error',
  'local protection error', 'Work Request Flushed Error', 'memory management operation error',
  'bad response error', 'local access error', 'remote invalid request error', 'remote access error',
  'remote operation error', 'transport retry counter exceeded', 'RNR retry counter exceeded',
  'local RDD violation error', 'remote invalid RD request', 'aborted error', 'invalid EE context number',
  'invalid EE context state', 'fatal error', 'response timeout error', 'general error',
  'TM error', 'TM rendezvous error',
];

export const WC_SUCCESS = 0;
export const WC_WR_FLUSH_ERR = 5;

export function wcStatusName(status: number): string {
  return NAMES[status] ?? `unknown status ${status}`;
}
