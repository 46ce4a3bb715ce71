/**
 * NvmeRemoteControllerService: NVMe-oF controllers the DPU connects to, as backends of
 * its gateway. A remote controller is a record until its first path; that path attaches
 * the gateway's controller, named after the controller's id
 * (bdev_nvme_attach_controller), whose namespaces become bdevs <id>n<nsid>. Further paths
 * are standbys: the gateway's failover paths of that controller (an attach under its name,
 * multipath failover), which its reconnects go through when the path in use is lost. With
 * NVME_MULTIPATH_MULTIPATH each further path is a controller of its own, connected all the
 * time (an attach under its name, multipath "multipath"), whose namespaces are further paths
 * of the same bdevs: losing one costs no reconnect. Deleting the active path with others left
 * moves the controller onto the next, with its namespaces served all along; deleting its last
 * path detaches it. A controller with several paths keeps its multipath mode.
 *
 * A controller with tcp.psk (NVMe/TCP TLS) attaches over TLS: its PSK goes to a 0600 file in
 * the bridge's key directory, the gateway's keyring takes it from there (keyring_file_add_key,
 * the key named after the controller), and bdev_nvme_attach_controller names it (psk). Its
 * paths must be NVMe/TCP. Get and List answer psk empty. An update replaces the PSK when it
 * carries one, and clears it only when its mask names tcp or tcp.psk; an attached controller's
 * PSK cannot change (it takes effect when it attaches).
 */
import type { UndoSteps } from '../changes';
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from '../errors';
import { enumValue, flag, integer, message, requiredMessage, requiredText, text, type Raw } from '../fields';
import { sameTrid, type BdevJson } from '../gateway-calls';
import type { ListResponse, NvmeMultipath, NvmePath, NvmeRemoteController, NvmeRemoteNamespace, StatsResponse } from '../messages';
import { childName, Collection, parseChild, parseRemoteNamespace, parseTop, remoteNamespaceBdev, resourceId, topName } from '../names';
import { paginate } from '../pages';
import { masksField, prunePsks, pskFile, readPsk, samePsk, storePsk, updatedPsk } from '../psk';
import type { Multipath, PathRecord, RemoteControllerRecord } from '../state';
import { volumeStats, zeroStats } from '../stats';
import { maskPaths, overlay } from '../update-mask';
import { deleteResource, sameSpec, type OpiHandlers, type ServiceContext } from './context';
import { checkNqn, fabricOf, familyOf, readFamily, readTransport, transportOf } from './transport';

const MULTIPATHS: readonly NvmeMultipath[] = ['NVME_MULTIPATH_UNSPECIFIED', 'NVME_MULTIPATH_DISABLE',
  'NVME_MULTIPATH_FAILOVER', 'NVME_MULTIPATH_MULTIPATH'];
const CONTROLLER_FIELDS = ['multipath', 'io_queues_count', 'queue_size', 'tcp'] as const;
const CONTROLLER_UPDATABLE = [...CONTROLLER_FIELDS, 'tcp.hdgst', 'tcp.ddgst', 'tcp.psk'];
const PATH_FIELDS = ['trtype', 'traddr', 'fabrics'] as const;
const PATH_UPDATABLE = [...PATH_FIELDS, ...['trsvcid', 'subnqn', 'adrfam', 'source_traddr', 'source_trsvcid', 'hostnqn']
  .map((f) => `fabrics.${f}`)];

function readControllerSpec(v: Raw, path: string): RemoteControllerRecord['spec'] {
  const multipath = enumValue(v, 'multipath', `${path}.multipath`, MULTIPATHS);
  if (multipath === 'NVME_MULTIPATH_UNSPECIFIED') throw invalidArgument(`${path}.multipath is required`);
  const tcp = message(v, 'tcp', `${path}.tcp`);
  return {
    multipath: multipath as Multipath,
    // Recorded: the gateway gives a backend one I/O queue per reactor, of the target's depth.
    ioQueuesCount: integer(v, 'io_queues_count', `${path}.io_queues_count`, 0, 65535),
    queueSize: integer(v, 'queue_size', `${path}.queue_size`, 0, 65536),
    hdgst: flag(tcp, 'hdgst', `${path}.tcp.hdgst`),
    ddgst: flag(tcp, 'ddgst', `${path}.tcp.ddgst`),
  };
}

function readPathSpec(v: Raw, path: string): PathRecord['spec'] {
  const trtype = fabricOf(readTransport(v, path), path);
  const traddr = requiredText(v, 'traddr', `${path}.traddr`);
  const f = requiredMessage(v, 'fabrics', `${path}.fabrics`);
  const trsvcid = integer(f, 'trsvcid', `${path}.fabrics.trsvcid`, 0, 65535);
  if (trsvcid === 0) throw invalidArgument(`${path}.fabrics.trsvcid is required`);
  const subnqn = checkNqn(requiredText(f, 'subnqn', `${path}.fabrics.subnqn`), `${path}.fabrics.subnqn`);
  const adrfam = readFamily(f, `${path}.fabrics`, traddr, `${path}.traddr`);
  // The gateway's host picks its source address by route.
  if (text(f, 'source_traddr', `${path}.fabrics.source_traddr`) !== '') {
    throw invalidArgument(`${path}.fabrics.source_traddr is not supported: the gateway connects from the routed address`);
  }
  if (integer(f, 'source_trsvcid', `${path}.fabrics.source_trsvcid`, 0, 65535) !== 0) {
    throw invalidArgument(`${path}.fabrics.source_trsvcid is not supported: the gateway connects from an ephemeral port`);
  }
  const hostnqn = text(f, 'hostnqn', `${path}.fabrics.hostnqn`);
  if (hostnqn !== '') checkNqn(hostnqn, `${path}.fabrics.hostnqn`);
  return { trtype, traddr, trsvcid, subnqn, adrfam, hostnqn };
}

/** The controller's tcp.psk ('' for none), checked: INVALID_ARGUMENT for anything but a PSK, never repeating it. */
function readControllerPsk(v: Raw, path: string): string {
  return readPsk(message(v, 'tcp', `${path}.tcp`), 'psk', `${path}.tcp.psk`);
}

/** Whether an update's own mask names the PSK (an update without a mask never clears it). */

/** The same remote target: two paths to it would be one path twice. */
function sameTarget(a: PathRecord['spec'], b: PathRecord['spec']): boolean {
  return a.trtype === b.trtype && a.traddr === b.traddr && a.trsvcid === b.trsvcid && a.subnqn === b.subnqn;
}

const NS_BDEV = /^(.+)n(\d+)$/;

export class NvmeRemoteControllerService {
  constructor(private readonly ctx: ServiceContext) {}

  handlers(): OpiHandlers {
    return {
      CreateNvmeRemoteController: (r) => this.createController(r),
      DeleteNvmeRemoteController: (r) => this.deleteController(r),
      UpdateNvmeRemoteController: (r) => this.updateController(r),
      ListNvmeRemoteControllers: (r) => this.listControllers(r),
      GetNvmeRemoteController: (r) => this.getController(r),
      ResetNvmeRemoteController: (r) => this.resetController(r),
      StatsNvmeRemoteController: (r) => this.statsController(r),
      ListNvmeRemoteNamespaces: (r) => this.listNamespaces(r),
      GetNvmeRemoteNamespace: (r) => this.getNamespace(r),
      CreateNvmePath: (r) => this.createPath(r),
      DeleteNvmePath: (r) => this.deletePath(r),
      UpdateNvmePath: (r) => this.updatePath(r),
      ListNvmePaths: (r) => this.listPaths(r),
      GetNvmePath: (r) => this.getPath(r),
      StatsNvmePath: (r) => this.statsPath(r),
    };
  }

  // --- remote controllers ---

  async createController(req: Raw): Promise<NvmeRemoteController> {
    const v = requiredMessage(req, 'nvme_remote_controller', 'nvme_remote_controller');
    const id = resourceId(text(req, 'nvme_remote_controller_id', 'nvme_remote_controller_id'), 'nvme_remote_controller_id');
    const spec = readControllerSpec(v, 'nvme_remote_controller');
    const psk = readControllerPsk(v, 'nvme_remote_controller');
    return this.ctx.changes.run(async () => this.#makeController(id, spec, psk));
  }

  async #makeController(id: string, spec: RemoteControllerRecord['spec'], psk: string): Promise<NvmeRemoteController> {
    const name = topName(Collection.remoteControllers, id);
    const existing = this.ctx.state.remoteControllers.get(name);
    if (existing) {
      if (sameSpec(existing.spec, spec) && await samePsk(this.ctx, existing.pskKey, psk)) return controllerProto(existing);
      throw alreadyExists(`${name} already exists with another spec`);
    }
    // Nothing on the gateway yet: its controller is attached with the first path (and the PSK's key with it).
    const pskKey = psk === '' ? undefined : await storePsk(this.ctx, 'rc', id, psk);
    const record: RemoteControllerRecord = { name, id, spec, activePath: null, ...(pskKey ? { pskKey } : {}) };
    this.ctx.state.remoteControllers.set(name, record);
    return controllerProto(record);
  }

  async deleteController(req: Raw): Promise<object> {
    const r = await deleteResource(this.ctx, req, (name) => parseTop(name, Collection.remoteControllers, 'name'), (s) => s.remoteControllers,
      async (record) => {
        const { state } = this.ctx;
        // OPI deletes no children for the caller: paths go first, each by its own Delete.
        const paths = state.pathsOf(record.id);
        if (paths.length > 0) throw failedPrecondition(`${record.name} still has paths: ${paths.map((p) => p.name).join(', ')}`);
        const users = state.namespacesUsing(record.name);
        if (users.length > 0) throw failedPrecondition(`${record.name} is used by ${users.map((n) => n.name).join(', ')}`);
      });
    // Its PSK, off the keyring and out of the key directory, now that the record is gone.
    await prunePsks(this.ctx);
    return r;
  }

  async updateController(req: Raw): Promise<NvmeRemoteController> {
    const v = requiredMessage(req, 'nvme_remote_controller', 'nvme_remote_controller');
    const name = text(v, 'name', 'nvme_remote_controller.name');
    const id = parseTop(name, Collection.remoteControllers, 'nvme_remote_controller.name');
    const paths = maskPaths(req, CONTROLLER_UPDATABLE, CONTROLLER_FIELDS);
    const allowMissing = flag(req, 'allow_missing', 'allow_missing');
    const clearsPsk = masksField(req, 'tcp', 'tcp.psk');
    let pskChanged = false;
    const r = await this.ctx.changes.run(async () => {
      const current = this.ctx.state.remoteControllers.get(name);
      if (!current) {
        if (!allowMissing) throw notFound(`${name} does not exist`);
        return this.#makeController(id, readControllerSpec(v, 'nvme_remote_controller'), readControllerPsk(v, 'nvme_remote_controller'));
      }
      const merged = overlay(controllerProto(current) as unknown as Raw, v, paths);
      const next = readControllerSpec(merged, 'nvme_remote_controller');
      const update = await updatedPsk(this.ctx, readControllerPsk(merged, 'nvme_remote_controller'), clearsPsk, current.pskKey);
      const psk = update.psk;
      pskChanged = update.changed;
      const attached = current.activePath !== null;
      const shapesAttach = [...(['ioQueuesCount', 'queueSize', 'hdgst', 'ddgst'] as const).filter((k) => next[k] !== current.spec[k]),
        ...(pskChanged ? ['psk'] : [])];
      if (attached && shapesAttach.length > 0) {
        throw failedPrecondition(`${name} is attached: ${shapesAttach.join(', ')} take effect when it attaches; delete its paths first`);
      }
      const pathCount = this.ctx.state.pathsOf(current.id).length;
      if (next.multipath === 'NVME_MULTIPATH_DISABLE' && pathCount > 1) {
        throw failedPrecondition(`${name} has ${pathCount} paths: delete all but one before disabling multipath`);
      }
      if (next.multipath !== current.spec.multipath && pathCount > 1) {
        throw failedPrecondition(`${name} has ${pathCount} paths, made for ${current.spec.multipath}: delete all but one before changing multipath`);
      }
      if (pskChanged && psk !== '' && this.ctx.state.pathsOf(current.id).some((p) => p.spec.trtype !== 'TCP')) {
        throw failedPrecondition(`${name} has NVMe/RDMA paths: a TLS PSK is NVMe/TCP's`);
      }
      current.spec = next;
      if (pskChanged) {
        delete current.pskKey;
        if (psk) current.pskKey = await storePsk(this.ctx, 'rc', current.id, psk);
      }
      return controllerProto(current);
    });
    if (pskChanged) await prunePsks(this.ctx);
    return r;
  }

  async listControllers(req: Raw): Promise<ListResponse<'nvme_remote_controllers', NvmeRemoteController>> {
    const page = paginate(req, [...this.ctx.state.remoteControllers.values()]);
    return { nvme_remote_controllers: page.items.map(controllerProto), next_page_token: page.nextPageToken };
  }

  async getController(req: Raw): Promise<NvmeRemoteController> {
    return controllerProto(this.#controller(text(req, 'name', 'name'), 'name'));
  }

  /** A reconnect now (the gateway's bdev_nvme_reset_controller), its namespaces served all along. */
  async resetController(req: Raw): Promise<object> {
    const name = text(req, 'name', 'name');
    this.#controller(name, 'name');
    return this.ctx.changes.run(async () => {
      const record = this.#controller(name, 'name');
      if (record.activePath === null) throw failedPrecondition(`${name} has no path: there is no connection to reset`);
      await this.ctx.gateway.resetController(record.id);
      return {};
    });
  }

  async statsController(req: Raw): Promise<StatsResponse> {
    const record = this.#controller(text(req, 'name', 'name'), 'name');
    return { stats: await volumeStats(this.ctx.gateway, (await this.#namespaceBdevs(record)).map((b) => b.name)) };
  }

  // --- remote namespaces: what the attached controller brings, read from the gateway ---

  async listNamespaces(req: Raw): Promise<ListResponse<'nvme_remote_namespaces', NvmeRemoteNamespace>> {
    const record = this.#controller(text(req, 'parent', 'parent'), 'parent');
    const page = paginate(req, await this.#namespaceBdevs(record));
    return { nvme_remote_namespaces: page.items.map((b) => remoteNamespaceProto(record.id, b)), next_page_token: page.nextPageToken };
  }

  async getNamespace(req: Raw): Promise<NvmeRemoteNamespace> {
    const name = text(req, 'name', 'name');
    const { controller, nsid } = parseRemoteNamespace(name, 'name');
    const record = this.#controller(topName(Collection.remoteControllers, controller), 'name');
    const bdev = record.activePath === null ? undefined : await this.ctx.gateway.bdev(remoteNamespaceBdev(controller, nsid));
    if (!bdev || bdev.product_name !== 'NVMe disk') throw notFound(`${name} does not exist`);
    return remoteNamespaceProto(controller, bdev);
  }

  /** The controller's namespace bdevs on the gateway, by NSID. */
  async #namespaceBdevs(record: RemoteControllerRecord): Promise<BdevJson[]> {
    if (record.activePath === null) return [];
    const nsid = (b: BdevJson) => Number(NS_BDEV.exec(b.name)?.[2]);
    return (await this.ctx.gateway.bdevs())
      .filter((b) => b.product_name === 'NVMe disk' && NS_BDEV.exec(b.name)?.[1] === record.id)
      .sort((a, b) => nsid(a) - nsid(b));
  }

  // --- paths ---

  async createPath(req: Raw): Promise<NvmePath> {
    const parent = text(req, 'parent', 'parent');
    const controller = parseTop(parent, Collection.remoteControllers, 'parent');
    const v = requiredMessage(req, 'nvme_path', 'nvme_path');
    const id = resourceId(text(req, 'nvme_path_id', 'nvme_path_id'), 'nvme_path_id');
    const spec = readPathSpec(v, 'nvme_path');
    return this.ctx.changes.run((undo) => this.#makePath(controller, id, spec, undo));
  }

  async #makePath(controller: string, id: string, spec: PathRecord['spec'], undo: UndoSteps): Promise<NvmePath> {
    const { state } = this.ctx;
    const ctrl = this.#controller(topName(Collection.remoteControllers, controller), 'parent');
    const name = childName(Collection.remoteControllers, controller, Collection.paths, id);
    const existing = state.paths.get(name);
    if (existing) {
      if (sameSpec(existing.spec, spec)) return pathProto(existing);
      throw alreadyExists(`${name} already exists with another spec`);
    }
    const twin = state.pathsOf(controller).find((p) => sameTarget(p.spec, spec));
    if (twin) throw alreadyExists(`${twin.name} already reaches ${spec.subnqn} at ${spec.traddr}:${spec.trsvcid}`);
    if (ctrl.pskKey !== undefined && spec.trtype !== 'TCP') {
      throw invalidArgument(`nvme_path.trtype: ${ctrl.name} has a TLS PSK (tcp.psk), which is NVMe/TCP's; this path is ${transportOf(spec.trtype)}`);
    }
    const record: PathRecord = { name, id, controller, spec };
    if (ctrl.activePath !== null) {
      if (ctrl.spec.multipath === 'NVME_MULTIPATH_DISABLE') {
        throw failedPrecondition(`${ctrl.name} has multipath NVME_MULTIPATH_DISABLE and a path already`);
      }
      await this.ctx.gateway.addPath(ctrl.id, spec, ctrl.spec.multipath);
      undo.add(`remove path ${name} from ${ctrl.id}`, () => this.ctx.gateway.removePath(ctrl.id, spec));
      state.paths.set(name, record);  // a standby
      return pathProto(record);
    }
    await this.#attach(ctrl, spec, undo);
    ctrl.activePath = id;
    state.paths.set(name, record);
    return pathProto(record);
  }

  /** Attaches the gateway's controller through `spec`; one already attached there (a create that died unsaved) is kept. */
  async #attach(ctrl: RemoteControllerRecord, spec: PathRecord['spec'], undo: UndoSteps): Promise<void> {
    const { gateway } = this.ctx;
    const there = await gateway.nvmeController(ctrl.id);
    if (there) {
      if (there.ctrlrs.some((c) => [c.trid, ...(c.alternate_trids ?? [])].some((t) => sameTrid(t, spec)))) return;
      const c = there.ctrlrs[0];
      throw failedPrecondition(`the gateway already has a controller '${ctrl.id}', attached to ` +
        `${c ? `${c.trid.subnqn} at ${c.trid.traddr}:${c.trid.trsvcid}` : 'another target'}`);
    }
    await gateway.attachController(ctrl.id, spec, ctrl.spec, pskFile(this.ctx, ctrl.pskKey));
    undo.add(`bdev_nvme_detach_controller ${ctrl.id}`, () => gateway.detachController(ctrl.id));
  }

  async deletePath(req: Raw): Promise<object> {
    const parse = (name: string) => parseChild(name, Collection.remoteControllers, Collection.paths, 'name');
    return deleteResource(this.ctx, req, parse, (s) => s.paths, async (record, undo) => {
      const { state, gateway } = this.ctx;
      const ctrl = this.#controller(topName(Collection.remoteControllers, record.controller), 'name');
      const standby = state.pathsOf(ctrl.id).find((p) => p.id !== record.id);
      if (standby) {
        // The gateway moves off it if it is in use, its namespaces served all along.
        await gateway.removePath(ctrl.id, record.spec);
        undo.add(`add path ${record.name} to ${ctrl.id} again`, () => gateway.addPath(ctrl.id, record.spec, ctrl.spec.multipath));
        // The gateway's next path takes the removed one's place as the controller's own, as here.
        if (ctrl.activePath === record.id) ctrl.activePath = standby.id;
        return;
      }
      const users = state.namespacesUsing(ctrl.name);
      if (users.length > 0) {
        throw failedPrecondition(`${record.name} is the last path of ${ctrl.name}, whose namespaces are used by ` +
          `${users.map((n) => n.name).join(', ')}`);
      }
      await gateway.detachController(ctrl.id);
      ctrl.activePath = null;
    });
  }

  async updatePath(req: Raw): Promise<NvmePath> {
    const v = requiredMessage(req, 'nvme_path', 'nvme_path');
    const name = text(v, 'name', 'nvme_path.name');
    const { parentId, id } = parseChild(name, Collection.remoteControllers, Collection.paths, 'nvme_path.name');
    const paths = maskPaths(req, PATH_UPDATABLE, PATH_FIELDS);
    const allowMissing = flag(req, 'allow_missing', 'allow_missing');
    return this.ctx.changes.run(async (undo) => {
      const current = this.ctx.state.paths.get(name);
      if (!current) {
        if (!allowMissing) throw notFound(`${name} does not exist`);
        return this.#makePath(parentId, id, readPathSpec(v, 'nvme_path'), undo);
      }
      const next = readPathSpec(overlay(pathProto(current) as unknown as Raw, v, paths), 'nvme_path');
      // A path is its address: another address is another path.
      const changed = (Object.keys(next) as (keyof PathRecord['spec'])[]).filter((k) => next[k] !== current.spec[k]);
      if (changed.length > 0) {
        throw invalidArgument(`nvme_path: ${changed.join(', ')} cannot be changed; create another path and delete this one`);
      }
      return pathProto(current);
    });
  }

  async listPaths(req: Raw): Promise<ListResponse<'nvme_paths', NvmePath>> {
    const record = this.#controller(text(req, 'parent', 'parent'), 'parent');
    const page = paginate(req, this.ctx.state.pathsOf(record.id));
    return { nvme_paths: page.items.map(pathProto), next_page_token: page.nextPageToken };
  }

  async getPath(req: Raw): Promise<NvmePath> {
    return pathProto(this.#path(text(req, 'name', 'name')));
  }

  /**
   * The path the gateway is on carries the controller's I/O; the others carry none. With
   * NVME_MULTIPATH_MULTIPATH, where every path carries some, the first path's counts are the
   * namespaces' (the gateway counts per namespace, not per path).
   */
  async statsPath(req: Raw): Promise<StatsResponse> {
    const record = this.#path(text(req, 'name', 'name'));
    const ctrl = this.#controller(topName(Collection.remoteControllers, record.controller), 'name');
    const inUse = (await this.ctx.gateway.nvmeController(ctrl.id))?.ctrlrs[0]?.trid;
    if (!inUse || !sameTrid(inUse, record.spec)) return { stats: zeroStats() };
    return { stats: await volumeStats(this.ctx.gateway, (await this.#namespaceBdevs(ctrl)).map((b) => b.name)) };
  }

  #controller(name: string, field: string): RemoteControllerRecord {
    parseTop(name, Collection.remoteControllers, field);
    const record = this.ctx.state.remoteControllers.get(name);
    if (!record) throw notFound(`${name} does not exist`);
    return record;
  }

  #path(name: string): PathRecord {
    parseChild(name, Collection.remoteControllers, Collection.paths, 'name');
    const record = this.ctx.state.paths.get(name);
    if (!record) throw notFound(`${name} does not exist`);
    return record;
  }
}

function controllerProto(r: RemoteControllerRecord): NvmeRemoteController {
  return {
    name: r.name,
    multipath: r.spec.multipath,
    io_queues_count: r.spec.ioQueuesCount,
    queue_size: r.spec.queueSize,
    tcp: { hdgst: r.spec.hdgst, ddgst: r.spec.ddgst, psk: new Uint8Array(0) },
  };
}

function pathProto(r: PathRecord): NvmePath {
  return {
    name: r.name,
    trtype: transportOf(r.spec.trtype),
    traddr: r.spec.traddr,
    fabrics: {
      trsvcid: r.spec.trsvcid, subnqn: r.spec.subnqn, adrfam: familyOf(r.spec.adrfam), source_traddr: '', source_trsvcid: 0,
      hostnqn: r.spec.hostnqn,
    },
  };
}

/** The gateway knows a backend namespace's UUID, not its NGUID or EUI-64: those stay empty. */
function remoteNamespaceProto(controller: string, b: BdevJson): NvmeRemoteNamespace {
  const nsid = Number(NS_BDEV.exec(b.name)?.[2]);
  return {
    name: childName(Collection.remoteControllers, controller, Collection.remoteNamespaces, String(nsid)),
    nsid, nguid: '', eui64: 0, uuid: b.uuid ?? '',
  };
}
