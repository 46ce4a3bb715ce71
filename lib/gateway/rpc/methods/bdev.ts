/** Block devices: SPDK's bdev_malloc_*, bdev_null_* and bdev_get_bdevs. */
import { randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError } from '../../../errors';
import type { JsonObject } from '../../../jsonrpc/json';
import type { BdevInfo, MultipathInfo } from '../../../nvmf/target';
import type { BdevRecord, ConfigEntry, GatewayState } from '../../state';
import { method, type MethodTable } from '../method';
import * as p from '../params';
import { deleteWhenReleased } from './release';
import { memberEntries, policyEntries } from '../../backend-multipath';
import { backendPathEntries } from '../../backend-paths';

/** What the native malloc and null bdevs serve (native/bdev): read, write, flush, write zeroes and unmap. */
const RAM_IO_TYPES: Record<string, boolean> = {
  read: true, write: true, unmap: true, flush: true, reset: false, nvme_admin: false, nvme_io: false,
  compare: false, compare_and_write: false, write_zeroes: true, abort: false, zcopy: false,
};

const PRODUCT_NAME = { malloc: 'Malloc disk', null: 'Null disk' } as const;

const geometry = {
  num_blocks: p.integer(1, Number.MAX_SAFE_INTEGER),
  // The Target refuses block sizes that are not a power of two, with its own message.
  block_size: p.integer(512, 65536),
  uuid: p.optional(p.uuid()),
};

function createRamBdev(state: GatewayState, module: 'malloc' | 'null', name: string,
  g: { num_blocks: number; block_size: number; uuid?: string }): string {
  const uuid = g.uuid ?? randomUUID();
  for (const [other, r] of state.bdevs) {
    if (r.uuid === uuid) throw new ConflictError('ERR_ALREADY_EXISTS', `bdev ${other} already has uuid ${uuid}`);
  }
  state.target.createBdev({ type: module, name, numBlocks: g.num_blocks, blockSize: g.block_size });
  state.bdevs.set(name, {
    module,
    productName: PRODUCT_NAME[module],
    uuid,
    supportedIoTypes: RAM_IO_TYPES,
    createdBy: { method: `bdev_${module}_create`, params: { name, num_blocks: g.num_blocks, block_size: g.block_size, uuid } },
  });
  return name;
}

/** Deletes a bdev of this module only: SPDK's bdev_malloc_delete does not delete a null bdev. */
async function deleteBdev(state: GatewayState, module: string, name: string): Promise<true> {
  if (state.bdevs.get(name)?.module !== module) throw new NotFoundError(`No such device: no ${module} bdev ${name}`);
  await deleteWhenReleased(state.target, (b) => b === name, () => state.target.deleteBdev(name)); // ERR_BUSY while a namespace uses it
  state.bdevs.delete(name);
  return true;
}

/** SPDK names an unnamed malloc bdev Malloc<n>, n counting every malloc bdev created. */
function nextMallocName(state: GatewayState): string {
  const taken = new Set(state.target.bdevs().map((b) => b.name));
  let n = state.mallocCount;
  while (taken.has(`Malloc${n}`)) n++;
  return `Malloc${n}`;
}

function bdevJson(b: BdevInfo, r: BdevRecord | undefined, claimed: boolean): JsonObject {
  return {
    name: b.name,
    aliases: [],
    // A bdev the embedder created on gateway.target directly has no record: no module facts.
    ...(r ? { product_name: r.productName } : {}),
    block_size: b.blockSize,
    num_blocks: b.numBlocks,
    ...(r ? { uuid: r.uuid } : {}),
    claimed,
    // An NVMe-oF namespace claims its bdev for exclusive writes, as in SPDK.
    ...(claimed ? { claim_type: 'exclusive_write' } : {}),
    zoned: false,
    ...(r ? { supported_io_types: r.supportedIoTypes } : {}),
    driver_specific: b.multipath ? multipathJson(b.multipath) : {},
  };
}

/** An NVMe bdev's multipath policy, as SPDK's bdev_get_bdevs shows it, and how many controllers reach it. */
function multipathJson(m: MultipathInfo): JsonObject {
  return { mp_policy: m.policy, ...(m.policy === 'active_active' ? { selector: m.selector, rr_min_io: m.rrMinIo } : {}), paths: m.paths };
}

/** The bdev section of save_config: the call that made each bdev, once, in creation order. */
export function bdevConfig(state: GatewayState): ConfigEntry[] {
  const entries = [...state.bdevs.values()].map((r) => r.createdBy).concat(state.pendingBackends.attachEntries(),
    backendPathEntries(state), memberEntries(state));
  // Each call once: a further controller's is both a pending attach, or its new namespace's
  // maker, and one of its backend's further controllers.
  const seen = new Set<JsonObject>();
  return entries.filter((e) => !seen.has(e.params) && seen.add(e.params)).concat(policyEntries(state));
}

export const bdevMethods: MethodTable = {
  bdev_malloc_create: method({ name: p.optional(p.string()), ...geometry }, { mutates: true })
    .handle(({ name, ...g }, { state }) => {
      const made = createRamBdev(state, 'malloc', name ?? nextMallocName(state), g);
      state.mallocCount++;
      return made;
    }),
  bdev_malloc_delete: method({ name: p.string() }, { mutates: true })
    .handle(({ name }, { state }) => deleteBdev(state, 'malloc', name)),
  bdev_null_create: method({ name: p.string(), ...geometry }, { mutates: true })
    .handle(({ name, ...g }, { state }) => createRamBdev(state, 'null', name, g)),
  bdev_null_delete: method({ name: p.string() }, { mutates: true })
    .handle(({ name }, { state }) => deleteBdev(state, 'null', name)),
  // new_size is in MiB, as in SPDK. Hosts of its namespaces are told; it may not shrink while served.
  bdev_null_resize: method({ name: p.string(), new_size: p.integer(1, 256 * 1024 * 1024) }, { mutates: true })
    .handle(({ name, new_size }, { state }) => {
      const r = state.bdevs.get(name);
      const b = state.target.bdevs().find((x) => x.name === name);
      if (r?.module !== 'null' || !b) throw new NotFoundError(`No such device: no null bdev ${name}`);
      const numBlocks = new_size * 2 ** 20 / b.blockSize;  // block sizes are powers of two up to 64 KiB: whole
      state.target.resizeBdev(name, numBlocks);
      // save_config recreates it at its size now.
      r.createdBy = { ...r.createdBy, params: { ...r.createdBy.params, num_blocks: numBlocks } };
      return true;
    }),
  // `name` may also be a bdev's UUID, which SPDK registers as an alias.
  bdev_get_bdevs: method({ name: p.optional(p.string()) }, { mutates: false })
    .handle(({ name }, { state }) => {
      const claimed = new Set(state.target.subsystems().flatMap((s) => s.namespaces.map((n) => n.bdevName)));
      const matches = (b: BdevInfo) => b.name === name || state.bdevs.get(b.name)?.uuid === name?.toLowerCase();
      const list = state.target.bdevs().filter((b) => name === undefined || matches(b));
      if (name !== undefined && list.length === 0) throw new NotFoundError(`No such device: no bdev ${name}`);
      return list.map((b) => bdevJson(b, state.bdevs.get(b.name), claimed.has(b.name)));
    }),
};
