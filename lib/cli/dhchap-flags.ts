/**
 * nvme-cli's DH-HMAC-CHAP flags, for the commands that connect as a host (discover, id-ctrl,
 * id-ns, perf): -S/--dhchap-secret and -C/--dhchap-ctrl-secret, each a secret in the
 * `DHHC-1:0X:<base64>:` form that `nvme gen-dhchap-key` writes, as nvme-cli takes them.
 * Their form is the host's to check; a wrong one fails the connect with ERR_INVALID_KEY.
 */
import type { DhchapKeys } from '../nvmf/dhchap';
import { stringFlags, type FlagSpec, type ParsedArgs } from './args';

export const DHCHAP_SECRET_FLAG: FlagSpec = { name: 'dhchap-secret', short: 'S', value: 'SECRET',
  help: 'DH-HMAC-CHAP: authenticate with this secret (DHHC-1:0X:...:, as nvme gen-dhchap-key writes)' };

export const DHCHAP_CTRL_SECRET_FLAG: FlagSpec = { name: 'dhchap-ctrl-secret', short: 'C', value: 'SECRET',
  help: 'DH-HMAC-CHAP: authenticate the controller too, with its secret (needs -S)' };

export const DHCHAP_FLAGS: readonly FlagSpec[] = [DHCHAP_SECRET_FLAG, DHCHAP_CTRL_SECRET_FLAG];

/** The secrets the flags give, as ConnectOptions' fields; none given: none set. */
export function dhchapFlags(args: ParsedArgs): DhchapKeys {
  const flag = stringFlags(args);
  const dhchapKey = flag(DHCHAP_SECRET_FLAG.name);
  const dhchapCtrlrKey = flag(DHCHAP_CTRL_SECRET_FLAG.name);
  return { ...(dhchapKey !== undefined ? { dhchapKey } : {}), ...(dhchapCtrlrKey !== undefined ? { dhchapCtrlrKey } : {}) };
}
