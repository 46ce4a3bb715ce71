/**
 * Backends: SPDK's bdev_nvme_attach_controller, bdev_nvme_detach_controller and
 * bdev_nvme_get_controllers. A remote NVMe/TCP or NVMe/RDMA controller is attached through
 * rdmagate's host; each of its namespaces becomes a bdev "<name>n<nsid>" that subsystems can
 * export.
 */
import { randomUUID } from 'node:crypto';
import { InvalidArgumentError, NotFoundError } from '../../../errors';
import { defaultHostNqn } from '../../../nvmf/host/options';
import type { ConfigEntry } from '../../state';
import type { JsonObject } from '../json';
import { method, type MethodTable } from '../method';
import * as p from '../params';
import { deleteWhenReleased } from './release';

const NVME_IO_TYPES: Record<string, boolean> = {
  read: true, write: true, unmap: true, flush: true, reset: false, nvme_admin: false, nvme_io: false,
  compare: false, compare_and_write: false, write_zeroes: true, abort: false, zcopy: false,
};

// Reconnect defaults for a gateway: keep trying for a minute, so a backend restart is
// ridden out (SPDK's own defaults never reconnect). The first attempt comes after 100 ms
// and each next one waits twice as long, up to reconnect_delay_sec: a blip costs the
// frontend a fraction of a second, a long outage a try every two seconds.
const DEFAULT_CTRLR_LOSS_SEC = 60;
const DEFAULT_RECONNECT_DELAY_SEC = 2;
const FIRST_RECONNECT_DELAY_SEC = 0.1;
// SQ flow control off by default: a backend read then completes with its last C2HData
// PDU, which halves the PDUs the gateway receives for reads. nvmet-tcp and SPDK (so
// Mayastor) both accept it; `disable_sq_flow_control: false` keeps it on for others.
const DEFAULT_DISABLE_SQ_FLOW = true;

const attachShape = {
  name: p.string({ maxLength: 64 }),
  trtype: p.string(),
  traddr: p.string(),
  adrfam: p.optional(p.string()),
  trsvcid: p.optional(p.portText()),
  subnqn: p.string({ maxLength: 223 }),
  hostnqn: p.optional(p.string({ maxLength: 223 })),
  hdgst: p.optional(p.boolean()),
  ddgst: p.optional(p.boolean()),
  fabrics_connect_timeout_us: p.optional(p.integer(1000, 600_000_000)),
  ctrlr_loss_timeout_sec: p.optional(p.integer(-1, 86400)),
  reconnect_delay_sec: p.optional(p.integer(0, 3600)),
  disable_sq_flow_control: p.optional(p.boolean()),
};

export const bdevNvmeMethods: MethodTable = {
  bdev_nvme_attach_controller: method(attachShape, { mutates: true }).handle(async (a, { state }) => {
    const trtype = a.trtype.toLowerCase();
    if (trtype !== 'tcp' && trtype !== 'rdma') throw new InvalidArgumentError(`trtype: unknown transport '${a.trtype}'`);
    const { ctrlLoss, reconnectDelay } = reconnectPolicy(a.ctrlr_loss_timeout_sec, a.reconnect_delay_sec);
    // Saved with the config: a machine without /etc/nvme/hostnqn makes a new one at each
    // start, and a backend that allow-lists the gateway (a Mayastor nexus) would refuse it.
    const hostnqn = a.hostnqn ?? defaultHostNqn();
    const bdevs = await state.target.attachNvmeController({
      name: a.name,
      transport: trtype,
      traddr: a.traddr,
      trsvcid: a.trsvcid === undefined ? 4420 : Number(a.trsvcid),
      subnqn: a.subnqn,
      hostnqn,
      headerDigest: a.hdgst ?? false,
      dataDigest: a.ddgst ?? false,
      disableSqFlow: a.disable_sq_flow_control ?? DEFAULT_DISABLE_SQ_FLOW,
      ctrlLossTmo: ctrlLoss,
      reconnectDelay,
      firstReconnectDelay: Math.min(FIRST_RECONNECT_DELAY_SEC, reconnectDelay),
      attachTimeoutMs: a.fabrics_connect_timeout_us === undefined ? 30000 : Math.ceil(a.fabrics_connect_timeout_us / 1000),
    });
    // One config entry for the controller and all its bdevs: save_config writes it once.
    const createdBy: ConfigEntry = { method: 'bdev_nvme_attach_controller', params: stripUndefined({ ...a, hostnqn }) };
    for (const b of bdevs) {
      state.bdevs.set(b.name, {
        module: 'nvme',
        productName: 'NVMe disk',
        // The remote namespace's UUID is what hosts must see through the gateway too.
        uuid: b.uuid && !/^0{8}-/.test(b.uuid) ? b.uuid : randomUUID(),
        supportedIoTypes: NVME_IO_TYPES,
        createdBy,
      });
    }
    state.nvmeControllers.set(a.name, createdBy.params);
    return bdevs.map((b) => b.name);
  }),

  bdev_nvme_detach_controller: method({ name: p.string(), trtype: p.optional(p.string()), traddr: p.optional(p.string()),
    adrfam: p.optional(p.string()), trsvcid: p.optional(p.string()), subnqn: p.optional(p.string()) }, { mutates: true })
    .handle(async ({ name }, { state }) => {
      if (!state.nvmeControllers.has(name)) throw new NotFoundError(`No such device: no NVMe controller ${name}`);
      const ofController = (bdev: string) => state.bdevs.get(bdev)?.module === 'nvme' && bdev.startsWith(`${name}n`);
      // ERR_BUSY while a namespace uses one of its bdevs
      await deleteWhenReleased(state.target, ofController, () => state.target.detachNvmeController(name));
      for (const bdev of [...state.bdevs.keys()].filter(ofController)) state.bdevs.delete(bdev);
      state.nvmeControllers.delete(name);
      return true;
    }),

  bdev_nvme_get_controllers: method({ name: p.optional(p.string()) }, { mutates: false })
    .handle(({ name }, { state }) => {
      const live = new Map(state.target.nvmeControllers().map((c) => [c.name, c.state]));
      const names = name === undefined ? [...state.nvmeControllers.keys()] : [name];
      if (name !== undefined && !state.nvmeControllers.has(name)) throw new NotFoundError(`No such device: no NVMe controller ${name}`);
      return names.map((n) => {
        const a = state.nvmeControllers.get(n)!;
        const trid: JsonObject = { trtype: String(a.trtype).toUpperCase(), adrfam: String(a.adrfam ?? 'IPv4'), traddr: String(a.traddr),
          trsvcid: String(a.trsvcid ?? '4420'), subnqn: String(a.subnqn) };
        return { name: n, ctrlrs: [{ state: live.get(n) ?? 'deleting', trid }] };
      });
    }),
};

/**
 * SPDK's rules (bdev_nvme_check_io_error_resiliency_params) with the gateway's defaults:
 * reconnect_delay_sec 0 means no reconnect, so it goes with ctrlr_loss_timeout_sec 0 (and
 * alone implies it); otherwise the delay is at least a second and at most the loss timeout.
 * No setting reconnects faster than FIRST_RECONNECT_DELAY_SEC.
 */
function reconnectPolicy(lossSec: number | undefined, delaySec: number | undefined): { ctrlLoss: number; reconnectDelay: number } {
  const ctrlLoss = lossSec ?? (delaySec === 0 ? 0 : DEFAULT_CTRLR_LOSS_SEC);
  if (ctrlLoss === 0) {
    if (delaySec !== undefined && delaySec !== 0) {
      throw new InvalidArgumentError('ctrlr_loss_timeout_sec: 0 means no reconnect, so reconnect_delay_sec must be 0 too');
    }
    return { ctrlLoss, reconnectDelay: 1 };  // never used: nothing reconnects
  }
  if (delaySec === 0) throw new InvalidArgumentError('reconnect_delay_sec: 0 means no reconnect, so ctrlr_loss_timeout_sec must be 0 too');
  const reconnectDelay = delaySec ?? Math.min(DEFAULT_RECONNECT_DELAY_SEC, ctrlLoss === -1 ? Infinity : ctrlLoss);
  if (ctrlLoss > 0 && reconnectDelay > ctrlLoss) {
    throw new InvalidArgumentError(`reconnect_delay_sec (${reconnectDelay}) must be at most ctrlr_loss_timeout_sec (${ctrlLoss})`);
  }
  return { ctrlLoss, reconnectDelay };
}

function stripUndefined(o: object): JsonObject {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as JsonObject;
}
