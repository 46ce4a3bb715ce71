/**
 * `rdmagate gen-tls-key`: nvme-cli's gen-tls-key, the part that makes a key. Prints a
 * configured NVMe/TCP TLS PSK in the interchange form `NVMeTLSkey-1:0X:<base64>:` that
 * `nvme connect --tls-key`, nvmet, SPDK's keyring and rdmagate (--tls-key, keyring files,
 * ConnectOptions.psk) all read: -m/--hmac 1 (SHA-256, 32 bytes, the default) or 2 (SHA-384,
 * 48 bytes), of a random key or of -s/--secret's. nvme-cli's --insert, --keyring and
 * --identity put keys in the kernel's keyring, which rdmagate does not use: not here.
 * Loads no addon.
 */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../errors';
import { encodeTlsPsk, type TlsPskHash } from '../nvmf/tls';
import { stringFlags, type FlagSpec, type ParsedArgs } from './args';
import type { Command } from './command';

const HMAC: FlagSpec = { name: 'hmac', short: 'm', choices: ['1', '2'],
  help: 'the PSK\'s hash: 1 SHA-256, a 32-byte key (default); 2 SHA-384, a 48-byte key' };
const SECRET: FlagSpec = { name: 'secret', short: 's', value: 'HEX',
  help: 'the key, in hex: 64 digits for -m 1, 96 for -m 2 (default: random)' };

/** The key of -s, or a random one; its length is --hmac's. Messages never repeat the key. */
function keyOf(secret: string | undefined, bytes: number, hmac: TlsPskHash): Buffer {
  if (secret === undefined) return randomBytes(bytes);
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(secret)) throw new InvalidArgumentError('-s/--secret must be the key in hex digits, two per byte');
  if (secret.length !== bytes * 2) {
    throw new InvalidArgumentError(`-s/--secret must be ${bytes} bytes (${bytes * 2} hex digits) for -m ${hmac}, got ${secret.length / 2} bytes`);
  }
  return Buffer.from(secret, 'hex');
}

async function runGenTlsKey(args: ParsedArgs): Promise<number> {
  const flag = stringFlags(args);
  const hmac = Number(flag(HMAC.name) ?? '1') as TlsPskHash;  // the parser allows 1 and 2 only
  const key = keyOf(flag(SECRET.name), hmac === 2 ? 48 : 32, hmac);
  try {
    console.log(encodeTlsPsk(key, hmac));
  } finally {
    key.fill(0);
  }
  return 0;
}

export const GEN_TLS_KEY_COMMAND: Command = {
  name: 'gen-tls-key',
  description: 'nvme-cli\'s gen-tls-key: prints an NVMe/TCP TLS PSK, NVMeTLSkey-1:0X:<base64>:, random or of --secret\n'
    + 'for --tls-key, a keyring_file_add_key file (mode 0600), or nvme connect --tls-key',
  flags: [HMAC, SECRET],
  run: runGenTlsKey,
};
