/**
 * What the bridge has made, by resource name, in creation order (Lists page through it
 * in that order). It is the bridge's record of intent: saved after every change and, at
 * start, re-applied to a gateway that may have lost it (reconcile.ts).
 */
import { RdmagateError } from '../errors';
import { ConfigStore } from '../gateway/config-store';
import type { JsonValue } from '../jsonrpc';

export type Fabric = 'TCP' | 'RDMA';
export type AddressFamily = 'IPv4' | 'IPv6';
export type Multipath = 'NVME_MULTIPATH_DISABLE' | 'NVME_MULTIPATH_FAILOVER' | 'NVME_MULTIPATH_MULTIPATH';

export interface AioVolumeRecord {
  name: string;
  id: string;
  /** As asked: 0 and '' are "the gateway's choice". */
  spec: { filename: string; blockSize: number; blocksCount: number; uuid: string };
  /** The bdev's UUID as made, so a bdev made again is the same volume to its hosts. */
  uuid: string;
}

export interface RemoteControllerRecord {
  name: string;
  id: string;
  spec: { multipath: Multipath; ioQueuesCount: number; queueSize: number; hdgst: boolean; ddgst: boolean };
  /** The path the gateway's controller is attached through; the others are standbys. */
  activePath: string | null;
  /** Its TLS PSK (tcp.psk): the key's name, its file in the bridge's key directory (keys.ts). Absent: no TLS. */
  pskKey?: string;
}

export interface PathRecord {
  name: string;
  id: string;
  controller: string;
  spec: { trtype: Fabric; traddr: string; trsvcid: number; subnqn: string; adrfam: AddressFamily; hostnqn: string };
}

export interface SubsystemRecord {
  name: string;
  id: string;
  spec: { nqn: string; serialNumber: string; modelNumber: string; maxNamespaces: number; hostnqn: string };
  /** What the gateway chose where the spec left it open, kept so that it is chosen again. */
  applied: { serialNumber: string; modelNumber: string; maxNamespaces: number };
  /**
   * Its host's TLS PSK (spec.psk): the key's name, its file in the bridge's key directory
   * (keys.ts). With one, its NVMe/TCP controllers are secure-channel listeners. Absent: no TLS.
   */
  pskKey?: string;
}

export interface ControllerRecord {
  name: string;
  id: string;
  subsystem: string;
  spec: {
    trtype: Fabric; traddr: string; trsvcid: number; adrfam: AddressFamily; cntlid: number | null;
    maxNsq: number; maxNcq: number; sqes: number; cqes: number; maxNamespaces: number;
  };
}

export interface NamespaceRecord {
  name: string;
  id: string;
  subsystem: string;
  spec: { volumeNameRef: string; hostNsid: number; nguid: string; uuid: string };
  /** The NSID, NGUID and UUID the namespace got, so that hosts see the same ones after a re-apply. */
  applied: { nsid: number; nguid: string; uuid: string };
}

interface StateJson {
  version: 1;
  aioVolumes: AioVolumeRecord[];
  remoteControllers: RemoteControllerRecord[];
  paths: PathRecord[];
  subsystems: SubsystemRecord[];
  controllers: ControllerRecord[];
  namespaces: NamespaceRecord[];
}

const KINDS = ['aioVolumes', 'remoteControllers', 'paths', 'subsystems', 'controllers', 'namespaces'] as const;

export class BridgeState {
  aioVolumes = new Map<string, AioVolumeRecord>();
  remoteControllers = new Map<string, RemoteControllerRecord>();
  paths = new Map<string, PathRecord>();
  subsystems = new Map<string, SubsystemRecord>();
  controllers = new Map<string, ControllerRecord>();
  namespaces = new Map<string, NamespaceRecord>();

  pathsOf(controller: string): PathRecord[] {
    return [...this.paths.values()].filter((p) => p.controller === controller);
  }

  controllersOf(subsystem: string): ControllerRecord[] {
    return [...this.controllers.values()].filter((c) => c.subsystem === subsystem);
  }

  namespacesOf(subsystem: string): NamespaceRecord[] {
    return [...this.namespaces.values()].filter((n) => n.subsystem === subsystem);
  }

  /** The names of the keys the records hold (their files are kept; others are pruned). */
  keyNames(): Set<string> {
    return new Set([...this.remoteControllers.values(), ...this.subsystems.values()].flatMap((r) => (r.pskKey ? [r.pskKey] : [])));
  }

  /** The namespaces whose volume_name_ref is `ref`, or under it (a remote controller's namespaces). */
  namespacesUsing(ref: string): NamespaceRecord[] {
    return [...this.namespaces.values()].filter((n) => n.spec.volumeNameRef === ref || n.spec.volumeNameRef.startsWith(`${ref}/`));
  }

  toJson(): StateJson {
    return {
      version: 1,
      aioVolumes: [...this.aioVolumes.values()],
      remoteControllers: [...this.remoteControllers.values()],
      paths: [...this.paths.values()],
      subsystems: [...this.subsystems.values()],
      controllers: [...this.controllers.values()],
      namespaces: [...this.namespaces.values()],
    };
  }

  /** Replaces the contents with a copy of `json` (a saved file, or a snapshot to roll back to). */
  restore(json: StateJson): void {
    const copy = structuredClone(json);
    this.aioVolumes = byName(copy.aioVolumes);
    this.remoteControllers = byName(copy.remoteControllers);
    this.paths = byName(copy.paths);
    this.subsystems = byName(copy.subsystems);
    this.controllers = byName(copy.controllers);
    this.namespaces = byName(copy.namespaces);
  }

  snapshot(): StateJson {
    return structuredClone(this.toJson());
  }
}

function byName<T extends { name: string }>(list: T[]): Map<string, T> {
  return new Map(list.map((r) => [r.name, r]));
}

/** The state file, written atomically (ConfigStore); without a path, nothing is kept. */
export class StateStore {
  readonly #store: ConfigStore | undefined;

  constructor(path: string | null) {
    this.#store = path === null ? undefined : new ConfigStore(path);
  }

  get path(): string | null {
    return this.#store?.path ?? null;
  }

  async load(into: BridgeState): Promise<boolean> {
    if (!this.#store) return false;
    await this.#store.prepare();
    const saved = await this.#store.load();
    if (saved === undefined) return false;
    into.restore(checkStateJson(saved, this.#store.path));
    return true;
  }

  async save(state: BridgeState): Promise<void> {
    await this.#store?.save(() => state.toJson() as unknown as JsonValue);
  }

  idle(): Promise<void> {
    return this.#store?.idle() ?? Promise.resolve();
  }
}

/** The file's outline; the records inside are what this code wrote. */
function checkStateJson(value: unknown, path: string): StateJson {
  const v = value as Partial<StateJson> | null;
  const bad = (why: string) => new RdmagateError('ERR_OPI_STATE', `OPI bridge state ${path} is not usable: ${why}`);
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad('not a JSON object');
  if (v.version !== 1) throw bad(`version ${String(v.version)}, expected 1`);
  for (const k of KINDS) {
    const list: unknown = v[k];
    if (!Array.isArray(list) || list.some((r) => r === null || typeof r !== 'object' || typeof (r as { name?: unknown }).name !== 'string')) {
      throw bad(`${k} must be a list of records with names`);
    }
  }
  return v as StateJson;
}
