/**
 * A GatewayRpc that models the gateway's JSON-RPC methods the CSI exporter calls, in
 * memory and with the gateway's answers: ENODEV for what is not there, EEXIST for a
 * duplicate, EBUSY for a backend controller whose bdev a subsystem still uses. It
 * records every call, so tests can say what the exporter asked of the gateway. Its keyring
 * reads each key file when the key is added, as the gateway's does, and refuses one that
 * is not 0600 (EPERM) or not there (ENODEV); hosts are allowed with key names it has (DH-HMAC-CHAP
 * keys, a TLS psk), listeners with secure_channel, backends with a psk.
 */
import { readFileSync, statSync } from 'node:fs';
import { JsonRpcError, RpcErrorCode, type JsonObject, type JsonValue } from '../../lib';
import type { GatewayRpc } from '../../lib/csi';

interface Subsystem {
  nqn: string;
  hosts: Set<string>;
  /** The key names each host authenticates with. */
  hostKeys: Map<string, { dhchap_key?: string; dhchap_ctrlr_key?: string }>;
  /** The TLS PSK (key name) of each host that has one. */
  hostPsks: Map<string, string>;
  namespaces: { nsid: number; bdev_name: string; uuid?: string }[];
  listen: { trtype: string; traddr: string; trsvcid: string; secure_channel?: true }[];
}

interface Controller {
  traddr: string;
  trsvcid: string;
  subnqn: string;
  adrfam: string;
  /** The TLS PSK (key name) it was attached with. */
  psk?: string;
}

export class FakeGatewayRpc implements GatewayRpc {
  readonly calls: { method: string; params: JsonObject }[] = [];
  readonly transports = new Set<string>();
  /** Bdev name → the module that made it. */
  readonly bdevs = new Map<string, 'uring' | 'nvme'>();
  readonly controllers = new Map<string, Controller>();
  readonly subsystems = new Map<string, Subsystem>();
  /** Keyring: name → the file and the secret read from it when added. */
  readonly keys = new Map<string, { path: string; secret: string }>();

  /** The calls of one method, their params. */
  callsOf(method: string): JsonObject[] {
    return this.calls.filter((c) => c.method === method).map((c) => c.params);
  }

  async call(method: string, params: JsonObject = {}): Promise<JsonValue> {
    this.calls.push({ method, params: structuredClone(params) });
    const str = (k: string) => String(params[k]);
    switch (method) {
      case 'nvmf_get_transports': {
        const list = [...this.transports].filter((t) => params.trtype === undefined || t === params.trtype);
        if (params.trtype !== undefined && list.length === 0) throw enodev(`no transport ${str('trtype')}`);
        return list.map((trtype) => ({ trtype }));
      }
      case 'nvmf_create_transport':
        if (this.transports.has(str('trtype'))) throw new JsonRpcError(RpcErrorCode.EEXIST, 'transport exists');
        this.transports.add(str('trtype'));
        return true;
      case 'bdev_get_bdevs': {
        if (params.name !== undefined && !this.bdevs.has(str('name'))) throw enodev(`no bdev ${str('name')}`);
        const names = params.name !== undefined ? [str('name')] : [...this.bdevs.keys()];
        return names.map((name) => ({ name, product_name: this.bdevs.get(name) === 'nvme' ? 'NVMe disk' : 'URING bdev' }));
      }
      case 'bdev_uring_create':
        if (this.bdevs.has(str('name'))) throw new JsonRpcError(RpcErrorCode.EEXIST, 'bdev exists');
        this.bdevs.set(str('name'), 'uring');
        return str('name');
      case 'bdev_uring_delete':
        this.#unusedBdev(str('name'));
        this.bdevs.delete(str('name'));
        return true;
      case 'bdev_nvme_attach_controller': {
        const name = str('name');
        if (this.controllers.has(name)) throw new JsonRpcError(RpcErrorCode.EEXIST, `controller ${name} exists`);
        if (params.trtype !== 'tcp') throw new JsonRpcError(RpcErrorCode.INVALID_PARAMS, `trtype ${str('trtype')}`);
        if (params.psk !== undefined && !this.keys.has(str('psk'))) throw new JsonRpcError(RpcErrorCode.INVALID_PARAMS, `no key '${str('psk')}'`);
        this.controllers.set(name, { traddr: str('traddr'), trsvcid: str('trsvcid'), subnqn: str('subnqn'), adrfam: str('adrfam'),
          ...(params.psk !== undefined ? { psk: str('psk') } : {}) });
        this.bdevs.set(`${name}n1`, 'nvme');
        return [`${name}n1`];
      }
      case 'bdev_nvme_detach_controller': {
        const name = str('name');
        if (!this.controllers.has(name)) throw enodev(`no controller ${name}`);
        this.#unusedBdev(`${name}n1`);
        this.controllers.delete(name);
        this.bdevs.delete(`${name}n1`);
        return true;
      }
      case 'bdev_nvme_get_controllers': {
        const names = params.name !== undefined ? [str('name')] : [...this.controllers.keys()];
        if (params.name !== undefined && !this.controllers.has(str('name'))) throw enodev(`no controller ${str('name')}`);
        return names.map((name) => {
          const c = this.controllers.get(name)!;
          return { name, ctrlrs: [{ state: 'enabled', trid: { trtype: 'TCP', adrfam: c.adrfam, traddr: c.traddr, trsvcid: c.trsvcid, subnqn: c.subnqn } }] };
        });
      }
      case 'nvmf_get_subsystems': {
        if (params.nqn !== undefined && !this.subsystems.has(str('nqn'))) throw enodev(`no subsystem ${str('nqn')}`);
        const list = params.nqn !== undefined ? [this.subsystems.get(str('nqn'))!] : [...this.subsystems.values()];
        return list.map((s) => ({
          nqn: s.nqn, hosts: [...s.hosts].map((nqn) => ({ nqn, ...(s.hostPsks.has(nqn) ? { psk: s.hostPsks.get(nqn)! } : {}), ...s.hostKeys.get(nqn) })),
          namespaces: s.namespaces.map((n) => ({ ...n })),
          listen_addresses: s.listen.map((l) => ({ ...l })),
        }));
      }
      case 'nvmf_create_subsystem':
        if (this.subsystems.has(str('nqn'))) throw new JsonRpcError(RpcErrorCode.EEXIST, 'subsystem exists');
        this.subsystems.set(str('nqn'), { nqn: str('nqn'), hosts: new Set(), hostKeys: new Map(), hostPsks: new Map(), namespaces: [], listen: [] });
        return true;
      case 'nvmf_delete_subsystem':
        if (!this.subsystems.delete(str('nqn'))) throw enodev(`no subsystem ${str('nqn')}`);
        return true;
      case 'nvmf_subsystem_add_ns': {
        const s = this.#subsystem(str('nqn'));
        const ns = params.namespace as { bdev_name: string; nsid: number; uuid?: string };
        if (!this.bdevs.has(ns.bdev_name)) throw enodev(`no bdev ${ns.bdev_name}`);
        s.namespaces.push({ nsid: ns.nsid, bdev_name: ns.bdev_name, ...(ns.uuid ? { uuid: ns.uuid } : {}) });
        return ns.nsid;
      }
      case 'nvmf_subsystem_add_listener': {
        const l = params.listen_address as { trtype: string; traddr: string; trsvcid: string };
        this.#subsystem(str('nqn')).listen.push({ trtype: l.trtype, traddr: l.traddr, trsvcid: l.trsvcid,
          ...(params.secure_channel === true ? { secure_channel: true as const } : {}) });
        return true;
      }
      case 'nvmf_subsystem_add_host': {
        const s = this.#subsystem(str('nqn'));
        if (s.hosts.has(str('host'))) throw new JsonRpcError(RpcErrorCode.EEXIST, `${str('host')} is already allowed`);
        if (params.psk !== undefined && !this.keys.has(str('psk'))) throw new JsonRpcError(RpcErrorCode.INVALID_PARAMS, `no key '${str('psk')}'`);
        this.#setKeys(s, str('host'), params);
        s.hosts.add(str('host'));
        if (params.psk !== undefined) s.hostPsks.set(str('host'), str('psk'));
        return true;
      }
      case 'nvmf_subsystem_set_keys': {
        const s = this.#subsystem(str('nqn'));
        if (!s.hosts.has(str('host'))) throw enodev(`${str('host')} is not on the host list`);
        this.#setKeys(s, str('host'), params);
        return true;
      }
      case 'nvmf_subsystem_remove_host': {
        const s = this.#subsystem(str('nqn'));
        s.hosts.delete(str('host'));
        s.hostKeys.delete(str('host'));
        s.hostPsks.delete(str('host'));
        return true;
      }
      case 'keyring_file_add_key': {
        const [name, path] = [str('name'), str('path')];
        if (this.keys.has(name)) throw new JsonRpcError(RpcErrorCode.EEXIST, `key '${name}' already exists`);
        let mode: number;
        try {
          mode = statSync(path).mode;
        } catch {
          throw enodev(`key '${name}': no file ${path}`);
        }
        if ((mode & 0o077) !== 0) throw new JsonRpcError(RpcErrorCode.EPERM, `key '${name}': ${path} must be 0600`);
        this.keys.set(name, { path, secret: readFileSync(path, 'utf8').trim() });
        return true;
      }
      case 'keyring_file_remove_key':
        if (!this.keys.delete(str('name'))) throw enodev(`no key '${str('name')}'`);
        return true;
      case 'keyring_get_keys':
        return [...this.keys].map(([name, k]) => ({ name, module: 'keyring_file', removed: false, probed: false, refcnt: 1, path: k.path }));
      default:
        throw new JsonRpcError(RpcErrorCode.METHOD_NOT_FOUND, `Method not found: ${method}`);
    }
  }

  /** A host's keys, as the gateway checks their names: each in the keyring, a controller key only with a host key. */
  #setKeys(s: Subsystem, host: string, params: JsonObject): void {
    const names = { dhchap_key: params.dhchap_key as string | undefined, dhchap_ctrlr_key: params.dhchap_ctrlr_key as string | undefined };
    for (const n of Object.values(names)) {
      if (n !== undefined && !this.keys.has(n)) throw new JsonRpcError(RpcErrorCode.INVALID_PARAMS, `no key '${n}' in the keyring`);
    }
    if (names.dhchap_ctrlr_key !== undefined && names.dhchap_key === undefined) throw new JsonRpcError(RpcErrorCode.INVALID_PARAMS, 'ctrlr key needs key');
    if (names.dhchap_key === undefined) s.hostKeys.delete(host);
    else s.hostKeys.set(host, { dhchap_key: names.dhchap_key, ...(names.dhchap_ctrlr_key ? { dhchap_ctrlr_key: names.dhchap_ctrlr_key } : {}) });
  }

  #subsystem(nqn: string): Subsystem {
    const s = this.subsystems.get(nqn);
    if (!s) throw enodev(`no subsystem ${nqn}`);
    return s;
  }

  #unusedBdev(name: string): void {
    for (const s of this.subsystems.values()) {
      if (s.namespaces.some((n) => n.bdev_name === name)) throw new JsonRpcError(RpcErrorCode.EBUSY, `bdev ${name} is used by ${s.nqn}`);
    }
  }
}

function enodev(m: string): JsonRpcError {
  return new JsonRpcError(RpcErrorCode.ENODEV, `No such device: ${m}`);
}
