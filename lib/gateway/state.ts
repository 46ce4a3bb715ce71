/**
 * What the gateway knows beyond its Target: the facts SPDK's RPCs report that the Target
 * does not keep (a bdev's module, UUID and product name; the transports created), and the
 * listeners it opened for subsystems, so that it can close them again.
 */
import type { JsonObject } from '../jsonrpc/json';
import type { Target, TransportType } from '../nvmf/target';
import type { ConfigEntry } from './config-entry';
import { Keyring, type KeyRefs } from './keyring';
import { PendingBackends } from './pending-backends';

export type { ConfigEntry } from './config-entry';

export interface BdevRecord {
  /** The bdev module; a module's delete RPC deletes only its own bdevs, as in SPDK. */
  module: string;
  /** SPDK's product_name, e.g. "Malloc disk". */
  productName: string;
  uuid: string;
  /** The I/O types the bdev serves, as bdev_get_bdevs reports them. */
  supportedIoTypes: Record<string, boolean>;
  /**
   * The call that recreates this bdev. Bdevs made by one call (a controller's namespaces)
   * share one entry object, and save_config writes it once.
   */
  createdBy: ConfigEntry;
}

/** The Target's limits that hosts see, which nvmf_create_transport must agree with. */
export interface TargetLimits {
  maxIoSize: number;
  inCapsuleDataSize: number;
  maxQueueDepth: number;
  maxIoQueues: number;
  /** The request buffer pool's most bytes (TargetOptions.bufferPoolBytes). */
  bufferPoolBytes: number;
}

export interface TransportRecord {
  trtype: 'TCP' | 'RDMA';
  /** The params as nvmf_get_transports reports them and save_config replays them. */
  params: JsonObject;
}

/** A further controller of a backend (lib/gateway/backend-multipath.ts): its attach params, and whether it is attached (else pending, retried in the background). */
export interface MultipathMember {
  readonly params: JsonObject;
  attached: boolean;
}

export class GatewayState {
  /** Bdevs created through RPCs, in creation order. */
  readonly bdevs = new Map<string, BdevRecord>();
  readonly transports = new Map<TransportType, TransportRecord>();
  /**
   * Target listeners opened by nvmf_subsystem_add_listener (key: listenerKey()). They close
   * when no subsystem uses them any more, freeing the port as SPDK does; listeners the
   * embedder opened with target.listen() are not ours to close.
   */
  readonly ownedListeners = new Set<string>();
  /** Backend controllers attached by bdev_nvme_attach_controller: name → its call's params. */
  readonly nvmeControllers = new Map<string, JsonObject>();
  /** Failover paths added to them (lib/gateway/backend-paths.ts): name → each path's attach params. */
  readonly nvmePaths = new Map<string, JsonObject[]>();
  /** Further controllers of them (multipath mode "multipath", lib/gateway/backend-multipath.ts): name → each one. */
  readonly nvmeMultipath = new Map<string, MultipathMember[]>();
  /** bdev_nvme_set_multipath_policy's params, by bdev name. */
  readonly multipathPolicies = new Map<string, JsonObject>();
  /** Those of nvmeControllers that a replayed config named and that have not answered yet. */
  readonly pendingBackends = new PendingBackends();
  /** Malloc bdevs created so far: SPDK names unnamed ones Malloc<count>. */
  mallocCount = 0;
  /** Named secrets (keyring_file_add_key), which the methods below refer to by name. */
  readonly keyring = new Keyring();
  /**
   * The keys each subsystem host authenticates with (key: hostKeysId()), its TLS PSK
   * included: the Target holds the secrets, this the keys' names for save_config and their
   * use counts for the keyring.
   */
  readonly hostKeys = new Map<string, KeyRefs>();
  /** The keys each backend controller authenticates with (its TLS PSK included), by controller name. */
  readonly backendKeys = new Map<string, KeyRefs>();

  constructor(readonly target: Target, readonly limits: TargetLimits) {}
}

export function hostKeysId(nqn: string, host: string): string {
  return `${nqn} ${host}`;
}

export function listenerKey(trtype: TransportType, traddr: string, trsvcid: number): string {
  return `${trtype} ${traddr} ${trsvcid}`;
}
