/**
 * The `mayastor` plugin: volumes are Mayastor (OpenEBS) volumes, made through the control
 * plane's REST API v0 with the StorageClass's replica count and thin provisioning;
 * snapshots are Mayastor snapshots, restores are volumes made from them, expansion is a
 * resize. To serve a volume, the plugin publishes its Mayastor target (a nexus shared
 * over NVMe/TCP) and hands the gateway the target's address and NQN; the gateway attaches
 * it as a backend and re-exports it to the nodes. When no node uses the volume any more,
 * the target is unpublished.
 *
 * Ids: Mayastor takes only UUIDs, and they are derived from the CO's name (ids.ts), so a
 * create retried after a crash lands on the same Mayastor volume rather than a second one.
 *
 * State: the StoragePlugin lookups are synchronous and Mayastor has no place for what CSI
 * needs back (parameters, volume_context, content source), so a small state file in
 * `stateDir` records each volume and snapshot, as the local plugin does. A record is
 * 'creating' while the REST call is in flight; one left so by a crash is deleted from
 * Mayastor at the next start (the CO's retry makes it anew under the same id).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { aborted, alreadyExists, CsiError, GrpcStatus, invalidArgument, unavailable } from '../../errors';
import type { CsiLogger } from '../../log';
import type { BlockSource, CreateSnapshotSpec, CreateVolumeSpec, PoolCapacity, SnapshotRecord, StoragePlugin, VolumeRecord } from '../plugin';
import { PluginRecords, publicSnapshot, publicVolume, type RecordKind, type StoredSnapshot, type StoredVolume } from '../records';
import type { CreateVolumeBody, Volume, VolumeSnapshot } from './api';
import { nvmfSourceFromUri } from './device-uri';
import { isKind, isNotFound } from './errors';
import { snapshotIdFor, volumeIdFor } from './ids';
import { MayastorClient } from './rest-client';

/**
 * Sizes are multiples of 4 MiB, the cluster size of Mayastor's pools (SPDK lvstores): it
 * allocates whole clusters anyway, and a multiple of it is a multiple of any block size.
 */
const ALLOCATION_UNIT = 4 << 20;
/** Labels on the volumes we make: who made it, and for which CSI name. */
const CREATED_BY_LABEL = 'rdmagate.io/created-by';
const CREATED_BY = 'rdmagate-csi';
const NAME_LABEL = 'rdmagate.io/csi-name';

interface MayastorVolume extends StoredVolume {
  thin: boolean;
  replicas: number;
}

export interface MayastorPluginOptions {
  /** http(s)://host:port of the Mayastor REST service (the control plane's `api-rest`). */
  endpoint: string;
  /** Where the plugin's state file is kept; created if missing. */
  stateDir: string;
  log?: CsiLogger;
  /** Per REST request; default 30 s. */
  timeoutMs?: number;
  /** A bearer token, where the REST service requires JWT authentication. */
  token?: string;
  /** The io-engine node to place volume targets on (PublishVolumeBody.node); Mayastor picks when absent. */
  targetNode?: string;
}

export class MayastorPlugin implements StoragePlugin {
  readonly name = 'mayastor';
  readonly allocationUnit = ALLOCATION_UNIT;
  readonly client: MayastorClient;
  readonly stateDir: string;
  readonly #log: CsiLogger | undefined;
  readonly #records: PluginRecords<MayastorVolume>;
  readonly #targetNode: string | undefined;

  constructor(options: MayastorPluginOptions) {
    if (typeof options?.stateDir !== 'string' || options.stateDir === '') throw invalidArgument('stateDir must be a directory path');
    this.client = new MayastorClient({
      endpoint: options.endpoint,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.token !== undefined ? { token: options.token } : {}),
    });
    this.stateDir = options.stateDir;
    this.#log = options.log;
    this.#targetNode = options.targetNode;
    this.#records = new PluginRecords<MayastorVolume>(join(this.stateDir, 'state.json'));
  }

  /**
   * Reads the state file, then, if Mayastor answers, deletes what a crash left half-made
   * and warns about recorded volumes Mayastor no longer has. Mayastor being down does not
   * stop the controller: the other plugins still serve, and calls to this one fail
   * UNAVAILABLE until it is back.
   */
  async open(): Promise<void> {
    await mkdir(this.stateDir, { recursive: true });
    await this.#records.load();
    try {
      await this.#purgeHalfMade();
      await this.#checkAgainstMayastor();
    } catch (e) {
      this.#log?.warn('mayastor: could not check the recorded volumes against the control plane', {
        endpoint: this.client.endpoint, error: (e as Error).message,
      });
    }
    this.#log?.info('mayastor plugin opened', { endpoint: this.client.endpoint, ...this.#records.readyCounts() });
  }

  checkParameters(_p: { replicas: number; thin: boolean }): void {
    // Any replica count the common check allows (1-16) and either provisioning: Mayastor
    // itself says whether it has the pools for them.
  }

  async createVolume(spec: CreateVolumeSpec): Promise<VolumeRecord> {
    if (spec.source?.kind === 'volume') {
      throw invalidArgument(`the mayastor plugin cannot clone volume ${spec.source.id}: the Mayastor API has no volume clone; ` +
        'take a VolumeSnapshot of it and create the volume from the snapshot');
    }
    if (spec.capacityBytes % ALLOCATION_UNIT !== 0) throw invalidArgument(`capacity ${spec.capacityBytes} is not a multiple of ${ALLOCATION_UNIT}`);
    const snapshot = spec.source?.kind === 'snapshot' ? this.#records.readySnapshot(spec.source.id) : undefined;
    const id = volumeIdFor(spec.name);
    const other = this.#records.volume(id);
    if (other) throw alreadyExists(`volume ${id} exists already, as "${other.name}"`);
    const replicas = spec.replicas ?? 1;
    const record: MayastorVolume = {
      id, name: spec.name, capacityBytes: spec.capacityBytes, parameters: spec.parameters, context: spec.context,
      ...(spec.source ? { source: spec.source } : {}), uuid: id, createdAt: new Date().toISOString(), status: 'creating',
      thin: spec.thin, replicas,
    };
    await this.#records.addVolume(record);

    const body: CreateVolumeBody = {
      policy: { self_heal: true }, replicas, size: snapshot ? snapshot.sizeBytes : spec.capacityBytes, thin: spec.thin,
      labels: { [CREATED_BY_LABEL]: CREATED_BY, [NAME_LABEL]: spec.name },
    };
    let v: Volume;
    try {
      v = await this.#createOrAdopt(id, body, spec.capacityBytes, snapshot?.id);
      // A restore has the snapshot's size; a larger request is a resize after it.
      if (v.spec.size < spec.capacityBytes) v = await this.client.resizeVolume(id, spec.capacityBytes);
    } catch (e) {
      await this.#undoCreate('volumes', id, e);
      throw e;
    }
    record.capacityBytes = v.spec.size;
    record.status = 'ready';
    await this.#records.save();
    this.#log?.info('mayastor volume created', { volume: id, size: v.spec.size, replicas, thin: spec.thin, from: snapshot?.id ?? null });
    return publicVolume(record);
  }

  async deleteVolume(id: string): Promise<void> {
    if (!this.#records.has('volumes', id)) return;
    try {
      await this.client.deleteVolume(id);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    await this.#records.forget('volumes', id);
  }

  async expandVolume(id: string, bytes: number): Promise<VolumeRecord> {
    const v = this.#records.readyVolume(id);
    const size = Math.ceil(bytes / ALLOCATION_UNIT) * ALLOCATION_UNIT;
    if (size <= v.capacityBytes) return publicVolume(v);
    const resized = await this.client.resizeVolume(id, size);
    v.capacityBytes = resized.spec.size;
    await this.#records.save();
    return publicVolume(v);
  }

  volume(id: string): VolumeRecord | undefined {
    return this.#records.volume(id);
  }

  volumeByName(name: string): VolumeRecord | undefined {
    return this.#records.volumeByName(name);
  }

  volumes(): VolumeRecord[] {
    return this.#records.volumes();
  }

  async createSnapshot(spec: CreateSnapshotSpec): Promise<SnapshotRecord> {
    // Mayastor snapshots are point-in-time while the volume is written (I/O is paused on
    // the nexus while the replicas snapshot), so `inUse` needs nothing more.
    const v = this.#records.readyVolume(spec.sourceVolumeId);
    const id = snapshotIdFor(spec.name);
    const other = this.#records.snapshot(id);
    if (other) throw alreadyExists(`snapshot ${id} exists already, as "${other.name}"`);
    const record: StoredSnapshot = {
      id, name: spec.name, sourceVolumeId: v.id, sizeBytes: v.capacityBytes, createdAtMs: Date.now(), method: 'backend', status: 'creating',
    };
    await this.#records.addSnapshot(record);
    let s: VolumeSnapshot;
    try {
      s = await this.#snapshotOrAdopt(v.id, id);
    } catch (e) {
      await this.#undoCreate('snapshots', id, e);
      throw e;
    }
    record.sizeBytes = s.definition.metadata.size;
    const taken = Date.parse(s.state.timestamp ?? s.definition.metadata.timestamp ?? '');
    if (Number.isFinite(taken)) record.createdAtMs = taken;
    record.status = 'ready';
    await this.#records.save();
    this.#log?.info('mayastor snapshot created', { snapshot: id, volume: v.id, size: record.sizeBytes });
    return publicSnapshot(record);
  }

  async deleteSnapshot(id: string): Promise<void> {
    if (!this.#records.has('snapshots', id)) return;
    try {
      await this.client.deleteSnapshot(id);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    await this.#records.forget('snapshots', id);
  }

  snapshot(id: string): SnapshotRecord | undefined {
    return this.#records.snapshot(id);
  }

  snapshotByName(name: string): SnapshotRecord | undefined {
    return this.#records.snapshotByName(name);
  }

  snapshots(): SnapshotRecord[] {
    return this.#records.snapshots();
  }

  /**
   * From the pools that report a state and are usable: the free space of all of them, and
   * the largest pool's size as the largest volume (each replica lives in one pool).
   */
  async capacity(): Promise<PoolCapacity> {
    let available = 0;
    let largest = 0;
    for (const { state: s } of await this.client.pools()) {
      if (s?.status !== 'Online' && s?.status !== 'Degraded') continue;
      available += Math.max(0, s.capacity - s.used);
      largest = Math.max(largest, s.capacity);
    }
    return {
      availableBytes: available,
      maximumVolumeBytes: Math.floor(largest / ALLOCATION_UNIT) * ALLOCATION_UNIT,
      minimumVolumeBytes: ALLOCATION_UNIT,
    };
  }

  /** Publishes the volume's Mayastor target over NVMe/TCP, unless it is published already. */
  async blockSource(id: string): Promise<BlockSource> {
    this.#records.readyVolume(id);
    let v = await this.client.volume(id);
    if (!v.spec.target || !v.state.target?.deviceUri) {
      try {
        v = await this.client.publishVolume(id, {
          protocol: 'nvmf', publish_context: {}, reuse_existing: true, ...(this.#targetNode ? { node: this.#targetNode } : {}),
        });
      } catch (e) {
        // Published in between by someone else: use that target.
        if (!isKind(e, 'AlreadyPublished', 'AlreadyShared')) throw e;
        v = await this.client.volume(id);
      }
    }
    const uri = v.state.target?.deviceUri ?? '';
    if (uri === '') throw unavailable(`mayastor volume ${id} is published but reports no device URI yet; retry`);
    return nvmfSourceFromUri(uri);
  }

  /** Unpublishes the volume's Mayastor target: the gateway no longer reads through it. */
  async releaseSource(id: string): Promise<void> {
    try {
      await this.client.unpublishVolume(id);
    } catch (e) {
      if (!isNotFound(e) && !isKind(e, 'NotPublished', 'NotShared')) throw e;
    }
  }

  /**
   * PUT the volume (a restore when `snapshotId` is given); where Mayastor has it already
   * (AlreadyExists: an earlier attempt under the same name-derived id), adopt it if it is
   * what this request would have made.
   */
  async #createOrAdopt(id: string, body: CreateVolumeBody, requestedBytes: number, snapshotId: string | undefined): Promise<Volume> {
    try {
      return snapshotId ? await this.client.restoreSnapshot(snapshotId, id, body) : await this.client.createVolume(id, body);
    } catch (e) {
      if (!isKind(e, 'AlreadyExists')) throw e;
    }
    const v = await this.client.volume(id);
    const s = v.spec;
    if (s.status === 'Creating' || s.status === 'Deleting') throw aborted(`mayastor volume ${id} is ${s.status.toLowerCase()}; retry`);
    let why: string | undefined;
    if (s.labels?.[NAME_LABEL] !== body.labels?.[NAME_LABEL]) why = `labels naming ${JSON.stringify(s.labels?.[NAME_LABEL] ?? null)}`;
    else if (s.num_replicas !== body.replicas) why = `${s.num_replicas} replicas`;
    else if (s.thin !== body.thin) why = `thin=${s.thin}`;
    // A restore is made at the snapshot's size and then resized: either size is this request's.
    else if (s.size !== body.size && s.size !== requestedBytes) why = `size ${s.size}`;
    else if (s.content_source?.snapshot?.snapshot !== snapshotId) why = 'another content source';
    if (why) throw alreadyExists(`mayastor has volume ${id} for "${body.labels?.[NAME_LABEL]}" already, with ${why}`);
    this.#log?.info('mayastor volume adopted', { volume: id });
    return v;
  }

  async #snapshotOrAdopt(volumeId: string, id: string): Promise<VolumeSnapshot> {
    try {
      return await this.client.createSnapshot(volumeId, id);
    } catch (e) {
      if (!isKind(e, 'AlreadyExists')) throw e;
    }
    const s = await this.client.snapshot(id);
    if (s.definition.spec.source_volume !== volumeId) {
      throw alreadyExists(`mayastor has snapshot ${id} already, of volume ${s.definition.spec.source_volume}`);
    }
    return s;
  }

  /**
   * After a failed create: remove what Mayastor may have made (not what answered
   * ALREADY_EXISTS: that one is not this request's), then the record. If Mayastor cannot
   * be reached, the record stays 'creating' and the next start removes both.
   */
  async #undoCreate(kind: RecordKind, id: string, cause: unknown): Promise<void> {
    const theirs = cause instanceof CsiError && cause.grpcCode === GrpcStatus.ALREADY_EXISTS;
    if (!theirs) {
      try {
        if (kind === 'volumes') await this.client.deleteVolume(id);
        else await this.client.deleteSnapshot(id);
      } catch (e) {
        if (!isNotFound(e)) {
          this.#log?.warn('mayastor: a failed create left a resource that could not be removed now; removed at the next start', {
            kind, id, error: (e as Error).message,
          });
          return;
        }
      }
    }
    await this.#records.forget(kind, id);
  }

  async #purgeHalfMade(): Promise<void> {
    for (const { kind, id } of this.#records.halfMade()) {
      this.#log?.warn('mayastor: removing a half-made entry left by a crash', { kind, id });
      try {
        if (kind === 'volumes') await this.client.deleteVolume(id);
        else await this.client.deleteSnapshot(id);
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      await this.#records.forget(kind, id);
    }
  }

  /** Recorded volumes and snapshots that Mayastor does not have: logged, never forgotten silently. */
  async #checkAgainstMayastor(): Promise<void> {
    const volumes = new Set((await this.client.volumes()).map((v) => v.spec.uuid));
    const snapshots = new Set((await this.client.snapshots()).map((s) => s.definition.spec.uuid));
    for (const v of this.volumes()) {
      if (!volumes.has(v.id)) this.#log?.warn('mayastor: a recorded volume is missing from the control plane', { volume: v.id, name: v.name });
    }
    for (const s of this.snapshots()) {
      if (!snapshots.has(s.id)) this.#log?.warn('mayastor: a recorded snapshot is missing from the control plane', { snapshot: s.id, name: s.name });
    }
  }

}
