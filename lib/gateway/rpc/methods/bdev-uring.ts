/**
 * Files and block devices: SPDK's bdev_uring_create, bdev_uring_rescan and bdev_uring_delete,
 * on the target's io_uring file bdev (O_DIRECT; a thread pool where io_uring is unavailable).
 */
import { randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError } from '../../../errors';
import { method, type MethodTable } from '../method';
import * as p from '../params';
import { deleteWhenReleased } from './release';

const URING_IO_TYPES: Record<string, boolean> = {
  read: true, write: true, unmap: true, flush: true, reset: false, nvme_admin: false, nvme_io: false,
  compare: false, compare_and_write: false, write_zeroes: true, abort: false, zcopy: false,
};

export const bdevUringMethods: MethodTable = {
  bdev_uring_create: method({ name: p.string({ maxLength: 64 }), filename: p.string({ maxLength: 4096 }),
    block_size: p.optional(p.integer(512, 65536)), uuid: p.optional(p.uuid()) }, { mutates: true })
    .handle(({ name, filename, block_size, uuid }, { state }) => {
      const id = uuid ?? randomUUID();
      for (const [other, r] of state.bdevs) {
        if (r.uuid === id) throw new ConflictError('ERR_ALREADY_EXISTS', `bdev ${other} already has uuid ${id}`);
      }
      // block_size 0 (or absent): a block device's logical block size, else 512.
      state.target.createBdev({ type: 'file', name, path: filename, blockSize: block_size ?? 0 });
      state.bdevs.set(name, {
        module: 'uring',
        productName: 'URING bdev',
        uuid: id,
        supportedIoTypes: URING_IO_TYPES,
        createdBy: { method: 'bdev_uring_create', params: { name, filename, ...(block_size ? { block_size } : {}), uuid: id } },
      });
      return name;
    }),
  // The file or device grew (or shrank, unserved): the bdev takes its size, and hosts are told.
  bdev_uring_rescan: method({ name: p.string() }, { mutates: false })
    .handle(({ name }, { state }) => {
      if (state.bdevs.get(name)?.module !== 'uring') throw new NotFoundError(`No such device: no uring bdev ${name}`);
      state.target.resizeBdev(name);
      return true;
    }),
  bdev_uring_delete: method({ name: p.string() }, { mutates: true })
    .handle(async ({ name }, { state }) => {
      if (state.bdevs.get(name)?.module !== 'uring') throw new NotFoundError(`No such device: no uring bdev ${name}`);
      await deleteWhenReleased(state.target, (b) => b === name, () => state.target.deleteBdev(name));  // ERR_BUSY while a namespace uses it
      state.bdevs.delete(name);
      return true;
    }),
};
