/**
 * A plugin's own record of its volumes and snapshots, kept in a StateFile. A record is
 * 'creating' while the plugin makes what it describes and 'ready' after; only ready ones
 * are volumes and snapshots to the controller. A plugin stores what else it needs beside
 * the public fields (V), and the lookups hand out copies without it.
 */
import { failedPrecondition, notFound } from '../errors';
import type { SnapshotRecord, VolumeRecord } from './plugin';
import { StateFile } from './state-file';

export type RecordStatus = 'creating' | 'ready';

export interface StoredVolume extends VolumeRecord {
  status: RecordStatus;
}

export interface StoredSnapshot extends SnapshotRecord {
  status: RecordStatus;
}

export type RecordKind = 'volumes' | 'snapshots';

/** The state file's document. */
interface RecordState<V extends StoredVolume> {
  version: number;
  volumes: Record<string, V>;
  snapshots: Record<string, StoredSnapshot>;
}

const STATE_VERSION = 1;

/** The keys of the public records; the compiler checks that none is missing. */
const VOLUME_KEYS: Record<keyof VolumeRecord, true> = {
  id: true, name: true, capacityBytes: true, parameters: true, context: true, source: true, uuid: true, createdAt: true,
};
const SNAPSHOT_KEYS: Record<keyof SnapshotRecord, true> = {
  id: true, name: true, sourceVolumeId: true, sizeBytes: true, createdAtMs: true, method: true,
};

export class PluginRecords<V extends StoredVolume> {
  readonly #file: StateFile<RecordState<V>>;
  #state: RecordState<V> = { version: STATE_VERSION, volumes: {}, snapshots: {} };

  constructor(path: string) {
    this.#file = new StateFile<RecordState<V>>(path);
  }

  /** Reads the saved records, if any; a file of another version is refused rather than misread. */
  async load(): Promise<void> {
    const saved = await this.#file.load();
    if (saved === undefined) return;
    if (saved.version !== STATE_VERSION) {
      throw failedPrecondition(`${this.#file.path} has state version ${saved.version}; this driver reads version ${STATE_VERSION}`);
    }
    this.#state = saved;
  }

  /** Persists the records as they are now, including changes made to records in place. */
  save(): Promise<void> {
    return this.#file.save(this.#state);
  }

  async addVolume(v: V): Promise<void> {
    this.#state.volumes[v.id] = v;
    await this.save();
  }

  async addSnapshot(s: StoredSnapshot): Promise<void> {
    this.#state.snapshots[s.id] = s;
    await this.save();
  }

  /** Whether there is a record, ready or not. */
  has(kind: RecordKind, id: string): boolean {
    return this.#state[kind][id] !== undefined;
  }

  async forget(kind: RecordKind, id: string): Promise<void> {
    delete this.#state[kind][id];
    await this.save();
  }

  /** Records still 'creating', volumes first: at start, what a crash cut off. */
  halfMade(): { kind: RecordKind; id: string }[] {
    return (['volumes', 'snapshots'] as const).flatMap((kind) =>
      Object.values(this.#state[kind]).filter((r) => r.status === 'creating').map((r) => ({ kind, id: r.id })));
  }

  readyCounts(): { volumes: number; snapshots: number } {
    const count = (o: Record<string, { status: RecordStatus }>) => Object.values(o).filter((x) => x.status === 'ready').length;
    return { volumes: count(this.#state.volumes), snapshots: count(this.#state.snapshots) };
  }

  /** The stored (mutable) ready volume; NOT_FOUND otherwise. */
  readyVolume(id: string): V {
    const v = this.#state.volumes[id];
    if (v?.status !== 'ready') throw notFound(`volume ${id} does not exist`);
    return v;
  }

  /** The stored (mutable) ready snapshot; NOT_FOUND otherwise. */
  readySnapshot(id: string): StoredSnapshot {
    const s = this.#state.snapshots[id];
    if (s?.status !== 'ready') throw notFound(`snapshot ${id} does not exist`);
    return s;
  }

  volume(id: string): VolumeRecord | undefined {
    const v = this.#state.volumes[id];
    return v?.status === 'ready' ? publicVolume(v) : undefined;
  }

  volumeByName(name: string): VolumeRecord | undefined {
    const v = Object.values(this.#state.volumes).find((x) => x.name === name && x.status === 'ready');
    return v ? publicVolume(v) : undefined;
  }

  /** Ordered by id, the order pagination relies on. */
  volumes(): VolumeRecord[] {
    return Object.values(this.#state.volumes).filter((v) => v.status === 'ready').sort(byId).map(publicVolume);
  }

  snapshot(id: string): SnapshotRecord | undefined {
    const s = this.#state.snapshots[id];
    return s?.status === 'ready' ? publicSnapshot(s) : undefined;
  }

  snapshotByName(name: string): SnapshotRecord | undefined {
    const s = Object.values(this.#state.snapshots).find((x) => x.name === name && x.status === 'ready');
    return s ? publicSnapshot(s) : undefined;
  }

  /** Ordered by id. */
  snapshots(): SnapshotRecord[] {
    return Object.values(this.#state.snapshots).filter((s) => s.status === 'ready').sort(byId).map(publicSnapshot);
  }
}

/** A copy of the public part of a stored volume, for the controller. */
export function publicVolume(v: VolumeRecord): VolumeRecord {
  return pick(v, VOLUME_KEYS);
}

/** A copy of the public part of a stored snapshot, for the controller. */
export function publicSnapshot(s: SnapshotRecord): SnapshotRecord {
  return pick(s, SNAPSHOT_KEYS);
}

/** A deep copy of the `keys` that `record` has (a copy: callers must not change the records). */
function pick<T extends object>(record: T, keys: Record<keyof T, true>): T {
  const out: Partial<T> = {};
  for (const key of Object.keys(keys) as (keyof T)[]) {
    if (key in record) out[key] = record[key];
  }
  return structuredClone(out as T);
}

function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
