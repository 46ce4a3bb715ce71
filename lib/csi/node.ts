/**
 * The CSI Node service. NodeStageVolume attaches the volume (VolumeAttacher: the kernel
 * NVMe-oF host for role `default`, the disk the DPU exposes for role `host`) and, for a
 * mount volume, makes its file system on first use and mounts it at the staging path;
 * NodePublishVolume bind-mounts that (or, for a raw block volume, the device node) at the
 * pod's target path. Each RPC is idempotent: it looks at what is mounted and connected
 * before changing anything.
 *
 * On a DPU (role `dpu`, an attacher that exposesToHost) staging is attach and expose only:
 * the file system and the pods are the host's, so nothing is made or mounted, publishing
 * is FAILED_PRECONDITION, and unstaging takes the volume back from the host and detaches.
 *
 * node_id is the node's host NQN, which the controller puts on the volume's allow list.
 *
 * A volume that requires DH-HMAC-CHAP (volume_context `dhchap`) is staged only with its
 * secrets (NodeStageVolume's `secrets`, dhchap-secrets.ts: given, or derived for this volume
 * and this node's host NQN as the controller derived them), checked before anything is done,
 * and attached with them; an attacher that cannot carry them refuses, never connecting
 * without them. A volume that requires TLS (volume_context `tls`) is the same with its PSK
 * (tls-secrets.ts), and is connected over NVMe/TCP with TLS only.
 */
import { lstat, mkdir, open, rmdir, stat, statfs, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute } from 'node:path';
import { attacherFor, type NodeRole, type VolumeAttacher } from './attach';
import { capacityRange } from './capacity-range';
import { requireCapability } from './capabilities';
import { dhchapSecretSource, dhchapSecretsFor } from './dhchap-secrets';
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from './errors';
import type { CsiLogger } from './log';
import { OperationLocks } from './locks';
import { blockDeviceBytes, deviceNumber, growFs, hostNqn, makeFs, mount, mountAt, mountsOf, probeFs, remountReadOnly, umount,
  type MountEntry } from './node-system';
import { isHostNqn } from './nqn';
import { connectionModeFromContext, dhchapModeFromContext, fsType, parsePublishContext, RDMA_TOPOLOGY_KEY, tlsFromContext, tuningFromContext,
  type FsType } from './parameters';
import { hasActiveRdmaPort } from './rdma-ports';
import type { RpcHandlers } from './server';
import { tlsPskFor, tlsPskSource } from './tls-secrets';
import type {
  Empty, NodeCapabilityName, NodeExpandVolumeRequest, NodeExpandVolumeResponse, NodeGetCapabilitiesResponse,
  NodeGetInfoResponse, NodeGetVolumeStatsRequest, NodeGetVolumeStatsResponse, NodePublishVolumeRequest,
  NodeStageVolumeRequest, NodeUnpublishVolumeRequest, NodeUnstageVolumeRequest, VolumeCapability,
} from './types';

const CAPABILITIES: NodeCapabilityName[] = ['STAGE_UNSTAGE_VOLUME', 'GET_VOLUME_STATS', 'EXPAND_VOLUME', 'VOLUME_CONDITION',
  'SINGLE_NODE_MULTI_WRITER'];
const DEFAULT_FS: FsType = 'ext4';

export interface NodeServiceOptions {
  role: NodeRole;
  log: CsiLogger;
  /** The node's host NQN; default /etc/nvme/hostnqn, generated and saved there when missing. */
  nodeId?: string;
  /** Where the host NQN is read from (and saved to) when nodeId is not given. */
  hostnqnPath?: string;
  /** Default: the role's attacher (attacherFor). */
  attacher?: VolumeAttacher;
  /** Whether this node can use NVMe/RDMA; default: it has an active RDMA port (rdma-ports.ts). */
  rdma?: boolean;
}

export class NodeService {
  readonly role: NodeRole;
  readonly #log: CsiLogger;
  readonly #attacher: VolumeAttacher;
  readonly #locks = new OperationLocks();
  readonly #nodeId: string | undefined;
  readonly #hostnqnPath: string | undefined;
  readonly #rdma: boolean;
  #hostnqn: Promise<string> | undefined;

  constructor(options: NodeServiceOptions) {
    this.role = options.role;
    this.#log = options.log;
    this.#attacher = options.attacher ?? attacherFor(options.role, { log: options.log });
    // The controller refuses a node id that is not an NQN by the target's grammar: refuse it here first.
    if (options.nodeId !== undefined && !isHostNqn(options.nodeId)) {
      throw invalidArgument(`the node id must be the node's host NQN ("nqn.yyyy-mm.<reverse domain>:<name>" or ` +
        `"nqn.2014-08.org.nvmexpress:uuid:<uuid>", at most 223 bytes), got "${options.nodeId}"`);
    }
    this.#nodeId = options.nodeId;
    this.#hostnqnPath = options.hostnqnPath;
    this.#rdma = options.rdma ?? hasActiveRdmaPort();
  }

  handlers(): RpcHandlers {
    return {
      NodeStageVolume: (r) => this.stageVolume(r as NodeStageVolumeRequest),
      NodeUnstageVolume: (r) => this.unstageVolume(r as NodeUnstageVolumeRequest),
      NodePublishVolume: (r) => this.publishVolume(r as NodePublishVolumeRequest),
      NodeUnpublishVolume: (r) => this.unpublishVolume(r as NodeUnpublishVolumeRequest),
      NodeGetVolumeStats: (r) => this.getVolumeStats(r as NodeGetVolumeStatsRequest),
      NodeExpandVolume: (r) => this.expandVolume(r as NodeExpandVolumeRequest),
      NodeGetCapabilities: async () => this.getCapabilities(),
      NodeGetInfo: () => this.getInfo(),
    };
  }

  /** Identity's Probe for a node endpoint. */
  probe(): Promise<void> {
    return this.#attacher.probe();
  }

  async stageVolume(req: NodeStageVolumeRequest): Promise<Empty> {
    const id = requireId(req.volume_id);
    const staging = requirePath(req.staging_target_path, 'staging_target_path');
    const cap = requireCapability(req.volume_capability);
    const ctx = parsePublishContext(req.publish_context);
    const tuning = tuningFromContext(req.volume_context);
    const connectionMode = connectionModeFromContext(req.volume_context);
    // The file system asked for: the capability's fs_type, else the StorageClass's fsType.
    const askedFs = cap.mount ? askedFsType(cap, req.volume_context?.fsType) : undefined;
    const dhchap = dhchapModeFromContext(req.volume_context);
    const secrets = dhchap ? dhchapSecretSource(req.secrets, dhchap, id, 'NodeStageVolume') : undefined;
    const tls = tlsFromContext(req.volume_context);
    const pskSource = tls ? tlsPskSource(req.secrets, id, 'NodeStageVolume') : undefined;
    if (tls && ctx.transport !== 'tcp') {
      throw invalidArgument(`volume ${id} requires NVMe/TCP TLS, and publish_context.transport is ${ctx.transport}`);
    }
    return this.#locks.with([id], 'NodeStageVolume', async () => {
      const hostnqn = await this.hostnqn();
      const keys = dhchap && secrets ? dhchapSecretsFor(secrets, dhchap, id, hostnqn) : undefined;
      const psk = pskSource ? tlsPskFor(pskSource, id, hostnqn) : undefined;
      const dev = await this.#attacher.attach(ctx, tuning, hostnqn,
        { ...(connectionMode ? { connectionMode } : {}), ...(keys ? { dhchap: keys } : {}), ...(psk ? { psk } : {}) });
      if (this.#attacher.exposesToHost) {
        this.#log.info('volume exposed to the host', { volume: id, device: dev, transport: ctx.transport });
        return {};
      }
      // A raw block volume needs nothing at the staging path: publish binds the device itself.
      if (!cap.mount) return {};
      const mounted = await mountAt(staging);
      if (mounted) {
        if (mounted.device !== (await deviceNumber(dev))) {
          throw alreadyExists(`${staging} already has ${mounted.source} mounted, not ${dev}`);
        }
        return {};
      }
      const found = await probeFs(dev);
      let fs: string;
      if (found === undefined) {
        const made = askedFs ?? DEFAULT_FS;
        this.#log.info('making file system', { volume: id, device: dev, fs: made });
        await makeFs(made, dev);
        fs = made;
      } else if (askedFs !== undefined && found !== askedFs) {
        throw failedPrecondition(`${dev} (volume ${id}) holds a ${found} file system, and fs_type asks for ${askedFs}`);
      } else {
        // Unasked, a restored or pre-provisioned volume keeps the file system it has.
        fs = found;
      }
      await mkdir(staging, { recursive: true });
      await mount(dev, staging, { fsType: fs, flags: cap.mount?.mount_flags ?? [] });
      this.#log.info('volume staged', { volume: id, device: dev, staging, transport: ctx.transport });
      return {};
    });
  }

  async unstageVolume(req: NodeUnstageVolumeRequest): Promise<Empty> {
    const id = requireId(req.volume_id);
    const staging = requirePath(req.staging_target_path, 'staging_target_path');
    return this.#locks.with([id], 'NodeUnstageVolume', async () => {
      const dev = await this.#attacher.device(id);
      if (dev) {
        // Disconnecting under a pod's mount would turn its file system's I/O into errors.
        const inUse = await mountsOf(await deviceNumber(dev), basename(dev));
        const others = inUse.filter((m) => m.mountPoint !== staging).map((m) => m.mountPoint);
        if (others.length > 0) throw failedPrecondition(`volume ${id} is still published at ${others.join(', ')}: NodeUnpublishVolume first`);
      }
      if (await mountAt(staging)) await umount(staging);
      await this.#attacher.detach(id);
      this.#log.info('volume unstaged', { volume: id, staging });
      return {};
    });
  }

  async publishVolume(req: NodePublishVolumeRequest): Promise<Empty> {
    const id = requireId(req.volume_id);
    const target = requirePath(req.target_path, 'target_path');
    const staging = requirePath(req.staging_target_path, 'staging_target_path');
    const cap = requireCapability(req.volume_capability);
    if (this.#attacher.exposesToHost) {
      throw failedPrecondition(`node role ${this.role} exposes volumes to its host and runs no pods: publish volume ${id} on the host's node (role host)`);
    }
    return this.#locks.with([id], 'NodePublishVolume', async () => {
      const existing = await mountAt(target);
      let source: string;
      if (cap.block) {
        const dev = await this.#attacher.device(id);
        if (!dev) throw failedPrecondition(`volume ${id} is not staged on this node: no NVMe device for it`);
        // A bind-mounted device node shows as devtmpfs with the node's name as its root.
        if (existing) return checkSame(existing.root === `/${basename(dev)}`, existing, target, req.readonly);
        await mkdir(dirname(target), { recursive: true });
        // The target of a block bind mount is a file.
        await (await open(target, 'a', 0o600)).close();
        source = dev;
      } else {
        const staged = await mountAt(staging);
        if (!staged) throw failedPrecondition(`volume ${id} is not staged: nothing is mounted at ${staging}`);
        if (existing) return checkSame(existing.device === staged.device, existing, target, req.readonly);
        await mkdir(target, { recursive: true });
        source = staging;
      }
      await mount(source, target, { bind: true });
      if (req.readonly) await remountReadOnly(target);
      this.#log.info('volume published', { volume: id, target, readonly: req.readonly, block: Boolean(cap.block) });
      return {};
    });
  }

  async unpublishVolume(req: NodeUnpublishVolumeRequest): Promise<Empty> {
    const id = requireId(req.volume_id);
    const target = requirePath(req.target_path, 'target_path');
    return this.#locks.with([id], 'NodeUnpublishVolume', async () => {
      if (await mountAt(target)) await umount(target);
      // CSI: the plugin removes the file or directory it made at target_path. rmdir, not
      // a recursive rm: should the unmount not have happened, a volume's files stay put.
      const st = await lstat(target).catch(() => undefined);
      if (st?.isDirectory()) await rmdir(target);
      else if (st) await unlink(target);
      this.#log.info('volume unpublished', { volume: id, target });
      return {};
    });
  }

  async getVolumeStats(req: NodeGetVolumeStatsRequest): Promise<NodeGetVolumeStatsResponse> {
    const id = requireId(req.volume_id);
    const at = await this.#volumeAt(id, req.volume_path);
    const volume_condition = { abnormal: false, message: '' };
    if (at.block) {
      // A raw block volume: its size is all there is to report.
      return { usage: [{ total: await blockDeviceBytes(at.device), available: 0, used: 0, unit: 'BYTES' }], volume_condition };
    }
    const s = await statfs(at.path);
    return {
      usage: [
        { total: s.blocks * s.bsize, available: s.bavail * s.bsize, used: (s.blocks - s.bfree) * s.bsize, unit: 'BYTES' },
        { total: s.files, available: s.ffree, used: s.files - s.ffree, unit: 'INODES' },
      ],
      volume_condition,
    };
  }

  async expandVolume(req: NodeExpandVolumeRequest): Promise<NodeExpandVolumeResponse> {
    const id = requireId(req.volume_id);
    const path = lookupPath(req.volume_path);
    if (req.volume_capability) requireCapability(req.volume_capability);
    const { required } = capacityRange(req.capacity_range);
    return this.#locks.with([id], 'NodeExpandVolume', async () => {
      const dev = await this.#attacher.device(id);
      if (!dev) throw notFound(`volume ${id} is not attached to this node`);
      const bytes = await this.#attacher.rescan(id, required || undefined);
      // The file system to grow is on the host, which has its own NodeExpandVolume.
      if (req.volume_capability?.block || this.#attacher.exposesToHost) return { capacity_bytes: bytes };
      const mounted = await mountAt(path);
      if (!mounted) throw notFound(`nothing is mounted at ${path}`);
      // xfs_growfs grows whatever is mounted at the path: it must be this volume's file system.
      if (!(await isMountOf(mounted, dev))) throw notFound(`${path} has ${mounted.source} mounted, not volume ${id} (${dev})`);
      await growFs(mounted.fsType, dev, path);
      this.#log.info('file system grown', { volume: id, device: dev, bytes, fs: mounted.fsType });
      return { capacity_bytes: bytes };
    });
  }

  /**
   * Where volume `id` is staged or published at `volumePath`, by what the node itself keeps
   * (it records nothing of its own): the volume's device per the attacher, and the mount
   * at the path per /proc/self/mountinfo. NOT_FOUND unless the path exists and has this
   * volume mounted: its file system (the staging mount, or a publish's bind mount of it),
   * or its device node (a published raw block volume).
   */
  async #volumeAt(id: string, volumePath: string | undefined): Promise<{ path: string; device: string; block: boolean }> {
    const path = lookupPath(volumePath);
    if (!(await stat(path).catch(() => undefined))) throw notFound(`${path} does not exist`);
    // A DPU stages for its host and mounts nothing: no path of its own holds a volume.
    if (this.#attacher.exposesToHost) throw notFound(`node role ${this.role} mounts no volumes: volume ${id} is not at ${path}`);
    const device = await this.#attacher.device(id);
    if (!device) throw notFound(`volume ${id} is not staged on this node`);
    const mounted = await mountAt(path);
    if (!mounted) throw notFound(`volume ${id} is not staged or published at ${path}: nothing is mounted there`);
    if (!(await isMountOf(mounted, device))) {
      throw notFound(`volume ${id} is not staged or published at ${path}: ${mounted.source} is mounted there, not ${device}`);
    }
    return { path, device, block: isDeviceBind(mounted, device) };
  }

  getCapabilities(): NodeGetCapabilitiesResponse {
    return { capabilities: CAPABILITIES.map((type) => ({ rpc: { type } })) };
  }

  async getInfo(): Promise<NodeGetInfoResponse> {
    return {
      node_id: await this.hostnqn(),
      // No limit of our own: the kernel host takes as many controllers as it has memory for.
      max_volumes_per_node: 0,
      accessible_topology: { segments: { [RDMA_TOPOLOGY_KEY]: String(this.#rdma) } },
    };
  }

  /** The node's host NQN: the id the controller allows on each volume. */
  hostnqn(): Promise<string> {
    this.#hostnqn ??= this.#nodeId !== undefined ? Promise.resolve(this.#nodeId) : hostNqn(this.#hostnqnPath);
    // A failed read is not cached: the next call tries again.
    this.#hostnqn.catch(() => { this.#hostnqn = undefined; });
    return this.#hostnqn;
  }
}

function requireId(v: string | undefined): string {
  if (!v) throw invalidArgument('volume_id is required');
  return v;
}

function requirePath(v: string | undefined, what: string): string {
  if (!v) throw invalidArgument(`${what} is required`);
  if (!isAbsolute(v) || v.split('/').includes('..')) throw invalidArgument(`${what} must be an absolute path without "..", got "${v}"`);
  return v.length > 1 ? v.replace(/\/+$/, '') : v;
}

/**
 * The volume_path of NodeGetVolumeStats and NodeExpandVolume: where a volume already is.
 * Missing is INVALID_ARGUMENT; a path where no volume can be (relative, or with "..",
 * which stage and publish refuse) is NOT_FOUND, as for any path without the volume.
 */
function lookupPath(v: string | undefined): string {
  if (!v) throw invalidArgument('volume_path is required');
  if (!isAbsolute(v) || v.split('/').includes('..')) throw notFound(`no volume is staged or published at "${v}": not an absolute path without ".."`);
  return v.length > 1 ? v.replace(/\/+$/, '') : v;
}

/** A bind mount of the device node itself (how a raw block volume is published), as publish checks it. */
function isDeviceBind(m: MountEntry, dev: string): boolean {
  return m.root === `/${basename(dev)}`;
}

/** Whether the mount `m` is of the volume on `dev`: its file system, or a bind mount of its device node. */
async function isMountOf(m: MountEntry, dev: string): Promise<boolean> {
  return isDeviceBind(m, dev) || m.device === (await deviceNumber(dev));
}

/** The capability's fs_type, else the StorageClass's fsType; undefined when neither says. */
function askedFsType(cap: VolumeCapability, contextFs: string | undefined): FsType | undefined {
  const asked = cap.mount?.fs_type || contextFs;
  return asked ? fsType(asked, 'fs_type') : undefined;
}

/** A repeated publish: fine when the same volume is there with the same read-only-ness. */
function checkSame(sameVolume: boolean, existing: MountEntry, target: string, readonly: boolean): Empty {
  if (!sameVolume) throw alreadyExists(`${target} already has another volume (${existing.source}) mounted`);
  if (existing.options.includes('ro') !== readonly) {
    throw alreadyExists(`${target} is already published ${readonly ? 'read-write' : 'read-only'}`);
  }
  return {};
}
