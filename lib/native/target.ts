/**
 * The NVMe-oF target part of the addon (native/napi/target_binding.cc), as
 * lib/nvmf/target uses it, with the plain data it reports. lib/nvmf/target/types.ts
 * re-exports that data as the Target's public types. Plain types only: lib/native imports
 * nothing from the layers above.
 */
import type { HostCounters, NativeDhchapKeys, NativeHostOptions, NativeTlsPsk } from './host';

export type TransportType = 'tcp' | 'rdma';

/** A bdev as the addon reports it; BdevInfo has its identifiers as text. @internal */
export interface NativeBdevInfo {
  name: string;
  blockSize: number;
  numBlocks: number;
  /** File bdevs: 'io_uring', or 'threads' where io_uring is unavailable. */
  engine?: 'io_uring' | 'threads';
  /** File bdevs: opened with O_DIRECT. */
  direct?: boolean;
  /** NVMe bdevs: the attached controller, and the remote namespace's id and identifiers. */
  nvmeController?: string;
  nsid?: number;
  nguid?: Uint8Array;
  uuid?: Uint8Array;
  /** NVMe bdevs: the controllers it is reached through, and how commands go down them. */
  multipath?: MultipathInfo;
}

/** SPDK's bdev_nvme_set_multipath_policy: active_passive sends every command down the first usable path; active_active spreads them. */
export type MultipathPolicyName = 'active_passive' | 'active_active';
export type MultipathSelector = 'round_robin' | 'queue_depth';

export interface MultipathInfo {
  /** Controllers (SPDK's multipath mode "multipath") that reach the namespace. */
  paths: number;
  policy: MultipathPolicyName;
  selector: MultipathSelector;
  /** round_robin: commands in a row down one path. */
  rrMinIo: number;
}

/** A backend controller's state, in SPDK's bdev_nvme words; resetting is reconnecting. */
export type NvmeControllerState = 'connecting' | 'enabled' | 'resetting' | 'failed' | 'deleting';

/** One controller (association) of a backend. */
export interface NvmeControllerMemberInfo {
  state: NvmeControllerState;
  /** The last connect or loss failure in words ("connection refused"), where the addon reports one. */
  reason?: string;
  /** The backend host's own counters: what it sent, received and copied. */
  counters: HostCounters;
  /** Its paths (failover): the first is the one attached; `active` is in use, or tried next. */
  paths: NvmeControllerPath[];
  /** The ANA state of each attached namespace through it, from its ANA log (none for a controller without ANA). */
  anaStates: { nsid: number; state: 'optimized' | 'non_optimized' | 'inaccessible' | 'persistent_loss' | 'change' }[];
}

/**
 * A backend attached with attachNvmeController (SPDK's bdev_nvme): its first controller's
 * fields, except that it is enabled while any controller is and counts every one's I/O.
 */
export interface NvmeControllerInfo extends NvmeControllerMemberInfo {
  name: string;
  /** Its controllers, the first attached first: more than one with multipath mode "multipath". */
  controllers: NvmeControllerMemberInfo[];
}

export interface NvmeControllerPath {
  traddr: string;
  trsvcid: number;
  active: boolean;
}

export interface ListenerInfo {
  trtype: TransportType;
  adrfam: 'IPv4' | 'IPv6';
  traddr: string;
  trsvcid: number;
  portid: number;
  /** NVMe/TCP TLS required: a host must complete a TLS 1.3 handshake with a PSK the target has. */
  secureChannel: boolean;
}

/** A listener and what it has admitted: `Target.listeners()`. */
export interface ListenerState extends ListenerInfo {
  /** Connections open now. */
  connections: number;
  /** Connections closed as soon as accepted: over `maxConnectionsPerListener` or `...PerAddress`. */
  refusedConnections: number;
  /** Times accepting paused (with backoff) because the process ran out of file descriptors or memory. */
  acceptPauses: number;
}

/**
 * How long a TCP peer may take (ms) before its connection is closed, and whatever it held
 * freed: a peer that stops half way must not keep an fd or a data buffer for ever.
 */
export interface ConnectionDeadlines {
  /** From accept to the ICReq. Default 10000. */
  icReqMs?: number;
  /** From accept to a completed Connect. Default 10000. */
  connectMs?: number;
  /** From a PDU's first bytes to its last. Default 30000. */
  pduMs?: number;
  /** From an R2T to the last byte of the data it asks for. Default 30000. */
  dataMs?: number;
}

export interface ControllerInfo {
  cntlid: number;
  subnqn: string;
  hostnqn: string;
  /** The admin queue's peer address. */
  peer: string;
  queues: number;
  /** Keep-alive timeout in ms; 0 when disabled. */
  kato: number;
}

/** A queue's DH-HMAC-CHAP: how far it got, and what was negotiated once it was. */
export interface QpairAuthInfo {
  state: 'in-progress' | 'completed' | 'failed';
  digest?: 'sha256' | 'sha384' | 'sha512';
  dhgroup?: 'null' | 'ffdhe2048' | 'ffdhe3072' | 'ffdhe4096' | 'ffdhe6144' | 'ffdhe8192';
  /** The controller proved itself too. */
  bidirectional: boolean;
}

/** One queue pair's counters: what nvmf_subsystem_get_qpairs and the metrics report. */
export interface QpairInfo {
  cntlid: number;
  qid: number;
  transport: TransportType;
  peer: string;
  /** The reactor thread that serves the queue pair ("nvmf-tgt-0", ...). */
  reactor: string;
  /** DH-HMAC-CHAP on this queue, when its host must authenticate (SPDK's "auth"). */
  auth?: QpairAuthInfo;
  /** NVMe/TCP TLS on this queue: the suite, and whether the kernel runs the record layer (kTLS). */
  tls?: { cipher: string; ktls: boolean };
  commands: number;
  errors: number;
  /** Bytes read from and written to namespaces. */
  bytesRead: number;
  bytesWritten: number;
  /** Host data that arrived inside command capsules. */
  inCapsuleBytes: number;
  /** Bytes moved by RDMA READ (host to target) and RDMA WRITE (target to host). */
  rdmaReadBytes: number;
  rdmaWriteBytes: number;
  /** Bytes the CPU copied; only in-capsule data is ever copied. */
  bytesCopied: number;
  /**
   * Commands that found the request buffer pool empty (`bufferPoolBytes` too small for the
   * load): they waited for a buffer, or their in-capsule data went to memory of their own.
   */
  poolExhausted: number;
  /** Sum of command latencies (capsule in to response out), in microseconds. */
  latencyUsSum: number;
  /**
   * Commands by latency: bucket i counts those of at most 2^i us; the last, all slower.
   * TARGET_LATENCY_BUCKETS (lib/native/layout.ts) of them.
   */
  latencyBuckets: number[];
}

/** A namespace's I/O since it was added, over every queue pair (gone ones included). */
export interface NamespaceStats {
  subnqn: string;
  nsid: number;
  bdevName: string;
  reads: number;
  writes: number;
  /** Flush, Write Zeroes and Dataset Management. */
  otherOps: number;
  bytesRead: number;
  bytesWritten: number;
  /** I/O commands completed with an error status. */
  errors: number;
  /** Sum of latencies (capsule in to response out), in microseconds. */
  latencyUsSum: number;
  /**
   * Commands by latency: bucket i counts those of at most 2^i us; the last, all slower.
   * TARGET_LATENCY_BUCKETS (lib/native/layout.ts) of them.
   */
  latencyBuckets: number[];
}

/** A subsystem's listener, with its ANA states where the subsystem reports ANA. */
export interface SubsystemListenerInfo extends ListenerInfo {
  /** The state of every group not in anaStates. */
  anaState?: 'optimized' | 'non_optimized' | 'inaccessible';
  /** The groups its namespaces are in, and any other set apart, with their states. */
  anaStates?: { anagrpid: number; state: 'optimized' | 'non_optimized' | 'inaccessible' }[];
}

/** A subsystem as the addon reports it; SubsystemInfo has its namespaces' identifiers as text. @internal */
export interface NativeSubsystemInfo {
  nqn: string;
  subtype: 'NVMe' | 'Discovery';
  serialNumber: string;
  modelNumber: string;
  maxNamespaces: number;
  anaReporting: boolean;
  minCntlid: number;
  maxCntlid: number;
  allowAnyHost: boolean;
  hosts: string[];
  namespaces: { nsid: number; bdevName: string; nguid: Uint8Array; uuid: Uint8Array; anagrpid: number }[];
  /** True: offered on every listener of the target; false: only on `listeners`. */
  allowAnyListener: boolean;
  listeners: SubsystemListenerInfo[];
}

export interface NativeTarget {
  createBdev(type: string, name: string, numBlocks: number, blockSize: number): NativeBdevInfo;
  createFileBdev(name: string, path: string, blockSize: number, direct: boolean): NativeBdevInfo;
  deleteBdev(name: string): void;
  resizeBdev(name: string, numBlocks: number | undefined): boolean;
  attachNvmeController(name: string, options: NativeHostOptions, timeoutMs: number, multipath: boolean): Promise<NativeBdevInfo[]>;
  detachNvmeController(name: string, traddr?: string, trsvcid?: number): void;
  setMultipathPolicy(bdev: string, policy: MultipathPolicyName, selector: MultipathSelector, rrMinIo: number): void;
  resetNvmeController(name: string): void;
  addNvmeControllerPath(name: string, traddr: string, trsvcid: number): void;
  removeNvmeControllerPath(name: string, traddr: string, trsvcid: number): void;
  /** DH-HMAC-CHAP again on every queue of backend `name`, with these secrets (which its reconnects use too). */
  setNvmeControllerKeys(name: string, keys: NativeDhchapKeys, timeoutMs: number): Promise<void>;
  nvmeControllers(): NvmeControllerInfo[];
  bdevs(): NativeBdevInfo[];
  addSubsystem(nqn: string, serial: string, model: string, maxNamespaces: number, anaReporting: boolean, minCntlid: number,
    maxCntlid: number): void;
  removeSubsystem(nqn: string): void;
  addNamespace(nqn: string, bdev: string, nsid: number, nguid: Uint8Array, uuid: Uint8Array, anagrpid: number): number;
  removeNamespace(nqn: string, nsid: number): void;
  setAllowAnyHost(nqn: string, allow: boolean): void;
  subsystemAddListener(nqn: string, trtype: string, traddr: string, trsvcid: number, secureChannel: boolean): ListenerInfo;
  subsystemRemoveListener(nqn: string, trtype: string, traddr: string, trsvcid: number): void;
  setAllowAnyListener(nqn: string, allow: boolean): void;
  setListenerAnaState(nqn: string, trtype: string, traddr: string, trsvcid: number, state: string, anagrpid: number): void;
  setNamespaceAnaGroup(nqn: string, nsid: number, anagrpid: number): void;
  /**
   * Allows `hostnqn` on subsystem `nqn`; with `keys`, the host must authenticate with
   * DH-HMAC-CHAP. Adding a host that is there replaces its keys. ERR_INVALID_KEY for a
   * malformed secret.
   */
  addHost(nqn: string, hostnqn: string, keys?: NativeDhchapKeys & NativeTlsPsk): void;
  /**
   * A host's new keys (none: no authentication): queues already authenticated stay, new
   * ones authenticate with these. ERR_NOT_FOUND for a host not on the subsystem.
   */
  setHostKeys(nqn: string, hostnqn: string, keys: NativeDhchapKeys): void;
  removeHost(nqn: string, hostnqn: string): void;
  /**
   * The DH-HMAC-CHAP digests and DH groups the target accepts, for every subsystem.
   * ERR_INVALID_ARG for an unknown name or an empty list.
   */
  setDhchapConfig(digests: string[], dhgroups: string[]): void;
  subsystems(): NativeSubsystemInfo[];
  listen(trtype: string, traddr: string, trsvcid: number, secureChannel: boolean): ListenerInfo;
  removeListener(trtype: string, traddr: string, trsvcid: number): void;
  listeners(): ListenerState[];
  controllers(): ControllerInfo[];
  qpairs(): QpairInfo[];
  namespaceStats(): NamespaceStats[];
  close(): void;
  /** close(), off the JS thread: resolves once it is done. */
  closeAsync(): Promise<void>;
}

export interface NativeTargetOptions {
  reactors: number;
  pollMode: boolean;
  maxIoSize: number;
  inCapsuleDataSize: number;
  maxQueueDepth: number;
  maxIoQueues: number;
  bufferPoolBytes: number;
  maxConnectionsPerListener: number;
  maxConnectionsPerAddress: number;
  deadlines: Required<ConnectionDeadlines>;
}

export interface NativeTargetAddon {
  NativeTarget: new (options: NativeTargetOptions) => NativeTarget;
}
