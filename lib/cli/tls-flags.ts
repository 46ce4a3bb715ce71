/**
 * nvme-cli's NVMe/TCP TLS flags, for the commands that connect as a host (discover, id-ctrl,
 * id-ns, perf): --tls and --tls-key KEY, the PSK in the interchange form
 * `NVMeTLSkey-1:0X:<base64>:` that `nvme gen-tls-key` (or `rdmagate gen-tls-key`) writes,
 * given as it is, as -S takes a DH-HMAC-CHAP secret. nvme-cli's --tls alone looks the PSK up
 * in the kernel's keyring; rdmagate's host has none to look in, so --tls needs --tls-key,
 * and --tls-key alone means TLS. The PSK's form is the host's to check (ERR_INVALID_KEY).
 */
import { InvalidArgumentError } from '../errors';
import type { TlsPsk } from '../nvmf/tls';
import { stringFlags, type FlagSpec, type ParsedArgs } from './args';

export const TLS_FLAG: FlagSpec = { name: 'tls', boolean: true,
  help: 'NVMe/TCP TLS 1.3 with a PSK: needs --tls-key (there is no kernel keyring to look one up in)' };

export const TLS_KEY_FLAG: FlagSpec = { name: 'tls-key', value: 'KEY',
  help: 'NVMe/TCP TLS: connect over TLS with this PSK (NVMeTLSkey-1:0X:...:, as nvme gen-tls-key writes); implies --tls' };

export const TLS_FLAGS: readonly FlagSpec[] = [TLS_FLAG, TLS_KEY_FLAG];

/** The PSK the flags give, as ConnectOptions' psk; none given: none set. Messages never hold the key. */
export function tlsFlags(args: ParsedArgs): TlsPsk {
  const psk = stringFlags(args)(TLS_KEY_FLAG.name);
  if (psk === undefined) {
    if (args.flags.get(TLS_FLAG.name) === true) {
      throw new InvalidArgumentError('--tls needs --tls-key KEY: rdmagate\'s host has no kernel keyring to find a PSK in; ' +
        'give the PSK (NVMeTLSkey-1:0X:<base64>:, as nvme gen-tls-key or rdmagate gen-tls-key writes it)');
    }
    return {};
  }
  if (psk === '') throw new InvalidArgumentError('--tls-key must not be empty');
  if (stringFlags(args)('transport') === 'rdma') throw new InvalidArgumentError('--tls and --tls-key are NVMe/TCP\'s (TLS): -t rdma has none');
  return { psk };
}
