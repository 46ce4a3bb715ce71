/**
 * The gateway methods the bridge uses, typed, over GatewayRpc (SPDK's names and params).
 * Each "ensure"/"remove" is idempotent, so that a change retried after a crash, or a
 * resource re-applied at start, converges: "already there" and "already gone" are
 * success, for the same object.
 */
import type { GatewayRpc } from '../csi/export';
import { KeyringClient } from '../gateway/keyring-client';
import { RpcErrorCode, type JsonObject } from '../jsonrpc';
import type { KeyFile } from '../key-dir';
import { failedPrecondition, isRpcError } from './errors';
import type { NvmeMultipath } from './messages';
import type { AddressFamily, Fabric } from './state';

export interface BdevJson {
  name: string;
  product_name?: string;
  block_size: number;
  num_blocks: number;
  uuid?: string;
  claimed?: boolean;
}

export interface TridJson {
  trtype: string;
  adrfam: string;
  traddr: string;
  trsvcid: string;
  subnqn: string;
}

export interface NvmeControllerJson {
  name: string;
  /** trid: the path in use; alternate_trids: its failover paths. */
  ctrlrs: { state: string; trid: TridJson; alternate_trids?: TridJson[] }[];
}

export interface ListenAddressJson {
  trtype: string;
  adrfam?: string;
  traddr: string;
  trsvcid: string;
  /** NVMe/TCP TLS required (SPDK lists it where true). */
  secure_channel?: boolean;
}

export interface SubsystemJson {
  nqn: string;
  listen_addresses: ListenAddressJson[];
  allow_any_host: boolean;
  /** psk: the name of the host's TLS PSK in the keyring. */
  hosts: { nqn: string; psk?: string }[];
  serial_number: string;
  model_number: string;
  max_namespaces: number;
  namespaces: { nsid: number; bdev_name: string; nguid: string; uuid: string }[];
}

export interface AttachTarget {
  trtype: Fabric;
  traddr: string;
  trsvcid: number;
  subnqn: string;
  adrfam: AddressFamily;
  hostnqn: string;
}

export interface ListenAddress {
  trtype: Fabric;
  traddr: string;
  trsvcid: number;
  adrfam: AddressFamily;
}

/** SPDK's bdev_get_iostat entry, as far as OPI's VolumeStats needs it. */
export interface IostatJson {
  name: string;
  bytes_read?: number;
  num_read_ops?: number;
  bytes_written?: number;
  num_write_ops?: number;
  bytes_unmapped?: number;
  num_unmap_ops?: number;
  read_latency_ticks?: number;
  write_latency_ticks?: number;
  unmap_latency_ticks?: number;
}

/** undefined where the gateway answers "no such device". */
function tridJson(t: AttachTarget): JsonObject {
  return { trtype: t.trtype.toLowerCase(), traddr: t.traddr, adrfam: t.adrfam, trsvcid: String(t.trsvcid), subnqn: t.subnqn };
}

/** Whether `trid` (as bdev_nvme_get_controllers shows it) is the address of `t`. */
export function sameTrid(trid: TridJson, t: AttachTarget): boolean {
  return trid.trtype.toUpperCase() === t.trtype && trid.traddr === t.traddr && Number(trid.trsvcid) === t.trsvcid && trid.subnqn === t.subnqn;
}

async function orMissing<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (isRpcError(e, RpcErrorCode.ENODEV)) return undefined;
    throw e;
  }
}

const listenJson = (a: ListenAddress): JsonObject =>
  ({ trtype: a.trtype, adrfam: a.adrfam, traddr: a.traddr, trsvcid: String(a.trsvcid) });

/** Whether the gateway's listener `j` is at `a` (its transport named in either case: TCP or tcp). */
export function sameListenAddress(j: ListenAddressJson, a: { trtype: string; traddr: string; trsvcid: number }): boolean {
  return j.trtype.toUpperCase() === a.trtype.toUpperCase() && j.traddr === a.traddr && Number(j.trsvcid) === a.trsvcid;
}

export class GatewayCalls {
  /** Where the bridge's TLS PSKs go: its errors are OPI's. */
  readonly keyring: KeyringClient;

  constructor(readonly rpc: GatewayRpc) {
    this.keyring = new KeyringClient(rpc, failedPrecondition);
  }

  async bdevs(): Promise<BdevJson[]> {
    return await this.rpc.call('bdev_get_bdevs', {}) as unknown as BdevJson[];
  }

  async bdev(name: string): Promise<BdevJson | undefined> {
    const list = await orMissing(this.rpc.call('bdev_get_bdevs', { name }) as unknown as Promise<BdevJson[]>);
    return list?.[0];
  }

  async methods(): Promise<string[]> {
    return await this.rpc.call('rpc_get_methods', {}) as string[];
  }

  async iostat(name: string): Promise<IostatJson | undefined> {
    // SPDK answers { tick_rate, bdevs: [...] }; before v23, the bare list.
    const r = await orMissing(this.rpc.call('bdev_get_iostat', { name }));
    const list = (Array.isArray(r) ? r : (r as { bdevs?: unknown } | undefined)?.bdevs) as IostatJson[] | undefined;
    return list?.find((b) => b.name === name);
  }

  async nvmeController(name: string): Promise<NvmeControllerJson | undefined> {
    const list = await orMissing(this.rpc.call('bdev_nvme_get_controllers', { name }) as unknown as Promise<NvmeControllerJson[]>);
    return list?.[0];
  }

  /**
   * Attaches a backend controller; its namespaces become bdevs <name>n<nsid>. With `psk`
   * (NVMe/TCP only), over TLS: the key file is added to the keyring first, unless there.
   */
  async attachController(name: string, t: AttachTarget, digests: { hdgst: boolean; ddgst: boolean }, psk?: KeyFile): Promise<string[]> {
    if (psk) await this.keyring.add([psk], await this.keyring.names());
    return await this.rpc.call('bdev_nvme_attach_controller', {
      name, ...tridJson(t), ...(t.hostnqn ? { hostnqn: t.hostnqn } : {}),
      // Digests and TLS are NVMe/TCP's; RDMA has neither.
      ...(t.trtype === 'TCP' ? { hdgst: digests.hdgst, ddgst: digests.ddgst, ...(psk ? { psk: psk.name } : {}) } : {}),
    }) as string[];
  }

  /** false when there was nothing to detach. */
  async detachController(name: string): Promise<boolean> {
    return (await orMissing(this.rpc.call('bdev_nvme_detach_controller', { name }))) !== undefined;
  }

  /**
   * Adds `t` to controller `name`, an attach under its name: a failover path, or with
   * NVME_MULTIPATH_MULTIPATH a controller of its own (multipath "multipath"). It shares the
   * controller's settings and keys. A path it has already is fine.
   */
  async addPath(name: string, t: AttachTarget, mode: NvmeMultipath): Promise<void> {
    try {
      await this.rpc.call('bdev_nvme_attach_controller', { name, ...tridJson(t), ...(t.hostnqn ? { hostnqn: t.hostnqn } : {}),
        multipath: mode === 'NVME_MULTIPATH_MULTIPATH' ? 'multipath' : 'failover' });
    } catch (e) {
      if (!isRpcError(e, RpcErrorCode.EEXIST)) throw e;
    }
  }

  /**
   * Takes path `t` off controller `name`: the gateway moves off it if it is in use, and
   * detaches the controller if it is its only path. false when it was not there.
   */
  async removePath(name: string, t: AttachTarget): Promise<boolean> {
    return (await orMissing(this.rpc.call('bdev_nvme_detach_controller', { name, ...tridJson(t) }))) !== undefined;
  }

  /** Reconnects controller `name` now (bdev_nvme_reset_controller). */
  async resetController(name: string): Promise<void> {
    await this.rpc.call('bdev_nvme_reset_controller', { name });
  }

  async createFileBdev(name: string, filename: string, blockSize: number, uuid: string): Promise<void> {
    await this.rpc.call('bdev_uring_create', { name, filename, ...(blockSize ? { block_size: blockSize } : {}),
      ...(uuid ? { uuid } : {}) });
  }

  /** The params a file bdev was made with (its filename), from the gateway's config; undefined if none. */
  async fileBdevParams(name: string): Promise<{ filename: string; block_size?: number; uuid?: string } | undefined> {
    const entries = await this.rpc.call('framework_get_config', { name: 'bdev' }) as { method: string; params?: JsonObject }[];
    const e = entries.find((x) => x.method === 'bdev_uring_create' && x.params?.name === name);
    return e?.params as { filename: string; block_size?: number; uuid?: string } | undefined;
  }

  async rescanFileBdev(name: string): Promise<void> {
    await this.rpc.call('bdev_uring_rescan', { name });
  }

  async deleteFileBdev(name: string): Promise<boolean> {
    return (await orMissing(this.rpc.call('bdev_uring_delete', { name }))) !== undefined;
  }

  async subsystem(nqn: string): Promise<SubsystemJson | undefined> {
    const list = await orMissing(this.rpc.call('nvmf_get_subsystems', { nqn }) as unknown as Promise<SubsystemJson[]>);
    return list?.[0];
  }

  async createSubsystem(s: { nqn: string; serialNumber: string; modelNumber: string; maxNamespaces: number; hostnqn: string }):
    Promise<void> {
    await this.rpc.call('nvmf_create_subsystem', {
      nqn: s.nqn,
      ...(s.serialNumber ? { serial_number: s.serialNumber } : {}),
      ...(s.modelNumber ? { model_number: s.modelNumber } : {}),
      ...(s.maxNamespaces ? { max_namespaces: s.maxNamespaces } : {}),
      allow_any_host: s.hostnqn === '',
    });
  }

  async deleteSubsystem(nqn: string): Promise<boolean> {
    return (await orMissing(this.rpc.call('nvmf_delete_subsystem', { nqn }))) !== undefined;
  }

  /**
   * Lets exactly `hostnqn` in (with `psk`, its TLS PSK: the key file added to the keyring first),
   * or any host when it is ''. A host there with another PSK (or none) is taken off and let in
   * again with this one: no method changes a host's PSK in place.
   */
  async setHosts(nqn: string, hostnqn: string, current: SubsystemJson, psk?: KeyFile): Promise<void> {
    for (const h of current.hosts) {
      if (h.nqn !== hostnqn || h.psk !== psk?.name) await orMissing(this.rpc.call('nvmf_subsystem_remove_host', { nqn, host: h.nqn }));
    }
    if (hostnqn !== '' && !current.hosts.some((h) => h.nqn === hostnqn && h.psk === psk?.name)) {
      if (psk) await this.keyring.add([psk], await this.keyring.names());
      await this.rpc.call('nvmf_subsystem_add_host', { nqn, host: hostnqn, ...(psk ? { psk: psk.name } : {}) });
    }
    if (current.allow_any_host !== (hostnqn === '')) {
      await this.rpc.call('nvmf_subsystem_allow_any_host', { nqn, allow_any_host: hostnqn === '' });
    }
  }

  /** Creates the transport unless the gateway has it. */
  async ensureTransport(trtype: Fabric): Promise<void> {
    try {
      await this.rpc.call('nvmf_create_transport', { trtype });
    } catch (e) {
      if (!isRpcError(e, RpcErrorCode.EEXIST)) throw e;
    }
  }

  /** true when the listener was added, false when the subsystem had it. `secure`: NVMe/TCP TLS required (SPDK's secure_channel). */
  async addListener(nqn: string, a: ListenAddress, secure = false): Promise<boolean> {
    try {
      await this.rpc.call('nvmf_subsystem_add_listener', { nqn, listen_address: listenJson(a), ...(secure ? { secure_channel: true } : {}) });
      return true;
    } catch (e) {
      if (isRpcError(e, RpcErrorCode.EEXIST)) return false;
      throw e;
    }
  }

  async removeListener(nqn: string, a: ListenAddress): Promise<boolean> {
    return (await orMissing(this.rpc.call('nvmf_subsystem_remove_listener', { nqn, listen_address: listenJson(a) }))) !== undefined;
  }

  /** The NSID the namespace got. */
  async addNamespace(nqn: string, ns: { bdev: string; nsid: number; nguid: string; uuid: string }): Promise<number> {
    return await this.rpc.call('nvmf_subsystem_add_ns', { nqn, namespace: {
      bdev_name: ns.bdev, ...(ns.nsid ? { nsid: ns.nsid } : {}), ...(ns.nguid ? { nguid: ns.nguid } : {}), ...(ns.uuid ? { uuid: ns.uuid } : {}),
    } }) as number;
  }

  async removeNamespace(nqn: string, nsid: number): Promise<boolean> {
    return (await orMissing(this.rpc.call('nvmf_subsystem_remove_ns', { nqn, nsid }))) !== undefined;
  }

  async connectedHosts(nqn: string): Promise<{ cntlid: number; hostnqn: string }[]> {
    return (await orMissing(this.rpc.call('nvmf_subsystem_get_controllers', { nqn }) as unknown as
      Promise<{ cntlid: number; hostnqn: string }[]>)) ?? [];
  }
}
