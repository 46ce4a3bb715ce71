/**
 * AioVolumeService: a file or block device on the DPU as a volume, made a file bdev of
 * the gateway (bdev_uring_create) named after the volume's id.
 */
import { isAbsolute } from 'node:path';
import type { UndoSteps } from '../changes';
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from '../errors';
import { flag, integer, requiredMessage, requiredText, text, type Raw } from '../fields';
import type { BdevJson } from '../gateway-calls';
import type { AioVolume, ListResponse, StatsResponse } from '../messages';
import { Collection, parseTop, resourceId, topName } from '../names';
import { paginate } from '../pages';
import type { AioVolumeRecord } from '../state';
import { volumeStats } from '../stats';
import { maskPaths, overlay } from '../update-mask';
import { deleteResource, sameSpec, type OpiHandlers, type ServiceContext } from './context';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UPDATABLE = ['block_size', 'blocks_count', 'uuid', 'filename'] as const;

function readSpec(v: Raw, path: string): AioVolumeRecord['spec'] {
  const filename = requiredText(v, 'filename', `${path}.filename`);
  if (!isAbsolute(filename)) throw invalidArgument(`${path}.filename must be an absolute path, got '${filename}'`);
  const blockSize = integer(v, 'block_size', `${path}.block_size`, 0, 65536);
  if (blockSize !== 0 && (blockSize < 512 || (blockSize & (blockSize - 1)) !== 0)) {
    throw invalidArgument(`${path}.block_size must be a power of two from 512 to 65536 (or 0: the device's), got ${blockSize}`);
  }
  const blocksCount = integer(v, 'blocks_count', `${path}.blocks_count`, 0, Number.MAX_SAFE_INTEGER);
  const uuid = text(v, 'uuid', `${path}.uuid`).toLowerCase();
  if (uuid !== '' && !UUID.test(uuid)) throw invalidArgument(`${path}.uuid must be a UUID, got '${uuid}'`);
  return { filename, blockSize, blocksCount, uuid };
}

export class AioVolumeService {
  constructor(private readonly ctx: ServiceContext) {}

  handlers(): OpiHandlers {
    return {
      CreateAioVolume: (r) => this.create(r),
      DeleteAioVolume: (r) => this.delete(r),
      UpdateAioVolume: (r) => this.update(r),
      ListAioVolumes: (r) => this.list(r),
      GetAioVolume: (r) => this.get(r),
      StatsAioVolume: (r) => this.stats(r),
    };
  }

  async create(req: Raw): Promise<AioVolume> {
    const v = requiredMessage(req, 'aio_volume', 'aio_volume');
    const id = resourceId(text(req, 'aio_volume_id', 'aio_volume_id'), 'aio_volume_id');
    const spec = readSpec(v, 'aio_volume');
    return this.ctx.changes.run((undo) => this.#make(id, spec, undo));
  }

  async #make(id: string, spec: AioVolumeRecord['spec'], undo: UndoSteps): Promise<AioVolume> {
    const { state, gateway } = this.ctx;
    const name = topName(Collection.aioVolumes, id);
    const existing = state.aioVolumes.get(name);
    if (existing) {
      if (sameSpec(existing.spec, spec)) return this.#toProto(existing, await gateway.bdev(id));
      throw alreadyExists(`${name} already exists with another spec`);
    }
    let bdev = await gateway.bdev(id);
    if (bdev) {
      // A create that made the bdev but died before saving: the same file is the same volume.
      const made = await gateway.fileBdevParams(id);
      if (made?.filename !== spec.filename || (spec.uuid !== '' && bdev.uuid !== spec.uuid)
        || (spec.blockSize !== 0 && bdev.block_size !== spec.blockSize)) {
        throw alreadyExists(`the gateway already has a bdev '${id}' that is not ${spec.filename} as asked`);
      }
    } else {
      await gateway.createFileBdev(id, spec.filename, spec.blockSize, spec.uuid);
      undo.add(`bdev_uring_delete ${id}`, () => gateway.deleteFileBdev(id));
      bdev = await gateway.bdev(id);
      if (!bdev) throw failedPrecondition(`the gateway made bdev ${id} but does not list it`);
    }
    if (spec.blocksCount !== 0 && bdev.num_blocks !== spec.blocksCount) {
      throw invalidArgument(`aio_volume.blocks_count is ${spec.blocksCount}, but ${spec.filename} has ${bdev.num_blocks} blocks`);
    }
    const record: AioVolumeRecord = { name, id, spec, uuid: bdev.uuid ?? spec.uuid };
    state.aioVolumes.set(name, record);
    return this.#toProto(record, bdev);
  }

  async delete(req: Raw): Promise<object> {
    return deleteResource(this.ctx, req, (name) => parseTop(name, Collection.aioVolumes, 'name'), (s) => s.aioVolumes, async (record) => {
      const users = this.ctx.state.namespacesUsing(record.name);
      if (users.length > 0) throw failedPrecondition(`${record.name} is used by ${users.map((n) => n.name).join(', ')}`);
      await this.ctx.gateway.deleteFileBdev(record.id);
    });
  }

  /**
   * Only blocks_count may change, and only upwards to what the file now holds: the
   * volume grew (the file or device was extended), and the gateway takes the new size
   * (bdev_uring_rescan), telling the hosts of its namespaces.
   */
  async update(req: Raw): Promise<AioVolume> {
    const v = requiredMessage(req, 'aio_volume', 'aio_volume');
    const name = text(v, 'name', 'aio_volume.name');
    const id = parseTop(name, Collection.aioVolumes, 'aio_volume.name');
    const paths = maskPaths(req, UPDATABLE, UPDATABLE);
    const allowMissing = flag(req, 'allow_missing', 'allow_missing');
    return this.ctx.changes.run(async (undo) => {
      const { state, gateway } = this.ctx;
      const current = state.aioVolumes.get(name);
      if (!current) {
        if (!allowMissing) throw notFound(`${name} does not exist`);
        return this.#make(id, readSpec(v, 'aio_volume'), undo);
      }
      // Laid over what Get shows; a field that equals what was asked or what the gateway
      // made is unchanged (a client may send back a Get's answer whole).
      const actual = this.#toProto(current, await gateway.bdev(id));
      const next = readSpec(overlay(actual as unknown as Raw, v, paths), 'aio_volume');
      if (next.filename !== current.spec.filename) throw invalidArgument('aio_volume.filename cannot be changed');
      if (next.blockSize !== current.spec.blockSize && next.blockSize !== Number(actual.block_size)) {
        throw invalidArgument('aio_volume.block_size cannot be changed');
      }
      if (next.uuid !== current.spec.uuid && next.uuid !== current.uuid) throw invalidArgument('aio_volume.uuid cannot be changed');
      if (next.blocksCount !== 0 && next.blocksCount !== Number(actual.blocks_count)) {
        await gateway.rescanFileBdev(id);
        const grown = (await gateway.bdev(id))?.num_blocks ?? 0;
        if (grown !== next.blocksCount) {
          throw failedPrecondition(`aio_volume.blocks_count ${next.blocksCount}: ${current.spec.filename} holds ${grown} blocks; ` +
            'grow the file first (a served volume never shrinks)');
        }
        current.spec = { ...current.spec, blocksCount: next.blocksCount };
      }
      return this.#toProto(current, await gateway.bdev(id));
    });
  }

  async list(req: Raw): Promise<ListResponse<'aio_volumes', AioVolume>> {
    const page = paginate(req, [...this.ctx.state.aioVolumes.values()]);
    const live = await this.#liveBdevs();
    return { aio_volumes: page.items.map((r) => this.#toProto(r, live.get(r.id))), next_page_token: page.nextPageToken };
  }

  async get(req: Raw): Promise<AioVolume> {
    const record = this.#find(text(req, 'name', 'name'));
    return this.#toProto(record, await this.ctx.gateway.bdev(record.id).catch(() => undefined));
  }

  async stats(req: Raw): Promise<StatsResponse> {
    const record = this.#find(text(req, 'name', 'name'));
    return { stats: await volumeStats(this.ctx.gateway, [record.id]) };
  }

  #find(name: string): AioVolumeRecord {
    parseTop(name, Collection.aioVolumes, 'name');
    const record = this.ctx.state.aioVolumes.get(name);
    if (!record) throw notFound(`${name} does not exist`);
    return record;
  }

  /** The gateway's bdevs by name; none when it cannot be asked (a List still answers from the record). */
  async #liveBdevs(): Promise<Map<string, BdevJson>> {
    const list = await this.ctx.gateway.bdevs().catch(() => [] as BdevJson[]);
    return new Map(list.map((b) => [b.name, b]));
  }

  /** The record, with the size the bdev has now where the gateway says. */
  #toProto(r: AioVolumeRecord, bdev: BdevJson | undefined): AioVolume {
    return {
      name: r.name,
      block_size: bdev?.block_size ?? r.spec.blockSize,
      blocks_count: bdev?.num_blocks ?? r.spec.blocksCount,
      uuid: r.uuid,
      filename: r.spec.filename,
    };
  }
}
