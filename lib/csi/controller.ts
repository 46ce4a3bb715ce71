/**
 * The CSI Controller service: volumes and snapshots through a storage plugin, exports
 * through the gateway. Every RPC is idempotent (a retry with the same arguments succeeds
 * and changes nothing more), and calls on one volume, snapshot or name do not overlap:
 * a second one is answered ABORTED.
 *
 * Transport: a volume's transport is chosen when it is created and kept in its
 * volume_context. RDMA volumes report accessible_topology {rdmagate.io/rdma: "true"}, so
 * that the CO schedules their pods on nodes with RDMA; TCP volumes report none and go
 * anywhere. With transport=auto (the default) a volume is RDMA when the gateway has an
 * RDMA address and the node the CO prefers (WaitForFirstConsumer) reports rdma=true.
 *
 * Authentication: a volume created with `dhchap` (unidirectional or bidirectional) is published
 * only with the DH-HMAC-CHAP secrets in the request's `secrets` (dhchap-secrets.ts), checked
 * before anything changes. The host's keys are written to the key directory (key-dir.ts), where
 * the gateway's keyring reads them, and the host is allowed with them; unpublishing takes the
 * host off, then its keys off the keyring, then removes the files, so that a retry after a
 * crash at any step finds what is left and finishes it.
 *
 * TLS: a volume created with `tls: "true"` is NVMe/TCP only, exported on the gateway's secure-
 * channel listener (its TLS address), and published only with the TLS PSK in the request's
 * `secrets` (tls-secrets.ts), which goes the DH-HMAC-CHAP keys' way: a 0600 file in the key
 * directory, the gateway's keyring, the host allowed with it (psk), all undone on unpublish.
 */
import { capacityRange } from './capacity-range';
import { isMultiNode, requireCapabilities, requireCapability, unsupportedReason } from './capabilities';
import { dhchapSecretSource, dhchapSecretsFor } from './dhchap-secrets';
import { aborted, alreadyExists, failedPrecondition, invalidArgument, notFound, outOfRange, resourceExhausted } from './errors';
import type { KnownExport } from './group-exporter';
import { DhchapKeyDir, hostKeyNames } from './key-dir';
import type { CsiLogger } from './log';
import { OperationLocks } from './locks';
import { isHostNqn } from './nqn';
import { dhchapModeFromContext, parseVolumeParameters, publishContextMap, RDMA_TOPOLOGY_KEY, tlsFromContext, volumeContext, type Transport,
  type VolumeParameters } from './parameters';
import type { ContentSource, SnapshotRecord, StoragePlugin, VolumeRecord } from './plugins/plugin';
import type {
  CapacityRange, ControllerCapabilityName, ControllerExpandVolumeRequest, ControllerExpandVolumeResponse,
  ControllerGetCapabilitiesResponse, ControllerPublishVolumeRequest, ControllerPublishVolumeResponse,
  ControllerUnpublishVolumeRequest, CreateSnapshotRequest, CreateSnapshotResponse, CreateVolumeRequest,
  CreateVolumeResponse, DeleteSnapshotRequest, DeleteVolumeRequest, Empty, GetCapacityRequest, GetCapacityResponse,
  ListSnapshotsRequest, ListSnapshotsResponse, ListVolumesRequest, ListVolumesResponse, Snapshot, StringMap,
  Topology, ValidateVolumeCapabilitiesRequest, ValidateVolumeCapabilitiesResponse, Volume,
} from './types';
import type { RpcHandlers } from './server';
import { tlsPskFor, tlsPskSource } from './tls-secrets';
import type { VolumeExporter } from './volume-exporter';

/** A volume created with no capacity_range. */
export const DEFAULT_VOLUME_BYTES = 1 << 30;
/** CSI's size limit for names and ids. */
const MAX_ID_BYTES = 128;

const CAPABILITIES: ControllerCapabilityName[] = [
  'CREATE_DELETE_VOLUME', 'PUBLISH_UNPUBLISH_VOLUME', 'LIST_VOLUMES', 'GET_CAPACITY', 'CREATE_DELETE_SNAPSHOT',
  'LIST_SNAPSHOTS', 'CLONE_VOLUME', 'EXPAND_VOLUME', 'LIST_VOLUMES_PUBLISHED_NODES', 'SINGLE_NODE_MULTI_WRITER',
];

export interface ControllerServiceOptions {
  /** The plugins volumes can be created with; a StorageClass picks one by name (default 'local'). */
  plugins: StoragePlugin[];
  /** One gateway (NvmfExporter) or a gateway group (GroupExporter). */
  exporter: VolumeExporter;
  log: CsiLogger;
  /**
   * Where the DH-HMAC-CHAP key and TLS PSK files that the gateway's keyring reads are written
   * (--key-dir): the gateway must see them at this path, as their owner. Without it, volumes
   * that require DH-HMAC-CHAP or TLS are not created (INVALID_ARGUMENT) or published (FAILED_PRECONDITION).
   */
  keyDir?: string;
}

export class ControllerService {
  readonly #plugins: Map<string, StoragePlugin>;
  readonly #exporter: VolumeExporter;
  readonly #log: CsiLogger;
  readonly #locks = new OperationLocks();
  readonly #keys: DhchapKeyDir | undefined;

  constructor(options: ControllerServiceOptions) {
    if (!options.plugins?.length) throw invalidArgument('the controller needs at least one storage plugin');
    this.#plugins = new Map(options.plugins.map((p) => [p.name, p]));
    this.#exporter = options.exporter;
    this.#log = options.log;
    this.#keys = options.keyDir !== undefined ? new DhchapKeyDir(options.keyDir) : undefined;
  }

  /** The RPCs by their proto names, for the server. */
  handlers(): RpcHandlers {
    return {
      CreateVolume: (r) => this.createVolume(r as CreateVolumeRequest),
      DeleteVolume: (r) => this.deleteVolume(r as DeleteVolumeRequest),
      ControllerPublishVolume: (r) => this.publishVolume(r as ControllerPublishVolumeRequest),
      ControllerUnpublishVolume: (r) => this.unpublishVolume(r as ControllerUnpublishVolumeRequest),
      ValidateVolumeCapabilities: (r) => this.validateVolumeCapabilities(r as ValidateVolumeCapabilitiesRequest),
      ListVolumes: (r) => this.listVolumes(r as ListVolumesRequest),
      GetCapacity: (r) => this.getCapacity(r as GetCapacityRequest),
      ControllerGetCapabilities: async () => this.getCapabilities(),
      CreateSnapshot: (r) => this.createSnapshot(r as CreateSnapshotRequest),
      DeleteSnapshot: (r) => this.deleteSnapshot(r as DeleteSnapshotRequest),
      ListSnapshots: (r) => this.listSnapshots(r as ListSnapshotsRequest),
      ControllerExpandVolume: (r) => this.expandVolume(r as ControllerExpandVolumeRequest),
    };
  }

  async createVolume(req: CreateVolumeRequest): Promise<CreateVolumeResponse> {
    const name = requireName(req.name, 'name');
    requireCapabilities(req.volume_capabilities);
    const params = parseVolumeParameters(req.parameters);
    const plugin = this.#plugin(params.plugin);
    plugin.checkParameters(params);
    if (params.dhchap && !this.#keys) {
      throw invalidArgument(`parameter dhchap=${params.dhchap}: this controller has no key directory (--key-dir) to give the gateway keys from`);
    }
    if (params.tls && !this.#keys) {
      throw invalidArgument('parameter tls=true: this controller has no key directory (--key-dir) to give the gateway PSKs from');
    }
    const source = contentSource(req);
    // Malformed before missing: a negative size is INVALID_ARGUMENT even for a source that does not exist.
    capacityRange(req.capacity_range);
    const transport = this.#transportFor(params, req.accessibility_requirements ?? undefined);
    const lockKeys = [`volume name ${name}`, ...(source ? [`${source.kind} ${source.id}`] : [])];
    return this.#locks.with(lockKeys, 'CreateVolume', async () => {
      const existing = this.#volumeByName(name);
      if (existing) {
        const why = incompatibility(existing.volume, req.capacity_range ?? undefined, params, source);
        if (why) throw alreadyExists(`volume "${name}" exists (${existing.volume.id}) with ${why}`);
        return { volume: volumeJson(existing.volume) };
      }
      let sourceBytes: number | undefined;
      let sourceInUse = false;
      if (source?.kind === 'snapshot') {
        const s = this.#snapshot(source.id);
        if (!s) throw notFound(`snapshot ${source.id} does not exist`);
        if (s.plugin !== plugin) throw invalidArgument(`snapshot ${source.id} belongs to plugin ${s.plugin.name}, not ${plugin.name}`);
        sourceBytes = s.snapshot.sizeBytes;
      } else if (source?.kind === 'volume') {
        const v = this.#volume(source.id);
        if (!v) throw notFound(`volume ${source.id} does not exist`);
        if (v.plugin !== plugin) throw invalidArgument(`volume ${source.id} belongs to plugin ${v.plugin.name}, not ${plugin.name}`);
        sourceBytes = v.volume.capacityBytes;
        sourceInUse = await this.#exporter.isExported(source.id);
      }
      const capacity = await capacityFor(req.capacity_range ?? undefined, plugin, sourceBytes);
      const volume = await plugin.createVolume({
        name, capacityBytes: capacity, parameters: params.given, context: volumeContext(params, transport), thin: params.thin,
        replicas: params.replicas, ...(source ? { source, sourceInUse } : {}),
      });
      this.#log.info('volume created', { volume: volume.id, name, capacity, plugin: plugin.name, transport, source: source ?? null });
      return { volume: volumeJson(volume) };
    });
  }

  async deleteVolume(req: DeleteVolumeRequest): Promise<Empty> {
    const id = requireName(req.volume_id, 'volume_id');
    return this.#locks.with([`volume ${id}`], 'DeleteVolume', async () => {
      const found = this.#volume(id);
      if (!found) return {};
      if (await this.#exporter.isExported(id)) {
        throw failedPrecondition(`volume ${id} is still published; ControllerUnpublishVolume it from every node first`);
      }
      await found.plugin.deleteVolume(id);
      // Key files an interrupted unpublish left (it removes them last), now that nothing can use them.
      await this.#keys?.remove(id);
      this.#log.info('volume deleted', { volume: id });
      return {};
    });
  }

  async publishVolume(req: ControllerPublishVolumeRequest): Promise<ControllerPublishVolumeResponse> {
    // Every required field before anything is looked up (CSI: INVALID_ARGUMENT, then NOT_FOUND).
    const id = requireName(req.volume_id, 'volume_id');
    if (!req.node_id) throw invalidArgument('node_id is required');
    const cap = requireCapability(req.volume_capability);
    const node = knownNodeId(req.node_id);
    return this.#locks.with([`volume ${id}`], 'ControllerPublishVolume', async () => {
      const found = this.#volume(id);
      if (!found) throw notFound(`volume ${id} does not exist`);
      const v = found.volume;
      // The volume's record says whether it needs secrets (not the request's volume_context): checked before any change.
      const dhchap = dhchapModeFromContext(v.context);
      const secrets = dhchap
        ? dhchapSecretsFor(dhchapSecretSource(req.secrets, dhchap, id, 'ControllerPublishVolume'), dhchap, id, node) : undefined;
      if (secrets && !this.#keys) throw failedPrecondition(`volume ${id} requires DH-HMAC-CHAP, and this controller has no key directory (--key-dir)`);
      const tls = tlsFromContext(v.context);
      const psk = tls ? tlsPskFor(tlsPskSource(req.secrets, id, 'ControllerPublishVolume'), id, node) : undefined;
      if (psk && !this.#keys) throw failedPrecondition(`volume ${id} requires NVMe/TCP TLS, and this controller has no key directory (--key-dir)`);
      if (!isMultiNode(cap.access_mode?.mode)) {
        const others = ((await this.#exporter.exports()).get(id) ?? []).filter((h) => h !== node);
        if (others.length > 0) {
          throw failedPrecondition(`volume ${id} is published to ${others.join(', ')}, and access mode ${cap.access_mode?.mode} allows one node`);
        }
      }
      // `readonly` is the node's business (a read-only mount): the target has no per-host
      // read-only export, which is why PUBLISH_READONLY is not advertised.
      const transport = (v.context.transport ?? 'tcp') as Transport;
      const source = await found.plugin.blockSource(id);
      const keys = secrets || psk
        ? await this.#keys!.storeAll(id, node, { ...(secrets ? { dhchap: secrets } : {}), ...(psk ? { psk } : {}) }) : undefined;
      const publish = await this.#exporter.publish({ volumeId: id, uuid: v.uuid, source, ...(tls ? { tls } : {}) }, node, transport,
        keys ? { keys } : {});
      // The host's older key files, off the gateway's keyring now: a key changed in the Secret.
      if (keys) await this.#keys!.remove(id, node, hostKeyNames(keys));
      this.#log.info('volume published', { volume: id, node, transport, traddr: publish.traddr, trsvcid: publish.trsvcid,
        ...(publish.paths ? { paths: publish.paths.length } : {}), ...(dhchap ? { dhchap } : {}), ...(tls ? { tls } : {}),
        ...(keys ? { keys: hostKeyNames(keys) } : {}) });
      return { publish_context: publishContextMap(publish) };
    });
  }

  async unpublishVolume(req: ControllerUnpublishVolumeRequest): Promise<Empty> {
    const id = requireName(req.volume_id, 'volume_id');
    // No node_id: unpublish from every node (CSI).
    const node = req.node_id ? knownNodeId(req.node_id) : undefined;
    return this.#locks.with([`volume ${id}`], 'ControllerUnpublishVolume', async () => {
      // A volume this controller does not know may still be exported (its record lost):
      // the export is cleaned up all the same.
      let unexported = true;
      if (node) unexported = await this.#exporter.unpublish(id, node);
      else await this.#exporter.unexport(id);
      // Off the gateway and its keyring first: a file is never missing under a key in use.
      await this.#keys?.remove(id, unexported ? undefined : node);
      // Served to no one now: the plugin may take down what publish set up for the gateway
      // (a Mayastor target). A retry after a failure here finds the export gone and retries this.
      const plugin = unexported ? this.#volume(id)?.plugin : undefined;
      if (plugin?.releaseSource) await plugin.releaseSource(id);
      this.#log.info('volume unpublished', { volume: id, node: node ?? 'all' });
      return {};
    });
  }

  async validateVolumeCapabilities(req: ValidateVolumeCapabilitiesRequest): Promise<ValidateVolumeCapabilitiesResponse> {
    const id = requireName(req.volume_id, 'volume_id');
    if (!req.volume_capabilities?.length) throw invalidArgument('volume_capabilities is required');
    // Malformed parameters are INVALID_ARGUMENT whether or not the volume exists.
    const params = parseVolumeParameters(req.parameters);
    const found = this.#volume(id);
    if (!found) throw notFound(`volume ${id} does not exist`);
    const v = found.volume;
    const unconfirmed = (message: string): ValidateVolumeCapabilitiesResponse => ({ confirmed: null, message });
    for (const c of req.volume_capabilities) {
      const why = unsupportedReason(c);
      if (why) return unconfirmed(why);
    }
    if (Object.keys(req.parameters ?? {}).length > 0 && !sameMap(params.given, v.parameters)) {
      return unconfirmed('the volume was created with other parameters');
    }
    if (Object.keys(req.volume_context ?? {}).length > 0 && !sameMap(req.volume_context, v.context)) {
      return unconfirmed('volume_context is not this volume\'s');
    }
    return {
      confirmed: { volume_context: req.volume_context ?? {}, volume_capabilities: req.volume_capabilities, parameters: req.parameters ?? {} },
      message: '',
    };
  }

  async listVolumes(req: ListVolumesRequest): Promise<ListVolumesResponse> {
    const all = [...this.#plugins.values()].flatMap((p) => p.volumes()).sort(byId);
    const page = paginate(all, req.max_entries, req.starting_token);
    const exports = page.items.length > 0 ? await this.#exporter.exports() : new Map<string, string[]>();
    return {
      entries: page.items.map((v) => ({ volume: volumeJson(v), status: { published_node_ids: exports.get(v.id) ?? [] } })),
      next_token: page.next,
    };
  }

  async getCapacity(req: GetCapacityRequest): Promise<GetCapacityResponse> {
    const params = parseVolumeParameters(req.parameters);
    const plugin = this.#plugin(params.plugin);
    // Volumes with capabilities we cannot honour have no capacity at all.
    if ((req.volume_capabilities ?? []).some((c) => unsupportedReason(c) !== undefined)) {
      return { available_capacity: 0, maximum_volume_size: null, minimum_volume_size: null };
    }
    // Topology does not restrict capacity: every node reaches the one pool (over TCP at least).
    const c = await plugin.capacity();
    return {
      available_capacity: c.availableBytes,
      maximum_volume_size: { value: params.thin ? c.maximumVolumeBytes : Math.min(c.maximumVolumeBytes, c.availableBytes) },
      minimum_volume_size: { value: c.minimumVolumeBytes },
    };
  }

  getCapabilities(): ControllerGetCapabilitiesResponse {
    return { capabilities: CAPABILITIES.map((type) => ({ rpc: { type } })) };
  }

  async createSnapshot(req: CreateSnapshotRequest): Promise<CreateSnapshotResponse> {
    const name = requireName(req.name, 'name');
    const sourceId = requireName(req.source_volume_id, 'source_volume_id');
    for (const k of Object.keys(req.parameters ?? {})) {
      // The snapshotter's own keys (csi.storage.k8s.io/volumesnapshot/name, ...) are metadata.
      if (!k.startsWith('csi.storage.k8s.io/')) throw invalidArgument(`unknown snapshot parameter "${k}": snapshots take none`);
    }
    return this.#locks.with([`snapshot name ${name}`, `volume ${sourceId}`], 'CreateSnapshot', async () => {
      const existing = this.#snapshotByName(name);
      if (existing) {
        if (existing.sourceVolumeId !== sourceId) {
          throw alreadyExists(`snapshot "${name}" exists (${existing.id}) of volume ${existing.sourceVolumeId}, not ${sourceId}`);
        }
        return { snapshot: snapshotJson(existing) };
      }
      const found = this.#volume(sourceId);
      if (!found) throw notFound(`volume ${sourceId} does not exist`);
      const inUse = await this.#exporter.isExported(sourceId);
      const s = await found.plugin.createSnapshot({ name, sourceVolumeId: sourceId, inUse });
      return { snapshot: snapshotJson(s) };
    });
  }

  async deleteSnapshot(req: DeleteSnapshotRequest): Promise<Empty> {
    const id = requireName(req.snapshot_id, 'snapshot_id');
    return this.#locks.with([`snapshot ${id}`], 'DeleteSnapshot', async () => {
      const found = this.#snapshot(id);
      if (found) {
        await found.plugin.deleteSnapshot(id);
        this.#log.info('snapshot deleted', { snapshot: id });
      }
      return {};
    });
  }

  async listSnapshots(req: ListSnapshotsRequest): Promise<ListSnapshotsResponse> {
    let all = [...this.#plugins.values()].flatMap((p) => p.snapshots()).sort(byId);
    if (req.snapshot_id) all = all.filter((s) => s.id === req.snapshot_id);
    if (req.source_volume_id) all = all.filter((s) => s.sourceVolumeId === req.source_volume_id);
    const page = paginate(all, req.max_entries, req.starting_token);
    return { entries: page.items.map((s) => ({ snapshot: snapshotJson(s) })), next_token: page.next };
  }

  async expandVolume(req: ControllerExpandVolumeRequest): Promise<ControllerExpandVolumeResponse> {
    const id = requireName(req.volume_id, 'volume_id');
    if (!req.capacity_range) throw invalidArgument('capacity_range is required');
    if (req.volume_capability) requireCapability(req.volume_capability);
    // The range is checked before the volume is looked up: INVALID_ARGUMENT comes before NOT_FOUND.
    const { required, limit } = capacityRange(req.capacity_range);
    const target = required || limit;
    if (target === 0) throw invalidArgument('capacity_range needs required_bytes or limit_bytes');
    // A raw block volume has no file system to grow.
    const nodeExpansion = !req.volume_capability?.block;
    return this.#locks.with([`volume ${id}`], 'ControllerExpandVolume', async () => {
      const found = this.#volume(id);
      if (!found) throw notFound(`volume ${id} does not exist`);
      const current = found.volume.capacityBytes;
      if (current >= target && limit && current > limit) {
        throw outOfRange(`volume ${id} is ${current} bytes already, above limit_bytes ${limit}`);
      }
      let capacity = current;
      if (current < target) {
        const size = await capacityFor(req.capacity_range ?? undefined, found.plugin, undefined);
        capacity = (await found.plugin.expandVolume(id, size)).capacityBytes;
      }
      // Online: the hosts of a published volume learn the size from the gateway's notice.
      // Also on a retry whose grow went through and whose gateway step failed (a no-op otherwise).
      const published = await this.#exporter.isExported(id);
      if (published) await this.#exporter.grown(id);
      if (capacity !== current) this.#log.info('volume expanded', { volume: id, from: current, to: capacity, published });
      return { capacity_bytes: capacity, node_expansion_required: nodeExpansion };
    });
  }

  /**
   * What exporting volume `id` takes (its UUID, its source, its transport), or undefined for
   * a volume this controller does not have: a gateway group member that missed the volume's
   * export is given it again with this.
   */
  async exportSpec(id: string): Promise<KnownExport | undefined> {
    const found = this.#volume(id);
    if (!found) return undefined;
    const source = await found.plugin.blockSource(id);
    const keyDir = this.#keys;
    const dhchap = dhchapModeFromContext(found.volume.context) !== undefined;
    const tls = tlsFromContext(found.volume.context);
    // A volume that requires DH-HMAC-CHAP or TLS: the host's keys as the last publish wrote them
    // (one it needs missing: no host).
    const keys = dhchap || tls ? async (host: string) => {
      const k = await keyDir?.current(id, host);
      return k && (!dhchap || k.key) && (!tls || k.psk) ? k : undefined;
    } : undefined;
    return { spec: { volumeId: id, uuid: found.volume.uuid, source, ...(tls ? { tls } : {}) },
      transport: (found.volume.context.transport ?? 'tcp') as Transport, ...(keys ? { keys } : {}) };
  }

  #plugin(name: string): StoragePlugin {
    const p = this.#plugins.get(name);
    if (!p) throw invalidArgument(`plugin "${name}" is not available; this controller has ${[...this.#plugins.keys()].join(', ')}`);
    return p;
  }

  #volume(id: string): { plugin: StoragePlugin; volume: VolumeRecord } | undefined {
    for (const plugin of this.#plugins.values()) {
      const volume = plugin.volume(id);
      if (volume) return { plugin, volume };
    }
    return undefined;
  }

  #volumeByName(name: string): { plugin: StoragePlugin; volume: VolumeRecord } | undefined {
    for (const plugin of this.#plugins.values()) {
      const volume = plugin.volumeByName(name);
      if (volume) return { plugin, volume };
    }
    return undefined;
  }

  #snapshot(id: string): { plugin: StoragePlugin; snapshot: SnapshotRecord } | undefined {
    for (const plugin of this.#plugins.values()) {
      const snapshot = plugin.snapshot(id);
      if (snapshot) return { plugin, snapshot };
    }
    return undefined;
  }

  #snapshotByName(name: string): SnapshotRecord | undefined {
    for (const plugin of this.#plugins.values()) {
      const s = plugin.snapshotByName(name);
      if (s) return s;
    }
    return undefined;
  }

  #transportFor(p: VolumeParameters, req: { requisite: Topology[]; preferred: Topology[] } | undefined): Transport {
    const rdmaNode = (t: Topology) => t.segments?.[RDMA_TOPOLOGY_KEY] === 'true';
    const requisite = req?.requisite ?? [];
    // TLS is NVMe/TCP's (parseVolumeParameters refused tls with transport rdma).
    if (p.transport === 'tcp' || p.tls) return 'tcp';
    if (p.transport === 'rdma') {
      if (!this.#exporter.hasRdma) throw invalidArgument('transport=rdma, but the gateway has no RDMA listen address configured');
      if (requisite.length > 0 && !requisite.some(rdmaNode)) {
        throw resourceExhausted(`transport=rdma, but none of the requisite topologies has ${RDMA_TOPOLOGY_KEY}=true`);
      }
      return 'rdma';
    }
    if (!this.#exporter.hasRdma) return 'tcp';
    // The node the CO means to use comes first in `preferred`; without a preference,
    // RDMA only when every allowed node has it.
    const preferred = req?.preferred ?? [];
    if (preferred.length > 0) return rdmaNode(preferred[0]) ? 'rdma' : 'tcp';
    return requisite.length > 0 && requisite.every(rdmaNode) ? 'rdma' : 'tcp';
  }
}

function requireName(value: string | undefined, what: string): string {
  if (!value) throw invalidArgument(`${what} is required`);
  if (Buffer.byteLength(value) > MAX_ID_BYTES) throw invalidArgument(`${what} is longer than ${MAX_ID_BYTES} bytes`);
  // CSI bans the C0 and C1 control characters other than common whitespace.
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(value)) throw invalidArgument(`${what} holds control characters`);
  return value;
}

/**
 * Node ids are the nodes' host NQNs (NodeGetInfo). One that is not an NQN by the target's
 * grammar names no node of this driver: NOT_FOUND, as CSI has it for an unknown node
 * (the caller has checked that node_id is there at all).
 */
function knownNodeId(value: string): string {
  if (!isHostNqn(value)) {
    throw notFound(`node_id "${value.slice(0, 64)}" is not a host NQN ("nqn.yyyy-mm.<reverse domain>:<name>" or ` +
      '"nqn.2014-08.org.nvmexpress:uuid:<uuid>", at most 223 bytes), so it is no node of this driver');
  }
  return value;
}

function contentSource(req: CreateVolumeRequest): ContentSource | undefined {
  const s = req.volume_content_source;
  if (!s) return undefined;
  if (s.snapshot) return { kind: 'snapshot', id: requireName(s.snapshot.snapshot_id, 'volume_content_source.snapshot.snapshot_id') };
  if (s.volume) return { kind: 'volume', id: requireName(s.volume.volume_id, 'volume_content_source.volume.volume_id') };
  throw invalidArgument('volume_content_source names neither a snapshot nor a volume');
}

/**
 * The size to create: at least required_bytes and the source's size, rounded up to the
 * plugin's unit, at most limit_bytes; 1 GiB when nothing is asked.
 */
async function capacityFor(r: CapacityRange | undefined, plugin: StoragePlugin, sourceBytes: number | undefined): Promise<number> {
  const { required, limit } = capacityRange(r);
  const unit = plugin.allocationUnit;
  if (limit && required > limit) throw outOfRange(`required_bytes ${required} is above limit_bytes ${limit}`);
  let base = Math.max(required, sourceBytes ?? 0);
  if (base === 0) base = limit ? Math.min(DEFAULT_VOLUME_BYTES, Math.floor(limit / unit) * unit) : DEFAULT_VOLUME_BYTES;
  const c = await plugin.capacity();
  const size = Math.max(Math.ceil(base / unit) * unit, c.minimumVolumeBytes);
  if (limit && size > limit) {
    throw outOfRange(sourceBytes !== undefined && sourceBytes > limit
      ? `the source is ${sourceBytes} bytes, above limit_bytes ${limit}`
      : `no size in [${required}, ${limit}] is a multiple of ${unit} bytes`);
  }
  if (size > c.maximumVolumeBytes) throw outOfRange(`${size} bytes is above the largest volume, ${c.maximumVolumeBytes} bytes`);
  return size;
}

/** Why an existing volume does not answer a repeated CreateVolume, or undefined when it does. */
function incompatibility(v: VolumeRecord, r: CapacityRange | undefined, p: VolumeParameters, source: ContentSource | undefined): string | undefined {
  const { required, limit } = capacityRange(r);
  if (v.capacityBytes < required) return `capacity ${v.capacityBytes}, below required_bytes ${required}`;
  if (limit && v.capacityBytes > limit) return `capacity ${v.capacityBytes}, above limit_bytes ${limit}`;
  if (!sameMap(v.parameters, p.given)) return 'other parameters';
  if (v.source?.kind !== source?.kind || v.source?.id !== source?.id) return 'another content source';
  return undefined;
}

function sameMap(a: StringMap, b: StringMap): boolean {
  const ka = Object.keys(a ?? {});
  return ka.length === Object.keys(b ?? {}).length && ka.every((k) => a[k] === b?.[k]);
}

function volumeJson(v: VolumeRecord): Volume {
  return {
    capacity_bytes: v.capacityBytes,
    volume_id: v.id,
    volume_context: v.context,
    content_source: v.source?.kind === 'snapshot' ? { snapshot: { snapshot_id: v.source.id } }
      : v.source?.kind === 'volume' ? { volume: { volume_id: v.source.id } } : null,
    accessible_topology: v.context.transport === 'rdma' ? [{ segments: { [RDMA_TOPOLOGY_KEY]: 'true' } }] : [],
  };
}

function snapshotJson(s: SnapshotRecord): Snapshot {
  return {
    size_bytes: s.sizeBytes,
    snapshot_id: s.id,
    source_volume_id: s.sourceVolumeId,
    creation_time: { seconds: Math.floor(s.createdAtMs / 1000), nanos: (s.createdAtMs % 1000) * 1e6 },
    // Snapshots are cut synchronously: once CreateSnapshot answers, they can be restored.
    ready_to_use: true,
  };
}

function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

const TOKEN_PREFIX = 'rdmagate-csi:1:';

/**
 * One page of `items` (sorted by id). The token names the id the next page starts at, so
 * that entries created or deleted between pages shift nothing; a token we did not make is
 * ABORTED, as CSI asks.
 */
function paginate<T extends { id: string }>(items: T[], maxEntries: number, token: string): { items: T[]; next: string } {
  if (!Number.isInteger(maxEntries) || maxEntries < 0) throw invalidArgument('max_entries must not be negative');
  let start = 0;
  if (token) {
    const text = Buffer.from(token, 'base64url').toString('utf8');
    if (!text.startsWith(TOKEN_PREFIX) || Buffer.from(text, 'utf8').toString('base64url') !== token) {
      throw aborted(`starting_token "${token.slice(0, 64)}" was not made by this driver; list again from the start`);
    }
    const from = text.slice(TOKEN_PREFIX.length);
    start = items.findIndex((x) => x.id >= from);
    if (start < 0) start = items.length;
  }
  const end = maxEntries > 0 ? Math.min(items.length, start + maxEntries) : items.length;
  const next = end < items.length ? Buffer.from(TOKEN_PREFIX + items[end].id, 'utf8').toString('base64url') : '';
  return { items: items.slice(start, end), next };
}
