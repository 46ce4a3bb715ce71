import { ClosedError, InvalidArgumentError } from '../../errors';
import { native, type NativeTarget } from '../../native';
import * as v from '../../validate';
import { DHCHAP_DEFAULT_DHGROUPS, DHCHAP_DEFAULT_DIGESTS, dhchapKeys, type DhchapDhgroup, type DhchapDigest, type DhchapKeys } from '../dhchap';
import { connectOptions } from '../host/options';
import { tlsPsk, type TlsPsk } from '../tls';
import type { ConnectOptions } from '../host/options';
import { nguidBytes, nguidText, uuidBytes, uuidText } from './ids';
import type { BdevInfo, ConnectionDeadlines, ControllerInfo, ListenerInfo, ListenerState, NamespaceStats, NativeBdevInfo, NvmeControllerInfo, QpairInfo, SubsystemInfo,
  TransportType, MultipathPolicyName, MultipathSelector } from './types';

export interface TargetOptions {
  /** Native reactor threads; connections are spread over them. Default 1. */
  reactors?: number;
  /** Busy-poll (lowest latency, a core per reactor) instead of sleeping when idle. Default false. */
  pollMode?: boolean;
  /** Largest transfer per command (MDTS). Default 128 KiB. */
  maxIoSize?: number;
  /** In-capsule data accepted on I/O queues. Default 8 KiB. */
  inCapsuleDataSize?: number;
  /** Queue entries per queue (CAP.MQES + 1). Default 128. */
  maxQueueDepth?: number;
  /** I/O queues per controller. Default 64. */
  maxIoQueues?: number;
  /**
   * Most memory for request data buffers (`maxIoSize` each), mapped as needed; SPDK's
   * num_shared_buffers x io_unit_size. Default 256 MiB; at least 2 MiB. While it is all in
   * use, commands wait for a buffer, but in-capsule data (`inCapsuleDataSize` at most per
   * command) is taken into memory of its own, so that no connection stalls on it.
   */
  bufferPoolBytes?: number;
  /** TCP connections open at once through one listener; 0: no cap. Default 16384. */
  maxConnectionsPerListener?: number;
  /** TCP connections open at once from one host address; 0: no cap. Default 4096. */
  maxConnectionsPerAddress?: number;
  /** Deadlines for TCP peers that stop half way. */
  deadlines?: ConnectionDeadlines;
}

export interface BdevOptions {
  /** malloc: RAM; null: discards, for benchmarks; file: a file or block device (io_uring, O_DIRECT). */
  type: 'malloc' | 'null' | 'file';
  name: string;
  /** file: the path of the file or block device. */
  path?: string;
  /** file: bypass the page cache (default true). */
  direct?: boolean;
  /** Size in bytes (a multiple of blockSize), or give numBlocks. */
  sizeBytes?: number;
  numBlocks?: number;
  /** Default 512; for files, 0 reads a block device's logical block size. */
  blockSize?: number;
}

/** A backend is polled by the target's reactors, which forward its I/O: no `polling`. */
export interface NvmeAttachOptions extends Omit<ConnectOptions, 'polling'> {
  /** Bdevs are named `${name}n${nsid}`, as SPDK's bdev_nvme names them. */
  name: string;
  /** Connect and identify must finish within this. Default 30000. */
  attachTimeoutMs?: number;
  /**
   * Backend `name` is attached already, and this is another controller of its subsystem
   * (SPDK's multipath mode "multipath"): each of its namespaces becomes one more path of the
   * bdev that namespace is (refused, ERR_INVALID_ARG, when its NGUID, UUID or block size
   * differ); a namespace new to the backend becomes a bdev of its own.
   */
  multipath?: boolean;
}

export interface SubsystemOptions {
  nqn: string;
  /** Up to 20 characters. Default: derived from the NQN. */
  serialNumber?: string;
  /** Up to 40 characters. Default 'rdmagate'. */
  modelNumber?: string;
  /** Default 32. */
  maxNamespaces?: number;
  /** Default true. With false, only `hosts` may connect. */
  allowAnyHost?: boolean;
  /** Host NQNs, or hosts with the DH-HMAC-CHAP secrets they must authenticate with. */
  hosts?: (string | SubsystemHost)[];
  /**
   * ANA reporting (SPDK's ana_reporting): each namespace is in an ANA group, whose state
   * each listener reports (Subsystem.setListenerAnaState), so that hosts with native
   * multipath use the optimized paths and leave inaccessible ones. Default false.
   */
  anaReporting?: boolean;
  /**
   * The controller IDs handed out, [minCntlid, maxCntlid] (default [1, 65519]): gateways
   * that export one subsystem take ranges apart, so that a host never sees an ID twice.
   */
  minCntlid?: number;
  maxCntlid?: number;
}

/**
 * A host allowed on a subsystem. With `dhchapKey` it must authenticate with DH-HMAC-CHAP
 * (a Connect without it is refused); with `dhchapCtrlrKey` too, the controller
 * authenticates itself to the host in return, if the host asks. With `psk` it may connect
 * through a secure-channel listener (NVMe/TCP TLS), offering the identity made from it.
 */
export interface SubsystemHost extends DhchapKeys, TlsPsk {
  nqn: string;
}

/**
 * What DH-HMAC-CHAP may use on a target (SPDK's nvmf_set_config dhchap_digests and
 * dhchap_dhgroups), each list in the order the target prefers.
 */
export interface DhchapConfig {
  /** Default: DHCHAP_DEFAULT_DIGESTS, every digest, strongest first. */
  digests?: DhchapDigest[];
  /** Default: DHCHAP_DEFAULT_DHGROUPS, every DH group, strongest first. */
  dhgroups?: DhchapDhgroup[];
}

/** ANA states a listener can be set to (SPDK's). */
export type AnaState = 'optimized' | 'non_optimized' | 'inaccessible';
export const ANA_STATES: readonly AnaState[] = ['optimized', 'non_optimized', 'inaccessible'];

export interface NamespaceOptions {
  /** The bdev's name. */
  bdev: string;
  /** Default: the lowest free nsid. */
  nsid?: number;
  /** 32 hex digits; default random. */
  nguid?: string;
  /** Default random. */
  uuid?: string;
  /** Its ANA group, in [1, maxNamespaces]. Default: the nsid. */
  anagrpid?: number;
}

export interface ListenOptions {
  transport?: TransportType;
  address: string;
  /** Default 4420; 0 picks a free port. */
  port?: number;
  /**
   * NVMe/TCP TLS 1.3 required (SPDK's secure_channel, nvmet's treq "required"): a host must
   * complete a TLS handshake with a PSK one of its subsystems' hosts has, or it is
   * disconnected; the discovery log says so. Default false. NVMe/TCP only.
   */
  secureChannel?: boolean;
}

/** A namespace of a subsystem. */
export class Namespace {
  constructor(readonly subsystem: Subsystem, readonly nsid: number, readonly bdev: string,
    readonly nguid: string, readonly uuid: string) {}

  /** Detaches the namespace; connected hosts get a namespace-change notice. */
  remove(): void {
    this.subsystem.removeNamespace(this.nsid);
  }
}

/** An NVM subsystem of a Target. */
export class Subsystem {
  /** @internal */
  constructor(private readonly target: Target, readonly nqn: string) {}

  addNamespace(options: NamespaceOptions): Namespace {
    const o = v.object<NamespaceOptions>(options, 'options');
    const bdev = v.string(o.bdev, 'bdev');
    const nsid = v.optionalInteger(o.nsid, 'nsid', 1, 0xfffffffe, 0);
    const nguid = nguidBytes(o.nguid);
    const uuid = uuidBytes(o.uuid);
    const anagrpid = v.optionalInteger(o.anagrpid, 'anagrpid', 1, 0xfffffffe, 0);
    const id = this.target.nativeHandle.addNamespace(this.nqn, bdev, nsid, nguid, uuid, anagrpid);
    return new Namespace(this, id, bdev, nguidText(nguid), uuidText(uuid));
  }

  removeNamespace(nsid: number): void {
    this.target.nativeHandle.removeNamespace(this.nqn, v.integer(nsid, 'nsid', 1, 0xfffffffe));
  }

  /**
   * Allows a host on the subsystem (while allowAnyHost is false, only these connect). Given
   * keys, the host must authenticate with them; adding a host that is there replaces its
   * keys. ERR_INVALID_KEY for a secret that is not in the DHHC-1 form.
   */
  addHost(host: string | SubsystemHost): void {
    if (typeof host === 'string') {
      this.target.nativeHandle.addHost(this.nqn, v.string(host, 'hostnqn'));
      return;
    }
    const o = v.object<SubsystemHost>(host, 'host');
    const nqn = v.string(o.nqn, 'host.nqn');
    this.target.nativeHandle.addHost(this.nqn, nqn, { ...dhchapKeys(o, 'host.'), ...tlsPsk(o, 'host.') });
  }

  /**
   * Changes the keys of a host on the subsystem (none: it connects without authenticating),
   * as keys are rotated: queues that have authenticated stay connected, and new ones use
   * these keys. ERR_NOT_FOUND for a host not on the subsystem.
   */
  setHostKeys(hostnqn: string, keys: DhchapKeys): void {
    this.target.nativeHandle.setHostKeys(this.nqn, v.string(hostnqn, 'hostnqn'), dhchapKeys(v.object<DhchapKeys>(keys, 'keys')));
  }

  removeHost(hostnqn: string): void {
    this.target.nativeHandle.removeHost(this.nqn, v.string(hostnqn, 'hostnqn'));
  }

  /**
   * Offers the subsystem on this address, starting a listener there if needed. After the
   * first call the subsystem is offered only on the listeners added this way.
   */
  addListener(options: ListenOptions): ListenerInfo {
    const o = v.object<ListenOptions>(options, 'options');
    const transport = v.oneOf(o.transport, 'transport', ['tcp', 'rdma'] as const, 'tcp');
    return this.target.nativeHandle.subsystemAddListener(this.nqn, transport, v.string(o.address, 'address'),
      v.optionalInteger(o.port, 'port', 1, 65535, 4420), v.optionalBoolean(o.secureChannel, 'secureChannel', false));
  }

  removeListener(options: ListenOptions): void {
    const o = v.object<ListenOptions>(options, 'options');
    const transport = v.oneOf(o.transport, 'transport', ['tcp', 'rdma'] as const, 'tcp');
    this.target.nativeHandle.subsystemRemoveListener(this.nqn, transport, v.string(o.address, 'address'),
      v.optionalInteger(o.port, 'port', 1, 65535, 4420));
  }

  /**
   * The ANA state of group `anagrpid` (of every group, when left out) through one of the
   * subsystem's listeners; the hosts connected through it get an ANA change notice.
   */
  setListenerAnaState(listener: ListenOptions, state: AnaState, anagrpid?: number): void {
    const o = v.object<ListenOptions>(listener, 'listener');
    const transport = v.oneOf(o.transport, 'transport', ['tcp', 'rdma'] as const, 'tcp');
    this.target.nativeHandle.setListenerAnaState(this.nqn, transport, v.string(o.address, 'address'),
      v.optionalInteger(o.port, 'port', 1, 65535, 4420), v.oneOf(state ?? null, 'state', ANA_STATES, 'optimized'),
      v.optionalInteger(anagrpid, 'anagrpid', 1, 0xfffffffe, 0));
  }

  /** Moves namespace `nsid` to ANA group `anagrpid`; every host of the subsystem is told. */
  setNamespaceAnaGroup(nsid: number, anagrpid: number): void {
    this.target.nativeHandle.setNamespaceAnaGroup(this.nqn, v.integer(nsid, 'nsid', 1, 0xfffffffe),
      v.integer(anagrpid, 'anagrpid', 1, 0xfffffffe));
  }

  /** Offers the subsystem on every listener (true) or only on those added (false). */
  allowAnyListener(allow: boolean): void {
    if (typeof allow !== 'boolean') throw new InvalidArgumentError('allow must be a boolean');
    this.target.nativeHandle.setAllowAnyListener(this.nqn, allow);
  }

  allowAnyHost(allow: boolean): void {
    if (typeof allow !== 'boolean') throw new InvalidArgumentError('allow must be a boolean');
    this.target.nativeHandle.setAllowAnyHost(this.nqn, allow);
  }

  info(): SubsystemInfo {
    const s = this.target.subsystems().find((x) => x.nqn === this.nqn);
    if (!s) throw new ClosedError(`subsystem ${this.nqn} was removed`);
    return s;
  }
}

/** A transport listener of a Target. Every subsystem is reachable through every listener. */
export class Listener {
  /** @internal */
  constructor(private readonly target: Target, readonly info: ListenerInfo) {}

  get transport(): TransportType { return this.info.trtype; }
  get address(): string { return this.info.traddr; }
  get port(): number { return this.info.trsvcid; }

  close(): void {
    this.target.nativeHandle.removeListener(this.info.trtype, this.info.traddr, this.info.trsvcid);
  }
}

const NQN_MAX = 223;

function connectionDeadlines(d: ConnectionDeadlines | undefined): Required<ConnectionDeadlines> {
  const o = v.object<ConnectionDeadlines>(d ?? {}, 'deadlines');
  const ms = (value: number | undefined, name: string, fallback: number) =>
    v.optionalInteger(value, `deadlines.${name}`, 1, 86_400_000, fallback);
  return {
    icReqMs: ms(o.icReqMs, 'icReqMs', 10_000),
    connectMs: ms(o.connectMs, 'connectMs', 10_000),
    pduMs: ms(o.pduMs, 'pduMs', 30_000),
    dataMs: ms(o.dataMs, 'dataMs', 30_000),
  };
}

/**
 * An NVMe-oF target: bdevs, subsystems with namespaces, and listeners. The data path runs
 * in native reactor threads; nothing per I/O reaches JavaScript. The discovery subsystem
 * (nqn.2014-08.org.nvmexpress.discovery) is always present.
 */
export class Target {
  #native: NativeTarget | undefined;
  #dhchap: Required<DhchapConfig> = { digests: [...DHCHAP_DEFAULT_DIGESTS], dhgroups: [...DHCHAP_DEFAULT_DHGROUPS] };

  constructor(options: TargetOptions = {}) {
    const o = v.object<TargetOptions>(options, 'options');
    if (o.pollMode !== undefined && typeof o.pollMode !== 'boolean') throw new InvalidArgumentError('pollMode must be a boolean');
    this.#native = new native.NativeTarget({
      reactors: v.optionalInteger(o.reactors, 'reactors', 1, 64, 1),
      pollMode: o.pollMode ?? false,
      maxIoSize: v.optionalInteger(o.maxIoSize, 'maxIoSize', 4096, 1 << 20, 128 * 1024),
      inCapsuleDataSize: v.optionalInteger(o.inCapsuleDataSize, 'inCapsuleDataSize', 0, 1 << 20, 8192),
      maxQueueDepth: v.optionalInteger(o.maxQueueDepth, 'maxQueueDepth', 2, 1024, 128),
      maxIoQueues: v.optionalInteger(o.maxIoQueues, 'maxIoQueues', 1, 1024, 64),
      bufferPoolBytes: v.optionalInteger(o.bufferPoolBytes, 'bufferPoolBytes', 2 << 20, 2 ** 40, 256 << 20),
      maxConnectionsPerListener: v.optionalInteger(o.maxConnectionsPerListener, 'maxConnectionsPerListener', 0, 2 ** 32 - 1, 16384),
      maxConnectionsPerAddress: v.optionalInteger(o.maxConnectionsPerAddress, 'maxConnectionsPerAddress', 0, 2 ** 32 - 1, 4096),
      deadlines: connectionDeadlines(o.deadlines),
    });
  }

  /** @internal */
  get nativeHandle(): NativeTarget {
    if (!this.#native) throw new ClosedError('the target is closed');
    return this.#native;
  }

  createBdev(options: BdevOptions): BdevInfo {
    const o = v.object<BdevOptions>(options, 'options');
    const type = v.oneOf(o.type, 'type', ['malloc', 'null', 'file'] as const, 'malloc');
    const name = v.string(o.name, 'name');
    if (type === 'file') {
      const path = v.string(o.path, 'path');
      if (o.direct !== undefined && typeof o.direct !== 'boolean') throw new InvalidArgumentError('direct must be a boolean');
      const bs = v.optionalInteger(o.blockSize, 'blockSize', 0, 65536, 0);
      return bdevInfo(this.nativeHandle.createFileBdev(name, path, bs, o.direct ?? true));
    }
    const blockSize = v.optionalInteger(o.blockSize, 'blockSize', 512, 65536, 512);
    let numBlocks: number;
    if (o.numBlocks !== undefined) {
      numBlocks = v.integer(o.numBlocks, 'numBlocks', 1, Number.MAX_SAFE_INTEGER);
    } else {
      const bytes = v.integer(o.sizeBytes, 'sizeBytes', blockSize, Number.MAX_SAFE_INTEGER);
      if (bytes % blockSize !== 0) throw new InvalidArgumentError(`sizeBytes must be a multiple of blockSize (${blockSize})`);
      numBlocks = bytes / blockSize;
    }
    return bdevInfo(this.nativeHandle.createBdev(type, name, numBlocks, blockSize));
  }

  deleteBdev(name: string): void {
    this.nativeHandle.deleteBdev(v.string(name, 'name'));
  }

  /**
   * Gives a null bdev `numBlocks` blocks, or without it has a file bdev take the size its
   * file or block device has now (SPDK's bdev_null_resize and bdev_uring_rescan). Returns
   * whether the size changed; if so, the hosts of every namespace it backs get a Namespace
   * Attribute Changed notice and see the new size in Identify Namespace. A bdev that a
   * namespace serves may grow but not shrink (ERR_BUSY); other bdevs keep their size
   * (ERR_NOT_SUPPORTED for a `numBlocks`).
   */
  resizeBdev(name: string, numBlocks?: number): boolean {
    const blocks = numBlocks === undefined ? undefined : v.integer(numBlocks, 'numBlocks', 1, Number.MAX_SAFE_INTEGER);
    return this.nativeHandle.resizeBdev(v.string(name, 'name'), blocks);
  }

  bdevs(): BdevInfo[] {
    return this.nativeHandle.bdevs().map(bdevInfo);
  }

  /**
   * Connects to a remote NVMe/TCP or NVMe/RDMA controller through rdmagate's host, with one
   * I/O queue per target reactor, and makes each of its namespaces a bdev. I/O to those bdevs
   * is forwarded in the reactors; while the backend reconnects it is held, and it fails with
   * a path error once `ctrlLossTmo` has passed. Over RDMA the backend controller is given
   * access to the target's request buffer pool, as an SPDK target gives it to the devices
   * its memory is registered with; the pool is registered as the backend's queues connect.
   */
  async attachNvmeController(options: NvmeAttachOptions): Promise<BdevInfo[]> {
    const o = v.object<NvmeAttachOptions>(options, 'options');
    const name = v.string(o.name, 'name');
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new InvalidArgumentError('name may hold letters, digits, _ . - only');
    const timeout = v.optionalInteger(o.attachTimeoutMs, 'attachTimeoutMs', 1, 600000, 30000);
    if (o.multipath !== undefined && typeof o.multipath !== 'boolean') throw new InvalidArgumentError('multipath must be a boolean');
    const { name: _n, attachTimeoutMs: _t, multipath, ...connect } = o as NvmeAttachOptions & Pick<ConnectOptions, 'polling'>;
    if (connect.polling !== undefined && connect.polling !== 'reactor') {
      throw new InvalidArgumentError("a backend is polled by the target's reactors: polling must be 'reactor' if given");
    }
    const native = connectOptions(connect);
    return (await this.nativeHandle.attachNvmeController(name, native, timeout, multipath ?? false)).map(bdevInfo);
  }

  /**
   * Detaches a backend; refused (ERR_BUSY) while a namespace uses one of its bdevs. With
   * `path`, of a backend with several controllers (multipath): only the controller reached by
   * that path goes; its bdevs keep their other paths, and those it alone reaches go with it.
   */
  detachNvmeController(name: string, path?: { traddr: string; trsvcid: number }): void {
    if (path === undefined) return this.nativeHandle.detachNvmeController(v.string(name, 'name'));
    this.nativeHandle.detachNvmeController(v.string(name, 'name'), v.string(path.traddr, 'traddr'), v.integer(path.trsvcid, 'trsvcid', 1, 65535));
  }

  /**
   * How commands to NVMe bdev `bdev` go down its paths (SPDK's bdev_nvme_set_multipath_policy):
   * active_passive (the default) sends them down the first usable path, optimized before
   * non-optimized; active_active spreads them over the usable paths of the best ANA state,
   * round-robin (`rrMinIo` in a row, default 1) or to the least queued.
   */
  setMultipathPolicy(bdev: string, policy: MultipathPolicyName, selector: MultipathSelector = 'round_robin', rrMinIo = 1): void {
    this.nativeHandle.setMultipathPolicy(v.string(bdev, 'bdev'), v.oneOf(policy, 'policy', ['active_passive', 'active_active'] as const, 'active_passive'),
      v.oneOf(selector, 'selector', ['round_robin', 'queue_depth'] as const, 'round_robin'), v.integer(rrMinIo, 'rrMinIo', 1, 0xffffffff));
  }

  /**
   * Reconnects backend `name` now, whatever its loss timeout says (SPDK's
   * bdev_nvme_reset_controller); a failed one makes one attempt. Its state tells how it ends.
   */
  resetNvmeController(name: string): void {
    this.nativeHandle.resetNvmeController(v.string(name, 'name'));
  }

  /**
   * Backend `name` authenticates again (DH-HMAC-CHAP), every queue, with `keys`, which its
   * reconnects use from now on (SPDK's bdev_nvme_set_keys): a backend's keys rotate with no
   * reconnect. Rejects with ERR_NVME_AUTH when a queue fails (that queue then reconnects, with
   * these keys), ERR_NVME_DISCONNECTED when one was not connected, ERR_INVALID_KEY for a
   * malformed secret, ERR_NOT_FOUND for an unknown backend.
   */
  async setNvmeControllerKeys(name: string, keys: DhchapKeys, timeoutMs = 30000): Promise<void> {
    await this.nativeHandle.setNvmeControllerKeys(v.string(name, 'name'), dhchapKeys(keys),
      v.integer(timeoutMs, 'timeoutMs', 1, 2 ** 31 - 1));
  }

  /**
   * Adds a failover path to backend `name` (SPDK's multipath "failover"): another address of
   * the same subsystem. When the backend loses its association, each reconnect attempt goes
   * to the next path in turn, so I/O held meanwhile resumes through a path that answers.
   * ERR_ALREADY_EXISTS for a path it has.
   */
  addNvmeControllerPath(name: string, traddr: string, trsvcid: number): void {
    this.nativeHandle.addNvmeControllerPath(v.string(name, 'name'), v.string(traddr, 'traddr'),
      v.integer(trsvcid, 'trsvcid', 1, 65535));
  }

  /**
   * Removes a path of backend `name`; the one in use is left at once for the next. ERR_NOT_FOUND
   * for a path it lacks, ERR_BUSY for its only path (detach the backend instead).
   */
  removeNvmeControllerPath(name: string, traddr: string, trsvcid: number): void {
    this.nativeHandle.removeNvmeControllerPath(v.string(name, 'name'), v.string(traddr, 'traddr'),
      v.integer(trsvcid, 'trsvcid', 1, 65535));
  }

  nvmeControllers(): NvmeControllerInfo[] {
    return this.nativeHandle.nvmeControllers();
  }

  addSubsystem(options: SubsystemOptions): Subsystem {
    const o = v.object<SubsystemOptions>(options, 'options');
    const nqn = v.string(o.nqn, 'nqn');
    if (nqn.length > NQN_MAX) throw new InvalidArgumentError(`nqn is longer than ${NQN_MAX} bytes`);
    const serial = o.serialNumber === undefined ? defaultSerial(nqn) : v.string(o.serialNumber, 'serialNumber');
    const model = o.modelNumber === undefined ? 'rdmagate' : v.string(o.modelNumber, 'modelNumber');
    const maxNamespaces = v.optionalInteger(o.maxNamespaces, 'maxNamespaces', 1, 1024, 32);
    if (o.allowAnyHost !== undefined && typeof o.allowAnyHost !== 'boolean') {
      throw new InvalidArgumentError('allowAnyHost must be a boolean');
    }
    const hosts = o.hosts ?? [];
    if (!Array.isArray(hosts)) throw new InvalidArgumentError('hosts must be an array of host NQNs or { nqn, dhchapKey?, dhchapCtrlrKey?, psk? }');
    hosts.forEach((h, i) => {
      if (typeof h !== 'object' || h === null) {
        v.string(h, `hosts[${i}]`);
      } else {
        v.string(h.nqn, `hosts[${i}].nqn`);
        dhchapKeys(h, `hosts[${i}].`);
        tlsPsk(h, `hosts[${i}].`);
      }
    });
    if (o.anaReporting !== undefined && typeof o.anaReporting !== 'boolean') throw new InvalidArgumentError('anaReporting must be a boolean');
    const minCntlid = v.optionalInteger(o.minCntlid, 'minCntlid', 1, 0xffef, 1);
    const maxCntlid = v.optionalInteger(o.maxCntlid, 'maxCntlid', 1, 0xffef, 0xffef);
    if (minCntlid > maxCntlid) throw new InvalidArgumentError(`minCntlid (${minCntlid}) must be at most maxCntlid (${maxCntlid})`);
    this.nativeHandle.addSubsystem(nqn, serial, model, maxNamespaces, o.anaReporting ?? false, minCntlid, maxCntlid);
    const s = new Subsystem(this, nqn);
    try {
      s.allowAnyHost(o.allowAnyHost ?? hosts.length === 0);
      for (const h of hosts) s.addHost(h);
    } catch (e) {
      // A secret native code refuses (ERR_INVALID_KEY) must not leave a subsystem half made.
      this.nativeHandle.removeSubsystem(nqn);
      throw e;
    }
    return s;
  }

  removeSubsystem(nqn: string): void {
    this.nativeHandle.removeSubsystem(v.string(nqn, 'nqn'));
  }

  /** The subsystem with this NQN, if it exists. */
  subsystem(nqn: string): Subsystem | undefined {
    return this.subsystems().some((s) => s.nqn === nqn && s.subtype === 'NVMe') ? new Subsystem(this, nqn) : undefined;
  }

  subsystems(): SubsystemInfo[] {
    return this.nativeHandle.subsystems().map((s) => ({
      ...s,
      namespaces: s.namespaces.map((n) => ({ nsid: n.nsid, bdevName: n.bdevName, nguid: nguidText(n.nguid), uuid: uuidText(n.uuid),
        anagrpid: n.anagrpid })),
    }));
  }

  /**
   * The DH-HMAC-CHAP digests and DH groups the target accepts, for every subsystem (SPDK's
   * nvmf_set_config); one left out stays as it was. Hosts that authenticate from now on
   * must pick among them. ERR_INVALID_ARG for an unknown name or an empty list.
   */
  setDhchapConfig(config: DhchapConfig): void {
    const o = v.object<DhchapConfig>(config, 'config');
    const list = <T extends string>(value: T[] | undefined, name: string, current: T[]): T[] => {
      if (value === undefined) return current;
      if (!Array.isArray(value)) throw new InvalidArgumentError(`${name} must be an array of names`);
      return [...value];
    };
    const next = { digests: list(o.digests, 'digests', this.#dhchap.digests), dhgroups: list(o.dhgroups, 'dhgroups', this.#dhchap.dhgroups) };
    // The names are native code's to check; what it took is what is remembered.
    this.nativeHandle.setDhchapConfig(next.digests, next.dhgroups);
    this.#dhchap = next;
  }

  /** What setDhchapConfig set last (the defaults until then). */
  dhchapConfig(): Required<DhchapConfig> {
    return { digests: [...this.#dhchap.digests], dhgroups: [...this.#dhchap.dhgroups] };
  }

  listen(options: ListenOptions): Listener {
    const o = v.object<ListenOptions>(options, 'options');
    const transport = v.oneOf(o.transport, 'transport', ['tcp', 'rdma'] as const, 'tcp');
    const address = v.string(o.address, 'address');
    const port = v.optionalInteger(o.port, 'port', 0, 65535, 4420);
    return new Listener(this, this.nativeHandle.listen(transport, address, port, v.optionalBoolean(o.secureChannel, 'secureChannel', false)));
  }

  listeners(): ListenerState[] {
    return this.nativeHandle.listeners();
  }

  controllers(): ControllerInfo[] {
    return this.nativeHandle.controllers();
  }

  /** Every queue pair with its counters. */
  qpairs(): QpairInfo[] {
    return this.nativeHandle.qpairs();
  }

  /**
   * Every namespace with its I/O counters since it was added; they never go back, also when
   * hosts disconnect, and start at zero again when a namespace is removed and added again.
   */
  namespaceStats(): NamespaceStats[] {
    return this.nativeHandle.namespaceStats();
  }

  get closed(): boolean {
    return this.#native === undefined;
  }

  /**
   * Stops listeners, disconnects every host and stops the reactors. The target is closed to
   * every call at once; the waiting (for the reactors, and for each backend's shutdown, up
   * to 5 s) happens off the JS thread, and the promise resolves when it is over.
   */
  async close(): Promise<void> {
    const native = this.#native;
    this.#native = undefined;
    await native?.closeAsync();
  }

  /**
   * close(), with the JS thread waiting meanwhile: for scripts and `using`. A backend reached
   * through something this process serves needs the JS thread to shut down, and holds it
   * here until its 5 s run out: close() has no such wait.
   */
  closeSync(): void {
    this.#native?.close();
    this.#native = undefined;
  }

  [Symbol.dispose](): void {
    this.closeSync();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function bdevInfo(b: NativeBdevInfo): BdevInfo {
  const { nguid, uuid, ...rest } = b;
  return { ...rest, ...(nguid ? { nguid: nguidText(nguid) } : {}), ...(uuid ? { uuid: uuidText(uuid) } : {}) };
}

function defaultSerial(nqn: string): string {
  let h = 2166136261;
  for (let i = 0; i < nqn.length; i++) h = Math.imul(h ^ nqn.charCodeAt(i), 16777619) >>> 0;
  return `RDMAGATE${h.toString(16).padStart(8, '0')}`;
}
