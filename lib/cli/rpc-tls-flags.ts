/**
 * The flags that carry JSON-RPC over TLS (lib/jsonrpc/endpoint.ts): this end's certificate
 * and key, and the CA that signs the other end's. The gateway takes them with --rpc-listen
 * (its listener's); clients (rdmagate rpc, group check, the CSI controller) take them for
 * tls:// endpoints.
 */
import { InvalidArgumentError } from '../errors';
import { readRpcTls, type RpcTlsCredentials } from '../jsonrpc/endpoint';
import type { FlagSpec } from './args';

export const RPC_TLS_FLAGS: FlagSpec[] = [
  { name: 'rpc-tls-cert', value: 'FILE', help: 'JSON-RPC over TLS: this end\'s certificate (PEM)' },
  { name: 'rpc-tls-key', value: 'FILE', help: 'JSON-RPC over TLS: this end\'s private key (PEM)' },
  { name: 'rpc-tls-ca', value: 'FILE', help: 'JSON-RPC over TLS: the CA certificate that signs the other end\'s (PEM)' },
];

/** The credentials from the three flags; undefined when none is given; ERR_INVALID_ARG when only some are, or `needed` and none. */
export function rpcTlsFromFlags(flag: (name: string) => string | undefined, needed?: string): RpcTlsCredentials | undefined {
  const [cert, key, ca] = RPC_TLS_FLAGS.map((f) => flag(f.name));
  if (cert === undefined && key === undefined && ca === undefined) {
    if (needed) throw new InvalidArgumentError(`${needed} needs --rpc-tls-cert, --rpc-tls-key and --rpc-tls-ca`);
    return undefined;
  }
  if (cert === undefined || key === undefined || ca === undefined) {
    throw new InvalidArgumentError('--rpc-tls-cert, --rpc-tls-key and --rpc-tls-ca go together');
  }
  return readRpcTls({ cert, key, ca });
}
