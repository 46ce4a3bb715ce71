/**
 * The keyring: SPDK's keyring_file_add_key, keyring_file_remove_key and keyring_get_keys,
 * and the keyring section of save_config, which comes first so that the methods naming keys
 * find them when a config is replayed. A key file holds a DH-HMAC-CHAP secret or an NVMe/TCP
 * TLS PSK (keyring.ts). No secret is in any params, result or entry.
 */
import { withoutUndefined } from '../../../jsonrpc/json';
import type { Key } from '../../keyring';
import { hostKeysId, type ConfigEntry, type GatewayState } from '../../state';
import { method, type MethodTable } from '../method';
import * as p from '../params';

/** Each use of a key, once per use: the hosts of live subsystems, and the attached (or pending) backends. */
export function keyUsers(state: GatewayState): Key[] {
  const hosts = state.target.subsystems().flatMap((s) => s.hosts.map((h) => state.hostKeys.get(hostKeysId(s.nqn, h))));
  const backends = [...state.nvmeControllers.keys()].map((name) => state.backendKeys.get(name));
  return [...hosts, ...backends].flatMap((refs) => [refs?.dhchapKey, refs?.dhchapCtrlrKey, refs?.psk]).filter((k): k is Key => k !== undefined);
}

/** The keyring section of save_config: each key's name and path, which it is read from again. */
export function keyringConfig(state: GatewayState): ConfigEntry[] {
  return state.keyring.keys().map((k) => ({ method: 'keyring_file_add_key', params: { name: k.name, path: k.path } }));
}

export const keyringMethods: MethodTable = {
  keyring_file_add_key: method({ name: p.string(), path: p.string() }, { mutates: true })
    .handle(({ name, path }, { state }) => {
      state.keyring.addFileKey(name, path);
      return true;
    }),
  keyring_file_remove_key: method({ name: p.string() }, { mutates: true })
    .handle(({ name }, { state }) => {
      state.keyring.removeKey(name);
      return true;
    }),
  keyring_get_keys: method({}, { mutates: false })
    .handle((_, { state }) => state.keyring.list(keyUsers(state)).map(withoutUndefined)),
};
