/**
 * The `local` plugin: each volume is a file in a pool directory on the gateway's machine,
 * sparse unless the StorageClass asks for thick volumes, and served by the gateway as a
 * bdev of type 'file' (io_uring, O_DIRECT). Snapshots are files beside them, made with
 * FICLONE where the file system shares extents (XFS with reflink, btrfs), else by a copy
 * that keeps holes; a volume restored from a snapshot, or cloned from a volume, is made
 * the same way.
 *
 * Layout of the pool directory:
 *   state.json            volumes and snapshots (StateFile: replaced atomically)
 *   volumes/<id>.img      one per volume; <id> is the volume_id, a UUID
 *   snapshots/<id>.img    one per snapshot
 *
 * A volume or snapshot is recorded as 'creating' before its file is made and 'ready'
 * after. One still 'creating' when the controller starts was cut off by a crash: the CO
 * never got its id, so its file and record are removed, and the CO's retry makes it anew.
 * A create that fails removes what it made the same way.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { copyFile, mkdir, open, statfs, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { failedPrecondition, invalidArgument, resourceExhausted } from '../errors';
import type { CsiLogger } from '../log';
import type { BlockSource, CreateSnapshotSpec, CreateVolumeSpec, PoolCapacity, SnapshotRecord, StoragePlugin,
  VolumeRecord } from './plugin';
import { PluginRecords, publicSnapshot, publicVolume, type RecordKind, type StoredSnapshot, type StoredVolume } from './records';
import { sparseCopy } from './sparse-copy';

const run = promisify(execFile);

/** The file bdev's limit (native/bdev/file_bdev.cc): 2^48 bytes. */
const MAX_VOLUME_BYTES = 2 ** 48;
/** Volumes are served with 4 KiB blocks, so sizes are multiples of it. */
const BLOCK_SIZE = 4096;

interface LocalVolume extends StoredVolume {
  thin: boolean;
}

export interface LocalPluginOptions {
  poolDir: string;
  log?: CsiLogger;
}

/** errno codes with which FICLONE says "this file system cannot share extents here". */
const NO_REFLINK = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOSYS', 'ENOTTY', 'EBADF']);

export class LocalPlugin implements StoragePlugin {
  readonly name = 'local';
  readonly allocationUnit = BLOCK_SIZE;
  readonly poolDir: string;
  readonly #log: CsiLogger | undefined;
  readonly #records: PluginRecords<LocalVolume>;

  constructor(options: LocalPluginOptions) {
    if (typeof options?.poolDir !== 'string' || options.poolDir === '') throw invalidArgument('poolDir must be a directory path');
    this.poolDir = options.poolDir;
    this.#log = options.log;
    this.#records = new PluginRecords<LocalVolume>(join(this.poolDir, 'state.json'));
  }

  async open(): Promise<void> {
    await mkdir(join(this.poolDir, 'volumes'), { recursive: true });
    await mkdir(join(this.poolDir, 'snapshots'), { recursive: true });
    await this.#records.load();
    await this.#purgeHalfMade();
    this.#log?.info('local pool opened', { pool: this.poolDir, ...this.#records.readyCounts() });
  }

  checkParameters(p: { replicas: number; thin: boolean }): void {
    if (p.replicas !== 1) {
      throw invalidArgument(`replicas=${p.replicas}: the local plugin keeps one copy of each volume, on the gateway's disk`);
    }
  }

  volumePath(id: string): string {
    return join(this.poolDir, 'volumes', `${id}.img`);
  }

  snapshotPath(id: string): string {
    return join(this.poolDir, 'snapshots', `${id}.img`);
  }

  async createVolume(spec: CreateVolumeSpec): Promise<VolumeRecord> {
    const id = randomUUID();
    if (spec.capacityBytes % BLOCK_SIZE !== 0) throw invalidArgument(`capacity ${spec.capacityBytes} is not a multiple of ${BLOCK_SIZE}`);
    let sourcePath: string | undefined;
    if (spec.source?.kind === 'snapshot') {
      sourcePath = this.snapshotPath(this.#records.readySnapshot(spec.source.id).id);
    } else if (spec.source?.kind === 'volume') {
      sourcePath = this.volumePath(this.#records.readyVolume(spec.source.id).id);
    }
    if (!spec.thin) await this.#reserve(spec.capacityBytes);

    const record: LocalVolume = {
      id, name: spec.name, capacityBytes: spec.capacityBytes, parameters: spec.parameters, context: spec.context,
      ...(spec.source ? { source: spec.source } : {}), uuid: id, createdAt: new Date().toISOString(), status: 'creating', thin: spec.thin,
    };
    await this.#records.addVolume(record);

    const path = this.volumePath(id);
    try {
      if (sourcePath !== undefined) {
        const method = await this.#pointInTimeCopy(sourcePath, path, spec.sourceInUse ?? false, `volume ${spec.source?.id}`);
        this.#log?.info('volume cloned', { volume: id, from: spec.source ?? null, method });
        await truncate(path, spec.capacityBytes);
      } else {
        const f = await open(path, 'w', 0o600);
        try {
          await f.truncate(spec.capacityBytes);
        } finally {
          await f.close();
        }
      }
      if (!spec.thin) await fallocate(path, spec.capacityBytes);
    } catch (e) {
      await this.#forget('volumes', id, path);
      throw e;
    }
    record.status = 'ready';
    await this.#records.save();
    return publicVolume(record);
  }

  async deleteVolume(id: string): Promise<void> {
    if (!this.#records.has('volumes', id)) return;
    await this.#forget('volumes', id, this.volumePath(id));
  }

  async expandVolume(id: string, bytes: number): Promise<VolumeRecord> {
    const v = this.#records.readyVolume(id);
    const size = roundUp(bytes, BLOCK_SIZE);
    if (size <= v.capacityBytes) return publicVolume(v);
    if (!v.thin) await this.#reserve(size - v.capacityBytes);
    await truncate(this.volumePath(id), size);
    if (!v.thin) await fallocate(this.volumePath(id), size);
    v.capacityBytes = size;
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
    const v = this.#records.readyVolume(spec.sourceVolumeId);
    const id = randomUUID();
    const record: StoredSnapshot = {
      id, name: spec.name, sourceVolumeId: v.id, sizeBytes: v.capacityBytes, createdAtMs: Date.now(), method: 'reflink', status: 'creating',
    };
    await this.#records.addSnapshot(record);
    try {
      record.method = await this.#pointInTimeCopy(this.volumePath(v.id), this.snapshotPath(id), spec.inUse, `volume ${v.id}`);
    } catch (e) {
      await this.#forget('snapshots', id, this.snapshotPath(id));
      throw e;
    }
    record.status = 'ready';
    record.createdAtMs = Date.now();
    await this.#records.save();
    this.#log?.info('snapshot created', { snapshot: id, volume: v.id, method: record.method });
    return publicSnapshot(record);
  }

  async deleteSnapshot(id: string): Promise<void> {
    if (!this.#records.has('snapshots', id)) return;
    await this.#forget('snapshots', id, this.snapshotPath(id));
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

  async capacity(): Promise<PoolCapacity> {
    const s = await statfs(this.poolDir);
    const available = s.bavail * s.bsize;
    return {
      availableBytes: available,
      // Thin volumes may be larger than the free space; the file bdev's limit is the real one.
      maximumVolumeBytes: MAX_VOLUME_BYTES,
      minimumVolumeBytes: BLOCK_SIZE,
    };
  }

  async blockSource(id: string): Promise<BlockSource> {
    this.#records.readyVolume(id);
    return { kind: 'file', path: this.volumePath(id), blockSize: BLOCK_SIZE };
  }

  /** Removes what a create cut off by a crash left behind (see the file comment). */
  async #purgeHalfMade(): Promise<void> {
    for (const { kind, id } of this.#records.halfMade()) {
      this.#log?.warn('removing a half-made entry left by a crash', { kind, id });
      await this.#forget(kind, id, kind === 'volumes' ? this.volumePath(id) : this.snapshotPath(id));
    }
  }

  /** Removes the file, then the record: a crash in between leaves a record whose delete is retried. */
  async #forget(kind: RecordKind, id: string, path: string): Promise<void> {
    await unlinkIfThere(path);
    await this.#records.forget(kind, id);
  }

  /**
   * cloneFile, except that a source the target may be writing (`inUse`) is only copied
   * by reflink, the one method that is a point in time.
   */
  async #pointInTimeCopy(src: string, dst: string, inUse: boolean, what: string): Promise<'reflink' | 'copy'> {
    if (!inUse) return cloneFile(src, dst);
    try {
      await copyFile(src, dst, fsc.COPYFILE_FICLONE_FORCE);
      return 'reflink';
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (!NO_REFLINK.has(code)) throw e;
      throw failedPrecondition(`${what} is published, and ${this.poolDir} cannot reflink (FICLONE: ${code}): a copy ` +
        'would not be a point-in-time image; unpublish it first, or put the pool on XFS with reflink or on btrfs');
    }
  }

  /** Thick volumes: refuse up front what the pool cannot hold. */
  async #reserve(bytes: number): Promise<void> {
    const { availableBytes } = await this.capacity();
    if (bytes > availableBytes) {
      throw resourceExhausted(`${bytes} bytes do not fit in ${this.poolDir}: ${availableBytes} bytes free (thin=false reserves the whole volume)`);
    }
  }
}

/**
 * Copies `src` to `dst`: FICLONE when the file system shares extents (instant, no space
 * used), else sparseCopy, which writes only the blocks that are not zeros, so a sparse
 * volume stays sparse (a plain copyFile would allocate every byte of a thin volume). Says
 * which it did.
 */
async function cloneFile(src: string, dst: string): Promise<'reflink' | 'copy'> {
  try {
    await copyFile(src, dst, fsc.COPYFILE_FICLONE_FORCE);
    return 'reflink';
  } catch (e) {
    if (!NO_REFLINK.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
  }
  await sparseCopy(src, dst);
  return 'copy';
}

/** Reserves the blocks of [0, bytes) (util-linux fallocate(1); Node has no fallocate). */
async function fallocate(path: string, bytes: number): Promise<void> {
  try {
    await run('fallocate', ['-l', String(bytes), path]);
  } catch (e) {
    const err = e as { code?: string | number; stderr?: string };
    if (err.code === 'ENOENT') throw failedPrecondition('thin=false needs fallocate(1) from util-linux, which is not installed');
    if (/No space left/.test(err.stderr ?? '')) throw resourceExhausted(`no space left in the pool for ${bytes} bytes`);
    throw e;
  }
}

async function unlinkIfThere(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

function roundUp(n: number, unit: number): number {
  return Math.ceil(n / unit) * unit;
}
