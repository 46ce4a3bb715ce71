/**
 * The NVMe-oF host part of the addon (native/napi/host_binding.cc), as lib/nvmf/host uses
 * it. Plain types only: lib/native imports nothing from the layers above.
 */

/**
 * DH-HMAC-CHAP secrets, each in the `DHHC-1:0X:<base64>:` form `nvme gen-dhchap-key` writes
 * (the secret itself, not a key's name). Native code checks their form (ERR_INVALID_KEY,
 * whose message never holds a secret); a controller key needs a host key (ERR_INVALID_ARG).
 */
export interface NativeDhchapKeys {
  /** The host's secret: the host proves that it knows it. */
  dhchapKey?: string;
  /** The controller's secret: with it, the host checks the controller too (bidirectional). */
  dhchapCtrlrKey?: string;
}

/**
 * An NVMe/TCP TLS PSK in the `NVMeTLSkey-1:0X:<base64>:` interchange form (the key itself, not
 * a key's name). Native code checks its form (ERR_INVALID_KEY, never showing the key).
 */
export interface NativeTlsPsk {
  psk?: string;
}

/** Options after validation, in the units native code takes. */
export interface NativeHostOptions extends NativeDhchapKeys, NativeTlsPsk {
  /** The PSK identity offered with `psk`: 0 or 1. */
  tlsIdentityVersion: number;
  transport: 'tcp' | 'rdma';
  traddr: string;
  trsvcid: number;
  subnqn: string;
  hostnqn: string;
  hostid: Uint8Array;
  nrIoQueues: number;
  queueSize: number;
  keepAliveTmoMs: number;
  reconnectDelayMs: number;
  firstReconnectDelayMs: number;
  /** -1: reconnect forever. */
  ctrlLossTmoMs: number;
  headerDigest: boolean;
  dataDigest: boolean;
  disableSqFlow: boolean;
  recvPipe: boolean;
  ioFailureMode: 'fail' | 'retry';
  timeoutMs: number;
  reactors: number;
  polling: 'reactor' | 'event-loop';
}

export interface NativeControllerInfo {
  cntlid: number;
  cap: bigint;
  vs: number;
  ioQueues: number;
  queueSize: number;
  maxTransfer: number;
  incapsuleMax: number;
  maxh2cdata: number;
  headerDigest: boolean;
  dataDigest: boolean;
  identify: Buffer;
}

export interface NativeFailure {
  code: string;
  message: string;
  errno: number;
  /** Status word when an NVMe status caused the failure, else 0. */
  status: number;
}

/** One discovery log page entry (NVMe-oF 1.1, 5.3), as the addon decodes it. */
export interface NativeDiscoveryEntry {
  trtype: number;
  adrfam: number;
  subtype: number;
  /** Transport requirements (secure channel bits 1:0, SQ flow control disable bit 2). */
  treq: number;
  portid: number;
  /** 0xffff: the dynamic controller model. */
  cntlid: number;
  /** Largest admin submission queue the controller accepts. */
  asqsz: number;
  eflags: number;
  trsvcid: string;
  subnqn: string;
  traddr: string;
  /** NVMe/TCP security type (0: none). */
  sectype: number;
}

export type NativeHostEvent =
  | { type: 'io'; id: number; completions: Uint32Array }
  | { type: 'connected'; id: number; info: NativeControllerInfo }
  | ({ type: 'connectFailed' | 'disconnect' | 'removed'; id: number; reconnecting: boolean } & NativeFailure)
  | { type: 'reconnect' | 'closed' | 'anaChanged'; id: number }
  /** A Namespace Attribute Changed notice; 0xffffffff in `nsids`: more than 1024 changed. */
  | { type: 'namespacesChanged'; id: number; nsids: number[] }
  | { type: 'admin'; id: number; opId: number; status: number; dw0: number; data: Buffer }
  | ({ type: 'discovered'; opId: number; ok: boolean; genctr: bigint; entries: NativeDiscoveryEntry[] }
      & Partial<NativeFailure>);

export interface HostCounters {
  bytesSent: number;
  bytesReceived: number;
  /**
   * Bytes the CPU copied outside the kernel's socket copy. NVMe/TCP: payloads of up to 8 KiB
   * that the receive pipe copies out of its staging buffer (none with recvPipe false).
   * NVMe/RDMA: in-capsule write data, internal commands' data (Identify, log pages), and I/O
   * on memory outside a buffer pool, which is bounced; pool memory moves by RDMA, uncopied.
   */
  bytesCopied: number;
  /** PDUs (TCP), command capsules (RDMA). */
  pdusSent: number;
  /** PDUs (TCP), response capsules (RDMA). */
  pdusReceived: number;
  digestErrors: number;
  commands: number;
  completions: number;
  r2ts: number;
  /** Commands that outlived timeoutMs (each then got an Abort). */
  timeouts: number;
  /** Commands resent after a reconnect. */
  retries: number;
  reconnects: number;
  /** Reconnect attempts that moved to another path (a backend's failover paths). */
  failovers: number;
}

export interface NativeNvmeController {
  /** The Uint32Array that submitBatch reads entries from (lib/nvmf/host/submission-batch.ts). */
  setSubmissionBuffer(words: Uint32Array): void;
  /** Submits entries [first, end); a refused entry throws with `entry` set to its index. */
  submitBatch(first: number, end: number): void;
  identify(opId: number, cns: number, nsid: number): void;
  getLogPage(opId: number, lid: number, lsp: number, nsid: number, bytes: number): void;
  /** DH-HMAC-CHAP again on every queue; the 'admin' event of opId brings the reason (UTF-8) on failure. */
  authenticate(opId: number, keys: NativeDhchapKeys): void;
  close(): void;
  counters(): HostCounters;
}

export interface NativeHostAddon {
  nvmeConnect(options: NativeHostOptions): { id: number; handle: NativeNvmeController };
  nvmeDiscover(opId: number, options: NativeHostOptions): void;
  /**
   * One turn of the reactor of the controllers polled by the event loop; their I/O
   * completions go into `words` as [controller id, n, (op id, status) × n] groups.
   * Returns the words written.
   */
  nvmePoll(words: Uint32Array): number;
  /**
   * `ready` runs once, as soon as that reactor has an fd event or a posted task; undefined
   * cancels. Returns the ms until its next timer is due, -1 with none.
   */
  nvmeWaitReady(ready: (() => void) | undefined): number;
  nvmeResources(): { sockets: number };
  nvmeStatusName(sct: number, sc: number): string;
  setNvmeEventDispatcher(dispatch: (events: NativeHostEvent[]) => void): void;
}
