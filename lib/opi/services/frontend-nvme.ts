/**
 * FrontendNvmeService: what the DPU shows its host. A subsystem is a gateway subsystem;
 * a controller, on a real DPU a PCIe function, is here a fabrics listener of that
 * subsystem (NVMe/TCP or NVMe/RDMA on the host-facing address), connected once by the
 * host's kernel; a namespace exports a remote namespace or an AIO volume, hot-added to
 * the connected host (it learns of it by the namespace notice).
 *
 * A subsystem's spec.psk (with its hostnqn: a PSK is one host's) is that host's NVMe/TCP TLS
 * PSK: the host is allowed with it (nvmf_subsystem_add_host's psk, a keyring key read from a
 * 0600 file in the bridge's key directory), and the subsystem's NVMe/TCP controllers are
 * secure-channel listeners, as OPI's SPDK bridge makes them (its NVMe/RDMA controllers are
 * refused: they would take the host without TLS). Get and List answer psk empty; an update
 * replaces the PSK when it carries one and clears it only when its mask names spec or
 * spec.psk; adding or clearing it while the subsystem has controllers is refused, since a
 * listener is secure or not from its creation.
 */
import type { UndoSteps } from '../changes';
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from '../errors';
import { flag, integer, message, requiredMessage, requiredText, text, type Raw } from '../fields';
import type { SubsystemJson } from '../gateway-calls';
import type { ListResponse, NvmeController, NvmeNamespace, NvmeSubsystem, StatsResponse, VolumeStats } from '../messages';
import { childName, Collection, parseChild, parseTop, parseVolumeRef, resourceId, topName } from '../names';
import { paginate } from '../pages';
import { masksField, prunePsks, pskFile, readPsk, samePsk, storePsk, updatedPsk } from '../psk';
import type { ControllerRecord, NamespaceRecord, SubsystemRecord } from '../state';
import { volumeStats } from '../stats';
import { maskPaths, overlay } from '../update-mask';
import { deleteResource, sameSpec, type OpiHandlers, type ServiceContext } from './context';
import { checkOwnNqn, fabricOf, familyOf, readFamily, readTransport, transportOf } from './transport';

const SUBSYSTEM_UPDATABLE = ['spec', ...['nqn', 'serial_number', 'model_number', 'max_namespaces', 'hostnqn', 'psk'].map((f) => `spec.${f}`)];
const CONTROLLER_UPDATABLE = ['spec', ...['nvme_controller_id', 'trtype', 'pcie_id', 'fabrics_id', 'max_nsq', 'max_ncq', 'sqes',
  'cqes', 'max_namespaces', 'min_limit', 'max_limit'].map((f) => `spec.${f}`)];
const NAMESPACE_UPDATABLE = ['spec', ...['host_nsid', 'nguid', 'eui64', 'uuid', 'volume_name_ref'].map((f) => `spec.${f}`)];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function printable(value: string, max: number, path: string): string {
  if (value.length > max || !/^[\x20-\x7e]*$/.test(value)) throw invalidArgument(`${path} must be at most ${max} printable ASCII characters`);
  return value;
}

function readSubsystemSpec(v: Raw, path: string): SubsystemRecord['spec'] {
  const s = requiredMessage(v, 'spec', `${path}.spec`);
  const p = `${path}.spec`;
  const hostnqn = text(s, 'hostnqn', `${p}.hostnqn`);
  return {
    nqn: checkOwnNqn(requiredText(s, 'nqn', `${p}.nqn`), `${p}.nqn`),
    serialNumber: printable(text(s, 'serial_number', `${p}.serial_number`), 20, `${p}.serial_number`),
    modelNumber: printable(text(s, 'model_number', `${p}.model_number`), 40, `${p}.model_number`),
    maxNamespaces: integer(s, 'max_namespaces', `${p}.max_namespaces`, 0, 1024),
    hostnqn: hostnqn === '' ? '' : checkOwnNqn(hostnqn, `${p}.hostnqn`),
  };
}

/** The subsystem's spec.psk ('' for none), checked: a PSK, and one host's (hostnqn given). */
function readSubsystemPsk(v: Raw, path: string): string {
  const s = requiredMessage(v, 'spec', `${path}.spec`);
  const psk = readPsk(s, 'psk', `${path}.spec.psk`);
  if (psk !== '' && text(s, 'hostnqn', `${path}.spec.hostnqn`) === '') {
    throw invalidArgument(`${path}.spec.psk needs ${path}.spec.hostnqn: a TLS PSK is one host's, and without hostnqn any host is let in`);
  }
  return psk;
}


function qosIsEmpty(q: Raw | undefined): boolean {
  return q === undefined || Object.values(q).every((x) => x === null || x === undefined || Number(x) === 0);
}

function readControllerSpec(v: Raw, path: string): ControllerRecord['spec'] {
  const p = `${path}.spec`;
  const s = requiredMessage(v, 'spec', p);
  const trtype = readTransport(s, p);
  if (trtype === 'NVME_TRANSPORT_TYPE_PCIE' || message(s, 'pcie_id', `${p}.pcie_id`)) {
    throw invalidArgument(`${p}: this DPU emulates the function over fabrics: a PCIe endpoint cannot be made; ` +
      'give trtype NVME_TRANSPORT_TYPE_TCP or NVME_TRANSPORT_TYPE_RDMA and fabrics_id');
  }
  const fabric = fabricOf(trtype, p);
  const f = requiredMessage(s, 'fabrics_id', `${p}.fabrics_id`);
  const traddr = requiredText(f, 'traddr', `${p}.fabrics_id.traddr`);
  const port = requiredText(f, 'trsvcid', `${p}.fabrics_id.trsvcid`);
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw invalidArgument(`${p}.fabrics_id.trsvcid must be a port in [1, 65535], got '${port}'`);
  }
  const adrfam = readFamily(f, `${p}.fabrics_id`, traddr, `${p}.fabrics_id.traddr`);
  for (const q of ['min_limit', 'max_limit']) {
    if (!qosIsEmpty(message(s, q, `${p}.${q}`))) throw invalidArgument(`${p}.${q}: QoS limits are not supported by this gateway`);
  }
  const cntlid = s.nvme_controller_id;
  return {
    trtype: fabric, traddr, trsvcid: Number(port), adrfam,
    // Recorded: the gateway's target numbers controllers as hosts connect, and its queues are its own.
    cntlid: cntlid === undefined || cntlid === null ? null : integer(s, 'nvme_controller_id', `${p}.nvme_controller_id`, 0, 65535),
    maxNsq: integer(s, 'max_nsq', `${p}.max_nsq`, 0, 65535),
    maxNcq: integer(s, 'max_ncq', `${p}.max_ncq`, 0, 65535),
    sqes: integer(s, 'sqes', `${p}.sqes`, 0, 15),
    cqes: integer(s, 'cqes', `${p}.cqes`, 0, 15),
    maxNamespaces: integer(s, 'max_namespaces', `${p}.max_namespaces`, 0, 1024),
  };
}

function readNamespaceSpec(v: Raw, path: string): NamespaceRecord['spec'] {
  const p = `${path}.spec`;
  const s = requiredMessage(v, 'spec', p);
  const volumeNameRef = requiredText(s, 'volume_name_ref', `${p}.volume_name_ref`);
  parseVolumeRef(volumeNameRef, `${p}.volume_name_ref`);
  const eui64 = s.eui64 ?? 0;
  if (String(eui64) !== '0') throw invalidArgument(`${p}.eui64 is not supported by this target: identify the namespace by nguid or uuid`);
  const nguid = text(s, 'nguid', `${p}.nguid`).replace(/-/g, '').toLowerCase();
  if (nguid !== '' && !/^[0-9a-f]{32}$/.test(nguid)) throw invalidArgument(`${p}.nguid must be 32 hex digits`);
  const uuid = text(s, 'uuid', `${p}.uuid`).toLowerCase();
  if (uuid !== '' && !UUID.test(uuid)) throw invalidArgument(`${p}.uuid must be a UUID, got '${uuid}'`);
  return { volumeNameRef, hostNsid: integer(s, 'host_nsid', `${p}.host_nsid`, 0, 0x7fffffff), nguid, uuid };
}

/** Equal to what was asked, or to what the gateway chose where nothing was asked. */
const sameOrApplied = <T>(asked: T, spec: T, applied: T) => asked === spec || asked === applied;

export class FrontendNvmeService {
  constructor(private readonly ctx: ServiceContext) {}

  handlers(): OpiHandlers {
    return {
      CreateNvmeSubsystem: (r) => this.createSubsystem(r),
      DeleteNvmeSubsystem: (r) => this.deleteSubsystem(r),
      UpdateNvmeSubsystem: (r) => this.updateSubsystem(r),
      ListNvmeSubsystems: (r) => this.listSubsystems(r),
      GetNvmeSubsystem: (r) => this.getSubsystem(r),
      StatsNvmeSubsystem: (r) => this.statsSubsystem(r),
      CreateNvmeController: (r) => this.createController(r),
      DeleteNvmeController: (r) => this.deleteController(r),
      UpdateNvmeController: (r) => this.updateController(r),
      ListNvmeControllers: (r) => this.listControllers(r),
      GetNvmeController: (r) => this.getController(r),
      StatsNvmeController: (r) => this.statsController(r),
      CreateNvmeNamespace: (r) => this.createNamespace(r),
      DeleteNvmeNamespace: (r) => this.deleteNamespace(r),
      UpdateNvmeNamespace: (r) => this.updateNamespace(r),
      ListNvmeNamespaces: (r) => this.listNamespaces(r),
      GetNvmeNamespace: (r) => this.getNamespace(r),
      StatsNvmeNamespace: (r) => this.statsNamespace(r),
    };
  }

  // --- subsystems ---

  async createSubsystem(req: Raw): Promise<NvmeSubsystem> {
    const v = requiredMessage(req, 'nvme_subsystem', 'nvme_subsystem');
    const id = resourceId(text(req, 'nvme_subsystem_id', 'nvme_subsystem_id'), 'nvme_subsystem_id');
    const spec = readSubsystemSpec(v, 'nvme_subsystem');
    const psk = readSubsystemPsk(v, 'nvme_subsystem');
    return this.ctx.changes.run((undo) => this.#makeSubsystem(id, spec, psk, undo));
  }

  async #makeSubsystem(id: string, spec: SubsystemRecord['spec'], psk: string, undo: UndoSteps): Promise<NvmeSubsystem> {
    const { state, gateway } = this.ctx;
    const name = topName(Collection.subsystems, id);
    const existing = state.subsystems.get(name);
    if (existing) {
      if (subsystemMatches(existing, spec) && await samePsk(this.ctx, existing.pskKey, psk)) return subsystemProto(existing);
      throw alreadyExists(`${name} already exists with another spec`);
    }
    const twin = [...state.subsystems.values()].find((s) => s.spec.nqn === spec.nqn);
    if (twin) throw alreadyExists(`${twin.name} already has nqn ${spec.nqn}`);
    let there = await gateway.subsystem(spec.nqn);
    if (there) {
      // A create that made it and died unsaved: kept if it is what is asked.
      if (!sameOrApplied(spec.serialNumber, '', there.serial_number) || !sameOrApplied(spec.modelNumber, '', there.model_number)
        || !sameOrApplied(spec.maxNamespaces, 0, there.max_namespaces)) {
        throw alreadyExists(`the gateway already has subsystem ${spec.nqn}, with another serial, model or namespace limit`);
      }
    } else {
      await gateway.createSubsystem(spec);
      undo.add(`nvmf_delete_subsystem ${spec.nqn}`, () => gateway.deleteSubsystem(spec.nqn));
      there = await this.#gatewaySubsystem(spec.nqn);
    }
    const pskKey = psk === '' ? undefined : await storePsk(this.ctx, 'ss', id, psk);
    await gateway.setHosts(spec.nqn, spec.hostnqn, there, pskFile(this.ctx, pskKey));
    const record: SubsystemRecord = { name, id, spec,
      applied: { serialNumber: there.serial_number, modelNumber: there.model_number, maxNamespaces: there.max_namespaces },
      ...(pskKey ? { pskKey } : {}) };
    state.subsystems.set(name, record);
    return subsystemProto(record);
  }

  async deleteSubsystem(req: Raw): Promise<object> {
    const r = await deleteResource(this.ctx, req, (name) => parseTop(name, Collection.subsystems, 'name'), (s) => s.subsystems, async (record) => {
      const { state, gateway } = this.ctx;
      const children = [...state.controllersOf(record.id), ...state.namespacesOf(record.id)];
      if (children.length > 0) throw failedPrecondition(`${record.name} still has ${children.map((c) => c.name).join(', ')}`);
      await gateway.deleteSubsystem(record.spec.nqn);
    });
    await prunePsks(this.ctx);
    return r;
  }

  /** Only the allowed host and its PSK can change: the gateway fixes NQN, serial, model and namespace limit at creation. */
  async updateSubsystem(req: Raw): Promise<NvmeSubsystem> {
    const v = requiredMessage(req, 'nvme_subsystem', 'nvme_subsystem');
    const name = text(v, 'name', 'nvme_subsystem.name');
    const id = parseTop(name, Collection.subsystems, 'nvme_subsystem.name');
    const paths = maskPaths(req, SUBSYSTEM_UPDATABLE, ['spec']);
    const allowMissing = flag(req, 'allow_missing', 'allow_missing');
    const clearsPsk = masksField(req, 'spec', 'spec.psk');
    let pskChanged = false;
    const r = await this.ctx.changes.run(async (undo) => {
      const { state, gateway } = this.ctx;
      const current = state.subsystems.get(name);
      if (!current) {
        if (!allowMissing) throw notFound(`${name} does not exist`);
        return this.#makeSubsystem(id, readSubsystemSpec(v, 'nvme_subsystem'), readSubsystemPsk(v, 'nvme_subsystem'), undo);
      }
      const merged = overlay(subsystemProto(current) as unknown as Raw, v, paths);
      const next = readSubsystemSpec(merged, 'nvme_subsystem');
      const update = await updatedPsk(this.ctx, readPsk(message(merged, 'spec', 'nvme_subsystem.spec'), 'psk', 'nvme_subsystem.spec.psk'),
        clearsPsk, current.pskKey);
      const psk = update.psk;
      pskChanged = update.changed;
      const pskKeyNow = pskChanged ? undefined : current.pskKey;
      if ((psk ?? (current.pskKey !== undefined ? 'kept' : '')) !== '' && next.hostnqn === '') {
        throw invalidArgument('nvme_subsystem.spec.psk needs nvme_subsystem.spec.hostnqn: a TLS PSK is one host\'s, and without hostnqn any host is let in');
      }
      const controllers = state.controllersOf(current.id);
      if (pskChanged && (psk === '') !== (current.pskKey === undefined) && controllers.length > 0) {
        throw failedPrecondition(`${name} has controllers (${controllers.map((c) => c.name).join(', ')}), whose listeners are secure or not ` +
          `from their creation: delete them before ${psk === '' ? 'clearing' : 'giving it'} a PSK`);
      }
      const { spec, applied } = current;
      if (next.nqn !== spec.nqn) throw invalidArgument('nvme_subsystem.spec.nqn cannot be changed');
      const fixed = [
        ['serial_number', sameOrApplied(next.serialNumber, spec.serialNumber, applied.serialNumber)],
        ['model_number', sameOrApplied(next.modelNumber, spec.modelNumber, applied.modelNumber)],
        ['max_namespaces', sameOrApplied(next.maxNamespaces, spec.maxNamespaces, applied.maxNamespaces)],
      ].filter(([, same]) => !same).map(([f]) => `nvme_subsystem.spec.${String(f)}`);
      if (fixed.length > 0) throw invalidArgument(`${fixed.join(', ')} cannot be changed: the subsystem has it from its creation`);
      if (next.hostnqn !== spec.hostnqn || pskChanged) {
        const there = await this.#gatewaySubsystem(spec.nqn);
        const before = pskFile(this.ctx, current.pskKey);
        undo.add(`restore the hosts of ${spec.nqn}`, async () => gateway.setHosts(spec.nqn, spec.hostnqn, await this.#gatewaySubsystem(spec.nqn), before));
        const pskKey = pskChanged && psk ? await storePsk(this.ctx, 'ss', current.id, psk) : pskKeyNow;
        await gateway.setHosts(spec.nqn, next.hostnqn, there, pskFile(this.ctx, pskKey));
        current.spec = { ...spec, hostnqn: next.hostnqn };
        delete current.pskKey;
        if (pskKey) current.pskKey = pskKey;
      }
      return subsystemProto(current);
    });
    if (pskChanged) await prunePsks(this.ctx);
    return r;
  }

  async listSubsystems(req: Raw): Promise<ListResponse<'nvme_subsystems', NvmeSubsystem>> {
    const page = paginate(req, [...this.ctx.state.subsystems.values()]);
    return { nvme_subsystems: page.items.map(subsystemProto), next_page_token: page.nextPageToken };
  }

  async getSubsystem(req: Raw): Promise<NvmeSubsystem> {
    return subsystemProto(this.#subsystem(text(req, 'name', 'name'), 'name'));
  }

  async statsSubsystem(req: Raw): Promise<StatsResponse> {
    const record = this.#subsystem(text(req, 'name', 'name'), 'name');
    return { stats: await this.#namespaceStats(this.ctx.state.namespacesOf(record.id)) };
  }

  // --- controllers: the subsystem's listeners ---

  async createController(req: Raw): Promise<NvmeController> {
    const parent = text(req, 'parent', 'parent');
    const subsystem = parseTop(parent, Collection.subsystems, 'parent');
    const v = requiredMessage(req, 'nvme_controller', 'nvme_controller');
    const id = resourceId(text(req, 'nvme_controller_id', 'nvme_controller_id'), 'nvme_controller_id');
    const spec = readControllerSpec(v, 'nvme_controller');
    return this.ctx.changes.run((undo) => this.#makeController(subsystem, id, spec, undo));
  }

  async #makeController(subsystem: string, id: string, spec: ControllerRecord['spec'], undo: UndoSteps): Promise<NvmeController> {
    const { state, gateway } = this.ctx;
    const sub = this.#subsystem(topName(Collection.subsystems, subsystem), 'parent');
    const name = childName(Collection.subsystems, subsystem, Collection.controllers, id);
    const existing = state.controllers.get(name);
    if (existing) {
      if (sameSpec(existing.spec, spec)) return controllerProto(existing);
      throw alreadyExists(`${name} already exists with another spec`);
    }
    const siblings = state.controllersOf(subsystem);
    const twin = siblings.find((c) => c.spec.trtype === spec.trtype && c.spec.traddr === spec.traddr && c.spec.trsvcid === spec.trsvcid);
    if (twin) throw alreadyExists(`${twin.name} already listens on ${spec.trtype} ${spec.traddr}:${spec.trsvcid}`);
    const sameId = spec.cntlid === null ? undefined : siblings.find((c) => c.spec.cntlid === spec.cntlid);
    if (sameId) throw alreadyExists(`${sameId.name} already has nvme_controller_id ${spec.cntlid}`);
    if (sub.pskKey !== undefined && spec.trtype !== 'TCP') {
      throw failedPrecondition(`${sub.name} has a TLS PSK: its controllers are NVMe/TCP secure-channel listeners, and an ${spec.trtype} ` +
        'one would let its host in without TLS');
    }
    const record: ControllerRecord = { name, id, subsystem, spec };
    await gateway.ensureTransport(spec.trtype);
    if (await gateway.addListener(sub.spec.nqn, spec, sub.pskKey !== undefined)) {
      undo.add(`nvmf_subsystem_remove_listener ${sub.spec.nqn}`, () => gateway.removeListener(sub.spec.nqn, spec));
    }
    state.controllers.set(name, record);
    return controllerProto(record);
  }

  async deleteController(req: Raw): Promise<object> {
    const parse = (name: string) => parseChild(name, Collection.subsystems, Collection.controllers, 'name');
    return deleteResource(this.ctx, req, parse, (s) => s.controllers, async (record) => {
      const sub = this.#subsystem(topName(Collection.subsystems, record.subsystem), 'name');
      // Hosts connected through it are disconnected, as SPDK does when a listener goes.
      await this.ctx.gateway.removeListener(sub.spec.nqn, record.spec);
    });
  }

  /** The address is the controller; its other fields are recorded only and may change. */
  async updateController(req: Raw): Promise<NvmeController> {
    const v = requiredMessage(req, 'nvme_controller', 'nvme_controller');
    const name = text(v, 'name', 'nvme_controller.name');
    const { parentId, id } = parseChild(name, Collection.subsystems, Collection.controllers, 'nvme_controller.name');
    const paths = maskPaths(req, CONTROLLER_UPDATABLE, ['spec']);
    const allowMissing = flag(req, 'allow_missing', 'allow_missing');
    return this.ctx.changes.run(async (undo) => {
      const current = this.ctx.state.controllers.get(name);
      if (!current) {
        if (!allowMissing) throw notFound(`${name} does not exist`);
        return this.#makeController(parentId, id, readControllerSpec(v, 'nvme_controller'), undo);
      }
      const next = readControllerSpec(overlay(controllerProto(current) as unknown as Raw, v, paths), 'nvme_controller');
      const fixed = (['trtype', 'traddr', 'trsvcid', 'adrfam'] as const).filter((k) => next[k] !== current.spec[k]);
      if (fixed.length > 0) {
        throw invalidArgument(`nvme_controller.spec: the endpoint (${fixed.join(', ')}) cannot be changed; create another controller`);
      }
      const sameId = next.cntlid === null || next.cntlid === current.spec.cntlid ? undefined
        : this.ctx.state.controllersOf(current.subsystem).find((c) => c.spec.cntlid === next.cntlid);
      if (sameId) throw alreadyExists(`${sameId.name} already has nvme_controller_id ${next.cntlid}`);
      current.spec = next;
      return controllerProto(current);
    });
  }

  async listControllers(req: Raw): Promise<ListResponse<'nvme_controllers', NvmeController>> {
    const sub = this.#subsystem(text(req, 'parent', 'parent'), 'parent');
    const page = paginate(req, this.ctx.state.controllersOf(sub.id));
    const active = await this.#hostConnected(sub);
    return { nvme_controllers: page.items.map((c) => controllerProto(c, active)), next_page_token: page.nextPageToken };
  }

  async getController(req: Raw): Promise<NvmeController> {
    const record = this.#controller(text(req, 'name', 'name'));
    const sub = this.#subsystem(topName(Collection.subsystems, record.subsystem), 'name');
    return controllerProto(record, await this.#hostConnected(sub));
  }

  /** The gateway counts per bdev, not per listener: a controller shows its subsystem's namespaces. */
  async statsController(req: Raw): Promise<StatsResponse> {
    const record = this.#controller(text(req, 'name', 'name'));
    return { stats: await this.#namespaceStats(this.ctx.state.namespacesOf(record.subsystem)) };
  }

  // --- namespaces ---

  async createNamespace(req: Raw): Promise<NvmeNamespace> {
    const parent = text(req, 'parent', 'parent');
    const subsystem = parseTop(parent, Collection.subsystems, 'parent');
    const v = requiredMessage(req, 'nvme_namespace', 'nvme_namespace');
    const id = resourceId(text(req, 'nvme_namespace_id', 'nvme_namespace_id'), 'nvme_namespace_id');
    const spec = readNamespaceSpec(v, 'nvme_namespace');
    return this.ctx.changes.run((undo) => this.#makeNamespace(subsystem, id, spec, undo));
  }

  async #makeNamespace(subsystem: string, id: string, spec: NamespaceRecord['spec'], undo: UndoSteps): Promise<NvmeNamespace> {
    const { state, gateway } = this.ctx;
    const sub = this.#subsystem(topName(Collection.subsystems, subsystem), 'parent');
    const name = childName(Collection.subsystems, subsystem, Collection.namespaces, id);
    const existing = state.namespaces.get(name);
    if (existing) {
      if (namespaceMatches(existing, spec)) return namespaceProto(existing, true);
      throw alreadyExists(`${name} already exists with another spec`);
    }
    const field = 'nvme_namespace.spec.volume_name_ref';
    const volume = parseVolumeRef(spec.volumeNameRef, field);
    if (volume.kind === 'aio' ? !state.aioVolumes.has(volume.owner) : !state.remoteControllers.has(volume.owner)) {
      throw notFound(`${field}: ${volume.owner} does not exist`);
    }
    if (volume.kind === 'remote' && !(await gateway.bdev(volume.bdev))) {
      throw notFound(`${field}: ${spec.volumeNameRef} does not exist (is a path to ${volume.owner} attached?)`);
    }
    const user = [...state.namespaces.values()].find((n) => n.spec.volumeNameRef === spec.volumeNameRef);
    if (user) throw failedPrecondition(`${field}: ${spec.volumeNameRef} is already exported by ${user.name}`);
    const nsidTaken = spec.hostNsid === 0 ? undefined : state.namespacesOf(subsystem).find((n) => n.applied.nsid === spec.hostNsid);
    if (nsidTaken) throw alreadyExists(`nvme_namespace.spec.host_nsid ${spec.hostNsid} is taken by ${nsidTaken.name}`);
    const nqn = sub.spec.nqn;
    let ns = (await this.#gatewaySubsystem(nqn)).namespaces.find((n) => n.bdev_name === volume.bdev);
    if (ns) {
      // A create that made it and died unsaved: kept if it is what is asked.
      const made = ns;
      if (!sameOrApplied(spec.hostNsid, 0, made.nsid) || !sameOrApplied(spec.nguid, '', made.nguid.toLowerCase())
        || !sameOrApplied(spec.uuid, '', made.uuid)) {
        throw failedPrecondition(`${field}: ${volume.bdev} is already nsid ${made.nsid} of ${nqn}, with other identifiers`);
      }
    } else {
      const nsid = await gateway.addNamespace(nqn, { bdev: volume.bdev, nsid: spec.hostNsid, nguid: spec.nguid, uuid: spec.uuid });
      undo.add(`nvmf_subsystem_remove_ns ${nqn} ${nsid}`, () => gateway.removeNamespace(nqn, nsid));
      ns = (await this.#gatewaySubsystem(nqn)).namespaces.find((n) => n.nsid === nsid);
      if (!ns) throw failedPrecondition(`the gateway added nsid ${nsid} to ${nqn} but does not list it`);
    }
    const record: NamespaceRecord = { name, id, subsystem, spec,
      applied: { nsid: ns.nsid, nguid: ns.nguid.toLowerCase(), uuid: ns.uuid } };
    state.namespaces.set(name, record);
    return namespaceProto(record, true);
  }

  async deleteNamespace(req: Raw): Promise<object> {
    const parse = (name: string) => parseChild(name, Collection.subsystems, Collection.namespaces, 'name');
    return deleteResource(this.ctx, req, parse, (s) => s.namespaces, async (record) => {
      const sub = this.#subsystem(topName(Collection.subsystems, record.subsystem), 'name');
      // Connected hosts get a namespace-change notice and drop the disk.
      await this.ctx.gateway.removeNamespace(sub.spec.nqn, record.applied.nsid);
    });
  }

  /** A namespace's identity and volume are fixed while it exists: nothing can change. */
  async updateNamespace(req: Raw): Promise<NvmeNamespace> {
    const v = requiredMessage(req, 'nvme_namespace', 'nvme_namespace');
    const name = text(v, 'name', 'nvme_namespace.name');
    const { parentId, id } = parseChild(name, Collection.subsystems, Collection.namespaces, 'nvme_namespace.name');
    const paths = maskPaths(req, NAMESPACE_UPDATABLE, ['spec']);
    const allowMissing = flag(req, 'allow_missing', 'allow_missing');
    return this.ctx.changes.run(async (undo) => {
      const current = this.ctx.state.namespaces.get(name);
      if (!current) {
        if (!allowMissing) throw notFound(`${name} does not exist`);
        return this.#makeNamespace(parentId, id, readNamespaceSpec(v, 'nvme_namespace'), undo);
      }
      const next = readNamespaceSpec(overlay(namespaceProto(current, true) as unknown as Raw, v, paths), 'nvme_namespace');
      if (!namespaceMatches(current, next)) {
        throw invalidArgument('nvme_namespace.spec cannot be changed: delete the namespace and create another');
      }
      return namespaceProto(current, true);
    });
  }

  async listNamespaces(req: Raw): Promise<ListResponse<'nvme_namespaces', NvmeNamespace>> {
    const sub = this.#subsystem(text(req, 'parent', 'parent'), 'parent');
    const page = paginate(req, this.ctx.state.namespacesOf(sub.id));
    const live = await this.ctx.gateway.subsystem(sub.spec.nqn).catch(() => undefined);
    return { nvme_namespaces: page.items.map((n) => namespaceProto(n, online(live, n))), next_page_token: page.nextPageToken };
  }

  async getNamespace(req: Raw): Promise<NvmeNamespace> {
    const record = this.#namespace(text(req, 'name', 'name'));
    const sub = this.#subsystem(topName(Collection.subsystems, record.subsystem), 'name');
    return namespaceProto(record, online(await this.ctx.gateway.subsystem(sub.spec.nqn).catch(() => undefined), record));
  }

  async statsNamespace(req: Raw): Promise<StatsResponse> {
    return { stats: await this.#namespaceStats([this.#namespace(text(req, 'name', 'name'))]) };
  }

  // --- helpers ---

  #subsystem(name: string, field: string): SubsystemRecord {
    parseTop(name, Collection.subsystems, field);
    const record = this.ctx.state.subsystems.get(name);
    if (!record) throw notFound(`${name} does not exist`);
    return record;
  }

  #controller(name: string): ControllerRecord {
    parseChild(name, Collection.subsystems, Collection.controllers, 'name');
    const record = this.ctx.state.controllers.get(name);
    if (!record) throw notFound(`${name} does not exist`);
    return record;
  }

  #namespace(name: string): NamespaceRecord {
    parseChild(name, Collection.subsystems, Collection.namespaces, 'name');
    const record = this.ctx.state.namespaces.get(name);
    if (!record) throw notFound(`${name} does not exist`);
    return record;
  }

  async #gatewaySubsystem(nqn: string): Promise<SubsystemJson> {
    const s = await this.ctx.gateway.subsystem(nqn);
    if (!s) throw failedPrecondition(`the gateway has no subsystem ${nqn}: the bridge has not re-applied it yet`);
    return s;
  }

  /** Whether a host has a controller on the subsystem (the gateway does not say through which listener). */
  async #hostConnected(sub: SubsystemRecord): Promise<boolean> {
    return (await this.ctx.gateway.connectedHosts(sub.spec.nqn).catch(() => [])).length > 0;
  }

  #namespaceStats(list: NamespaceRecord[]): Promise<VolumeStats> {
    return volumeStats(this.ctx.gateway, list.map((n) => parseVolumeRef(n.spec.volumeNameRef, 'volume_name_ref').bdev));
  }
}

function controllerProto(r: ControllerRecord, active = false): NvmeController {
  return {
    name: r.name,
    spec: {
      ...(r.spec.cntlid === null ? {} : { nvme_controller_id: r.spec.cntlid }),
      trtype: transportOf(r.spec.trtype),
      fabrics_id: { traddr: r.spec.traddr, trsvcid: String(r.spec.trsvcid), adrfam: familyOf(r.spec.adrfam) },
      max_nsq: r.spec.maxNsq, max_ncq: r.spec.maxNcq, sqes: r.spec.sqes, cqes: r.spec.cqes, max_namespaces: r.spec.maxNamespaces,
      min_limit: null, max_limit: null,
    },
    status: { active },
  };
}

function subsystemMatches(r: SubsystemRecord, spec: SubsystemRecord['spec']): boolean {
  return spec.nqn === r.spec.nqn && spec.hostnqn === r.spec.hostnqn
    && sameOrApplied(spec.serialNumber, r.spec.serialNumber, r.applied.serialNumber)
    && sameOrApplied(spec.modelNumber, r.spec.modelNumber, r.applied.modelNumber)
    && sameOrApplied(spec.maxNamespaces, r.spec.maxNamespaces, r.applied.maxNamespaces);
}

function namespaceMatches(r: NamespaceRecord, spec: NamespaceRecord['spec']): boolean {
  return spec.volumeNameRef === r.spec.volumeNameRef
    && sameOrApplied(spec.hostNsid, r.spec.hostNsid, r.applied.nsid)
    && sameOrApplied(spec.nguid, r.spec.nguid, r.applied.nguid)
    && sameOrApplied(spec.uuid, r.spec.uuid, r.applied.uuid);
}

function subsystemProto(r: SubsystemRecord): NvmeSubsystem {
  return {
    name: r.name,
    spec: {
      nqn: r.spec.nqn, serial_number: r.applied.serialNumber, model_number: r.applied.modelNumber,
      max_namespaces: r.applied.maxNamespaces, hostnqn: r.spec.hostnqn, psk: new Uint8Array(0),
    },
    status: { firmware_revision: '', fru_guid: new Uint8Array(0) },
  };
}

function online(live: SubsystemJson | undefined, n: NamespaceRecord): boolean {
  return live?.namespaces.some((x) => x.nsid === n.applied.nsid) ?? false;
}

function namespaceProto(r: NamespaceRecord, isOnline: boolean): NvmeNamespace {
  return {
    name: r.name,
    spec: { host_nsid: r.applied.nsid, nguid: r.applied.nguid, eui64: 0, uuid: r.applied.uuid, volume_name_ref: r.spec.volumeNameRef },
    status: { state: 'STATE_ENABLED', oper_state: isOnline ? 'OPER_STATE_ONLINE' : 'OPER_STATE_OFFLINE' },
  };
}
