/**
 * The gateway's keyring as its JSON-RPC clients use it (the CSI controller's exporter, the OPI
 * bridge): key files added by name and path (keyring_file_add_key), the names listed, keys
 * taken off. Each is idempotent, so that a change retried after a crash converges: a key of
 * the name there is taken as the key (a name is never reused for another secret: key-dir.ts),
 * and a key already gone is gone.
 *
 * A change lists the keyring once (names) and hands the list to its adds and removals.
 */
import { RpcErrorCode } from '../jsonrpc';
import { isRpcError } from '../jsonrpc/errors';
import type { GatewayRpc } from '../jsonrpc/gateway-rpc';
import type { KeyFile } from '../key-dir';

/** keyring_get_keys' entries, as far as a client needs them. */
interface KeyJson {
  name: string;
  removed?: boolean;
}

/** The gateway's answers to a key file it cannot read: not there, or not its user's alone. */
const UNREADABLE: readonly number[] = [RpcErrorCode.ENODEV, RpcErrorCode.EPERM, RpcErrorCode.EACCES];


export class KeyringClient {
  readonly #rpc: GatewayRpc;
  readonly #failedPrecondition: (message: string) => Error;

  /**
   * `failedPrecondition` makes the caller's error (its gRPC FAILED_PRECONDITION) for what only
   * the gateway's setup can fix: no keyring, a key file it cannot read.
   */
  constructor(rpc: GatewayRpc, failedPrecondition: (message: string) => Error) {
    this.#rpc = rpc;
    this.#failedPrecondition = failedPrecondition;
  }

  /** The names in the keyring (not those removed but still held); undefined from a gateway without a keyring. */
  async names(): Promise<string[] | undefined> {
    try {
      const list = (await this.#rpc.call('keyring_get_keys')) as unknown as KeyJson[];
      return list.filter((k) => !k.removed).map((k) => k.name);
    } catch (e) {
      if (isRpcError(e, RpcErrorCode.METHOD_NOT_FOUND)) return undefined;
      throw e;
    }
  }

  /** Adds each key file whose name `listed` (names) lacks. FAILED_PRECONDITION from a gateway without a keyring, or one that cannot read a file. */
  async add(files: readonly KeyFile[], listed: readonly string[] | undefined): Promise<void> {
    if (listed === undefined) {
      throw this.#failedPrecondition('the gateway has no keyring (keyring_get_keys): it cannot take DH-HMAC-CHAP keys or TLS PSKs');
    }
    for (const f of files) {
      if (listed.includes(f.name)) continue;
      try {
        await this.#rpc.call('keyring_file_add_key', { name: f.name, path: f.path });
      } catch (e) {
        if (isRpcError(e, RpcErrorCode.EEXIST)) continue;  // added by a concurrent retry
        if (UNREADABLE.some((c) => isRpcError(e, c))) {
          throw this.#failedPrecondition(`the gateway cannot read the key file ${f.path} (${(e as Error).message}): it must see the key ` +
            'directory at the same path and run as the same user, which owns the files');
        }
        throw e;
      }
    }
  }

  /** Takes key `name` off the keyring; false when it was not there. */
  async remove(name: string): Promise<boolean> {
    try {
      await this.#rpc.call('keyring_file_remove_key', { name });
      return true;
    } catch (e) {
      if (isRpcError(e, RpcErrorCode.ENODEV)) return false;
      throw e;
    }
  }

  /** Takes the keys of `listed` (names; undefined: none) named `prefix`… off the keyring, but those in `keep`. */
  async removeByPrefix(prefix: string, listed: readonly string[] | undefined, keep: Iterable<string> = []): Promise<void> {
    const kept = new Set(keep);
    for (const name of listed ?? []) {
      if (name.startsWith(prefix) && !kept.has(name)) await this.remove(name);
    }
  }
}
