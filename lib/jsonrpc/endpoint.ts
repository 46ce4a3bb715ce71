/**
 * Where a gateway's JSON-RPC is reached: its unix socket on the same machine, or, for a
 * gateway on another machine (a member of a gateway group the CSI controller drives from
 * elsewhere), `tls://HOST:PORT`: JSON-RPC over TLS 1.3 with certificates both ways. Both
 * ends present a certificate signed by the CA the other trusts, so that only holders of
 * such a certificate can drive the gateway: the RPCs say what to export and to whom.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../errors';

export type RpcEndpoint = { kind: 'unix'; path: string } | { kind: 'tls'; host: string; port: number };

/** PEM text: this end's certificate and key, and the CA that signs the other end's. */
export interface RpcTlsCredentials {
  cert: string;
  key: string;
  ca: string;
}

/** The files of RpcTlsCredentials, as the CLI flags name them. */
export interface RpcTlsFiles {
  cert: string;
  key: string;
  ca: string;
}

const TLS_PREFIX = 'tls://';

export function isTlsEndpoint(text: string): boolean {
  return text.startsWith(TLS_PREFIX);
}

/** A unix socket path (absolute), or tls://HOST:PORT (a numeric IPv6 address in brackets). */
export function parseRpcEndpoint(text: string, what = 'endpoint'): RpcEndpoint {
  if (!isTlsEndpoint(text)) return { kind: 'unix', path: text };
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text.slice(TLS_PREFIX.length)) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text.slice(TLS_PREFIX.length));
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535 || (m[1]!.includes(':') && isIP(m[1]!) !== 6)) {
    throw new InvalidArgumentError(`${what} must be a unix socket path or tls://HOST:PORT, got '${text}'`);
  }
  return { kind: 'tls', host: m[1]!, port };
}

export function endpointText(e: RpcEndpoint): string {
  if (e.kind === 'unix') return e.path;
  return `${TLS_PREFIX}${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;
}

/** Reads the three PEM files; ERR_INVALID_ARG naming the one that cannot be read. */
export function readRpcTls(files: RpcTlsFiles): RpcTlsCredentials {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      throw new InvalidArgumentError(`the RPC TLS ${what} ${path} cannot be read: ${(e as Error).message}`);
    }
  };
  return { cert: read(files.cert, 'certificate'), key: read(files.key, 'key'), ca: read(files.ca, 'CA certificate') };
}
