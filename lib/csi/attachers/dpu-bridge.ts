/**
 * The host role with a DPU that runs an OPI storage bridge (`rdmagate dpu`, or any OPI
 * bridge): NodeStageVolume on the host asks its DPU, through the OPI storage API, to bring
 * the volume in and put it behind the NVMe function the DPU presents to this host; the host
 * then waits for the namespace to appear, as any disk of its DPU's (HostDiskAttacher).
 *
 *   nvmf  CreateNvmeRemoteController (failover), then a CreateNvmePath per path of the
 *         publish context (path0, path1, ... in its order: the publish context's transport
 *         and subsystem, with this node's host NQN, which the volume allows): the DPU's own
 *         NVMe-oF engine connects to the gateway through the first it can, over RDMA where
 *         published so, and keeps the others as standbys. As the default role does, a path
 *         that cannot be made is logged and left: staging needs one;
 *   aio   ConnectKernelNvme (rdmagate's extension: the DPU's kernel host connects), then
 *         CreateAioVolume over the block device it gave;
 *   both  CreateNvmeNamespace on the host function: the DPU hot-adds it and the host's
 *         kernel learns of it by the namespace notice. In nvmf mode it carries the volume's
 *         NGUID and UUID, as a gateway re-exports a namespace; in aio mode ids derived from
 *         them (aioFunctionIds), as it is the DPU's block device, not the storage's namespace.
 *
 * The host's kernel connects to the host function once (connectHostFunction, at node
 * start), as a PCIe function is simply there; it never connects per volume. Every resource
 * is named after the volume, so unstage needs no record, and each create is idempotent
 * (an identical create answers the existing resource), so a retry after a crash at any step
 * converges. Unstage deletes in reverse with allow_missing, both modes' resources.
 *
 * A volume that requires DH-HMAC-CHAP is refused (FAILED_PRECONDITION) before the DPU is
 * asked anything: neither OPI's CreateNvmePath nor ConnectKernelNvme carries DH-HMAC-CHAP
 * secrets, and the DPU would connect unauthenticated.
 *
 * A volume that requires TLS is staged in `nvmf` mode with its PSK in the remote controller
 * (OPI's NvmeRemoteController.tcp.psk, the interchange string as bytes): the DPU's engine
 * connects to the gateway over TLS with it. `aio` mode refuses it (FAILED_PRECONDITION) before
 * the DPU is asked anything: ConnectKernelNvme has no PSK field.
 */
import { createHash } from 'node:crypto';
import { CsiError, deadlineExceeded, failedPrecondition, GrpcStatus, invalidArgument, unavailable } from '../errors';
import type { CsiLogger } from '../log';
import { publishPaths, volumeIdOfNqn, type ConnectionMode, type ConnectTuning, type PublishContext, type PublishPath } from '../parameters';
import type { AttachOptions, VolumeAttacher } from '../volume-attacher';
import { OpiClientError, type OpiClient } from '../../opi/client';
import { OpiStatus } from '../../opi/errors';
import type { AioVolume, KernelNvmeDevice, NvmeController, NvmeSubsystem } from '../../opi/messages';
import type { BridgeServiceName } from '../../opi/proto';
import { uuidText } from '../../nvmf/target/ids';
import { aioFunctionIds, idHex } from './disk-ids';
import { HostDiskAttacher, type HostDiskAttacherOptions } from './host-disk';
import { nvmeConnect } from './kernel-nvme';

export interface DpuBridgeAttacherOptions {
  /** A client of the DPU's bridge (opiClient(--dpu-endpoint)). */
  opi: OpiClient;
  /** The host function's subsystem (OPI id); default: the bridge's only subsystem with a fabrics controller. */
  subsystemId?: string;
  /** For volumes whose StorageClass sets no connectionMode; default nvmf. */
  defaultMode?: ConnectionMode;
  /** How the host finds the disks (tests point it at a fake sysfs). */
  disks?: HostDiskAttacherOptions;
  /** Connects the host's kernel to the host function; default `nvme connect`. Tests replace it. */
  connect?: (fn: HostFunction) => Promise<void>;
  /** Where a path the DPU cannot make is reported (staging goes on with the others). */
  log?: CsiLogger;
}

/** The NVMe function the DPU presents to this host, as the host's kernel reaches it. */
export interface HostFunction {
  subsystemId: string;
  nqn: string;
  transport: 'tcp' | 'rdma';
  traddr: string;
  trsvcid: string;
}

/** An OPI id for a volume: `vol-<volume_id>` where that is a valid id, else a digest of it. */
export function dpuResourceId(volumeId: string): string {
  const plain = `vol-${volumeId}`;
  if (/^[a-z0-9][a-z0-9-]{0,62}$/.test(plain)) return plain;
  return `vol-${createHash('sha256').update(volumeId).digest('hex').slice(0, 40)}`;
}

const RC: BridgeServiceName = 'NvmeRemoteControllerService';
const FE: BridgeServiceName = 'FrontendNvmeService';
const AIO: BridgeServiceName = 'AioVolumeService';
const KERNEL: BridgeServiceName = 'KernelNvmeService';

export class DpuBridgeAttacher implements VolumeAttacher {
  readonly role = 'host';
  readonly #opi: OpiClient;
  readonly #subsystemId: string | undefined;
  readonly #defaultMode: ConnectionMode;
  readonly #disks: HostDiskAttacher;
  readonly #connect: (fn: HostFunction) => Promise<void>;
  readonly #log: CsiLogger | undefined;

  constructor(options: DpuBridgeAttacherOptions) {
    this.#opi = options.opi;
    this.#subsystemId = options.subsystemId;
    this.#defaultMode = options.defaultMode ?? 'nvmf';
    this.#disks = new HostDiskAttacher({ alternateIds: (v) => ({ ...v, ...aioFunctionIds(v) }), ...options.disks });
    this.#connect = options.connect ?? kernelConnect;
    this.#log = options.log;
  }

  /** The bridge answers and offers a host function; the host's kernel is connected to it. */
  async probe(): Promise<void> {
    await this.connectHostFunction();
  }

  /** Connects the host's kernel to the DPU's host function unless it is connected: once, at node start. */
  async connectHostFunction(): Promise<HostFunction> {
    const fn = await this.hostFunction();
    await this.#connect(fn);
    return fn;
  }

  /** The host function, as the bridge describes it now (a DPU restarted with another endpoint moved it). */
  async hostFunction(): Promise<HostFunction> {
    const subs = await this.#list<NvmeSubsystem>(FE, 'ListNvmeSubsystems', {}, 'nvme_subsystems');
    const candidates = this.#subsystemId ? subs.filter((s) => s.name === `nvmeSubsystems/${this.#subsystemId}`) : subs;
    for (const sub of candidates) {
      const ctrls = await this.#list<NvmeController>(FE, 'ListNvmeControllers', { parent: sub.name }, 'nvme_controllers');
      const c = ctrls.find((x) => x.spec?.fabrics_id?.traddr);
      const trtype = c?.spec?.trtype;
      if (!c?.spec?.fabrics_id || !sub.spec || (trtype !== 'NVME_TRANSPORT_TYPE_TCP' && trtype !== 'NVME_TRANSPORT_TYPE_RDMA')) continue;
      return { subsystemId: sub.name.slice('nvmeSubsystems/'.length), nqn: sub.spec.nqn,
        transport: trtype === 'NVME_TRANSPORT_TYPE_RDMA' ? 'rdma' : 'tcp', traddr: c.spec.fabrics_id.traddr,
        trsvcid: c.spec.fabrics_id.trsvcid };
    }
    throw failedPrecondition(this.#subsystemId
      ? `the DPU bridge has no subsystem ${this.#subsystemId} with a fabrics controller (--dpu-function)`
      : 'the DPU bridge offers no subsystem with a fabrics controller: is `rdmagate dpu` running there?');
  }

  async attach(ctx: PublishContext, tuning: ConnectTuning, hostnqn: string, options: AttachOptions = {}): Promise<string> {
    const volumeId = volumeIdOfNqn(ctx.subnqn);
    if (volumeId === undefined) throw invalidArgument(`publish_context.subnqn ${ctx.subnqn} is not a volume subsystem of this driver`);
    if (options.dhchap) {
      throw failedPrecondition(`volume ${volumeId} requires DH-HMAC-CHAP, which the DPU's OPI bridge cannot carry (CreateNvmePath and ` +
        'ConnectKernelNvme have no DH-HMAC-CHAP fields): stage it on a node of role default, or use a StorageClass without dhchap');
    }
    const mode = options.connectionMode ?? this.#defaultMode;
    if (options.psk && mode !== 'nvmf') {
      throw failedPrecondition(`volume ${volumeId} requires NVMe/TCP TLS, which connection mode aio cannot carry (ConnectKernelNvme ` +
        'has no PSK field): use connectionMode nvmf, where the DPU\'s remote controller connects with the PSK');
    }
    const id = dpuResourceId(volumeId);
    const fn = await this.hostFunction();
    const volumeRef = mode === 'nvmf' ? await this.#remoteNamespace(id, ctx, tuning, hostnqn, options.psk)
      : await this.#aioVolume(id, volumeId, ctx, tuning, hostnqn);
    const ids = mode === 'nvmf' ? { nguid: idHex(ctx.nguid), uuid: idHex(ctx.uuid) } : aioFunctionIds({ nguid: idHex(ctx.nguid) });
    const uuid = uuidText(Buffer.from(ids.uuid, 'hex'));
    await this.#call(FE, 'CreateNvmeNamespace', { parent: `nvmeSubsystems/${fn.subsystemId}`, nvme_namespace_id: id,
      nvme_namespace: { spec: { volume_name_ref: volumeRef, nguid: ids.nguid, uuid } } });
    return this.#disks.attach({ ...ctx, nguid: ids.nguid, uuid }, tuning, hostnqn);
  }

  device(volumeId: string): Promise<string | undefined> {
    return this.#disks.device(volumeId);
  }

  /** Takes the namespace from the host first, then what the DPU holds under it. */
  async detach(volumeId: string): Promise<void> {
    const id = dpuResourceId(volumeId);
    const fn = await this.hostFunction();
    await this.#call(FE, 'DeleteNvmeNamespace', { name: `nvmeSubsystems/${fn.subsystemId}/nvmeNamespaces/${id}`, allow_missing: true });
    const controller = `nvmeRemoteControllers/${id}`;
    const paths = await this.#list<{ name: string }>(RC, 'ListNvmePaths', { parent: controller }, 'nvme_paths')
      .catch((e: unknown) => (isStatus(e, OpiStatus.NOT_FOUND) ? [] : Promise.reject(e)));
    // Last made first: the active path (the first made, which the bridge lists first) goes
    // last, as deleting it before a standby moves the controller onto that standby, and a
    // standby whose gateway is down would fail the unstage.
    for (const p of paths.reverse()) await this.#call(RC, 'DeleteNvmePath', { name: p.name, allow_missing: true });
    await this.#call(RC, 'DeleteNvmeRemoteController', { name: controller, allow_missing: true });
    await this.#call(AIO, 'DeleteAioVolume', { name: `aioVolumes/${id}`, allow_missing: true });
    await this.#call(KERNEL, 'DisconnectKernelNvme', { volume_id: volumeId, allow_missing: true })
      .catch((e: unknown) => (isStatus(e, OpiStatus.UNIMPLEMENTED) ? undefined : Promise.reject(e)));  // a bridge without it connected nothing
    await this.#disks.detach(volumeId);
  }

  /**
   * The volume grew. Over NVMe-oF the DPU's backend learnt it by the gateway's notice and
   * passed it on; in AIO mode the DPU's kernel device and then its AIO volume re-read their
   * size here, and the host function tells the host. Then the host's own device re-reads,
   * and is waited for until it holds `minBytes`, or in AIO mode what the AIO volume now does.
   */
  async rescan(volumeId: string, minBytes?: number): Promise<number> {
    const id = dpuResourceId(volumeId);
    const aio = await this.#find<AioVolume>(AIO, 'GetAioVolume', { name: `aioVolumes/${id}` });
    let hostBytes = minBytes;
    if (aio) {
      const dev = await this.#call<KernelNvmeDevice>(KERNEL, 'RescanKernelNvme',
        { volume_id: volumeId, ...(minBytes ? { min_size_bytes: minBytes } : {}) });
      const size = Number(dev.size_bytes);
      // A bridge that predates min_size_bytes answers without waiting for it.
      if (minBytes && size < minBytes) throw deadlineExceeded(`the DPU's ${dev.device} holds ${size} bytes, not yet ${minBytes}`);
      const blockSize = Number(aio.block_size);
      if (!(blockSize > 0)) throw unavailable(`${aio.name} shows no block size: its bdev is not open on the DPU`);
      const blocks = Math.floor(size / blockSize);
      await this.#call(AIO, 'UpdateAioVolume', { aio_volume: { name: aio.name, blocks_count: blocks }, update_mask: { paths: ['blocks_count'] } });
      hostBytes = blocks * blockSize;
    }
    return this.#disks.rescan(volumeId, hostBytes);
  }

  async #remoteNamespace(id: string, ctx: PublishContext, tuning: ConnectTuning, hostnqn: string, psk: string | undefined): Promise<string> {
    const controller = `nvmeRemoteControllers/${id}`;
    await this.#call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller_id: id,
      nvme_remote_controller: { multipath: 'NVME_MULTIPATH_FAILOVER', ...(tuning.nr_io_queues ? { io_queues_count: tuning.nr_io_queues } : {}),
        ...(psk ? { tcp: { psk: Buffer.from(psk, 'utf8') } } : {}) } });
    const paths = publishPaths(ctx);
    const failures: { path: PublishPath; error: unknown }[] = [];
    // One after another, in the publish context's order: the first the DPU makes is its
    // active path (the optimized gateway's when it can), the later ones its standbys.
    for (const [i, path] of paths.entries()) {
      try {
        await this.#call(RC, 'CreateNvmePath', { parent: controller, nvme_path_id: `path${i}`, nvme_path: {
          trtype: ctx.transport === 'rdma' ? 'NVME_TRANSPORT_TYPE_RDMA' : 'NVME_TRANSPORT_TYPE_TCP', traddr: path.traddr,
          fabrics: { trsvcid: Number(path.trsvcid), subnqn: ctx.subnqn, hostnqn,
            adrfam: path.traddr.includes(':') ? 'NVME_ADDRESS_FAMILY_IPV6' : 'NVME_ADDRESS_FAMILY_IPV4' } } });
      } catch (e) {
        failures.push({ path, error: e });
      }
    }
    if (failures.length === paths.length) {
      if (failures.length === 1) throw failures[0]!.error;
      // The first path's status (UNAVAILABLE when no gateway answered), with every path's reason.
      const first = failures[0]!.error;
      throw new CsiError(first instanceof CsiError ? first.grpcCode : GrpcStatus.FAILED_PRECONDITION,
        `the DPU could make no path of ${ctx.subnqn}: ${failures.map(describeFailure).join('; ')}`);
    }
    for (const f of failures) {
      this.#log?.warn('the DPU could not make a path of the volume; the others carry its I/O', {
        subnqn: ctx.subnqn, transport: ctx.transport, traddr: f.path.traddr, trsvcid: f.path.trsvcid, error: errorText(f.error),
      });
    }
    return `${controller}/nvmeRemoteNamespaces/1`;
  }

  async #aioVolume(id: string, volumeId: string, ctx: PublishContext, tuning: ConnectTuning, hostnqn: string): Promise<string> {
    const wrapped = Object.fromEntries(Object.entries(tuning).filter(([, v]) => v !== undefined).map(([k, v]) => [k, { value: v }]));
    const dev = await this.#call<KernelNvmeDevice>(KERNEL, 'ConnectKernelNvme', { volume_id: volumeId, trtype: ctx.transport,
      traddr: ctx.traddr, trsvcid: ctx.trsvcid, subnqn: ctx.subnqn, hostnqn, nguid: ctx.nguid, uuid: ctx.uuid, tuning: wrapped });
    if (!dev.device) throw failedPrecondition(`the DPU connected volume ${volumeId} but named no block device`);
    const name = `aioVolumes/${id}`;
    const existing = await this.#find<AioVolume>(AIO, 'GetAioVolume', { name });
    // The DPU's kernel may name the device differently after a reconnect: a volume over the
    // old name, left by a stage that stopped halfway, is made again over the new one.
    if (existing && existing.filename !== dev.device) await this.#call(AIO, 'DeleteAioVolume', { name });
    // Block size 0: the device's own logical block size (a volume of 4 KiB blocks has no 512 B one).
    await this.#call(AIO, 'CreateAioVolume', { aio_volume_id: id, aio_volume: { filename: dev.device, block_size: 0 } });
    return name;
  }

  async #call<T = unknown>(service: BridgeServiceName, method: string, request: object): Promise<T> {
    try {
      return await this.#opi.call<T>(service, method, request);
    } catch (e) {
      throw fromOpi(e, `${service}.${method}`);
    }
  }

  /** A Get that answers undefined for a resource that is not there. */
  #find<T>(service: BridgeServiceName, method: string, request: object): Promise<T | undefined> {
    return this.#call<T>(service, method, request).catch((e: unknown) => (isStatus(e, OpiStatus.NOT_FOUND) ? undefined : Promise.reject(e)));
  }

  async #list<T>(service: BridgeServiceName, method: string, request: object, field: string): Promise<T[]> {
    const out: T[] = [];
    let page_token = '';
    do {
      const r = await this.#call<Record<string, unknown>>(service, method, { ...request, page_size: 100, page_token });
      out.push(...((r[field] as T[] | undefined) ?? []));
      page_token = String(r.next_page_token ?? '');
    } while (page_token);
    return out;
  }
}

function isStatus(e: unknown, code: OpiStatus): boolean {
  return (e instanceof OpiClientError || e instanceof CsiError) && e.grpcCode === code;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function describeFailure(f: { path: PublishPath; error: unknown }): string {
  return `${f.path.traddr}:${f.path.trsvcid}: ${errorText(f.error)}`;
}

/** The bridge's answer as the CO should see it: the same status, saying that the DPU said it. */
function fromOpi(e: unknown, what: string): unknown {
  return e instanceof OpiClientError ? new CsiError(e.grpcCode, `the DPU's OPI bridge answered ${what}: ${e.message}`) : e;
}

/**
 * `nvme connect` to the host function unless it is connected. As a PCIe function does not
 * go away, neither does this controller: while the DPU restarts, the host's I/O waits
 * (ctrl_loss_tmo -1) and the kernel tries again every second.
 */
function kernelConnect(fn: HostFunction): Promise<void> {
  return nvmeConnect({ transport: fn.transport, traddr: fn.traddr, trsvcid: fn.trsvcid, subnqn: fn.nqn },
    { ctrl_loss_tmo: -1, reconnect_delay: 1 });
}
