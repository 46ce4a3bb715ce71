/**
 * A connected NVMe-oF controller: its identity, namespaces and I/O queue pairs. Events:
 *   'disconnect' (error, reconnecting): the association was lost;
 *   'reconnect': it is back, and I/O held in 'retry' mode has been resent;
 *   'error' (error): reconnecting was given up (only emitted when someone listens);
 *   'namespacesChanged' (nsids): these namespaces changed (their size, or they came or went),
 *     as the controller's notice said or a reconnect found, and `namespaces` has been read
 *     again since;
 *   'anaChanged': an ANA change notice came; anaLog() reads the states (and lets the next come).
 */
import { EventEmitter } from 'node:events';
import { InvalidArgumentError, type RdmagateError } from '../../errors';
import * as v from '../../validate';
import { NvmeDisconnectedError, NvmeError } from '../errors';
import { allocateOpId, ensureDispatcher, registerController } from './dispatcher';
import { eventLoopPoller } from './event-loop-poller';
import {
  parseActiveNamespaceList, parseIdentifyController, parseIdentifyNamespace, parseNamespaceDescriptors,
  type ControllerIdentity, type NamespaceIdentity, type NamespaceIds,
} from './identify';
import { native, type HostCounters, type NativeControllerInfo, type NativeFailure, type NativeHostOptions,
  type NativeNvmeController } from '../../native';
import { dhchapKeys, type DhchapKeys } from '../dhchap';
import { connectOptions, type ConnectOptions, type HostTransport } from './options';
import { parseAnaLog, type AnaLog } from './ana';
import { QueuePair, kComplete, kFailAll, kRefused, queueIndexOf, type QueueHost, type QueuedCommand } from './queue-pair';
import { BURST_FLUSH, PIPELINE_FLUSH, SubmissionBatch } from './submission-batch';
import { errorFromFailure, errorFromStatus, isSuccess } from './status';

export type ControllerState = 'connecting' | 'live' | 'reconnecting' | 'removed' | 'closing' | 'closed';

const LOG_ANA = 0x0c;
const ANA_LSP_RGO = 0x01;  // Return Groups Only: each namespace's group is in Identify Namespace
const CMIC_ANA = 1 << 3;

const CNS_NAMESPACE = 0x00;
const CNS_CONTROLLER = 0x01;
const CNS_ACTIVE_NS_LIST = 0x02;
const CNS_NS_DESCRIPTORS = 0x03;
const NSIDS_PER_LIST = 1024;

const constructing = Symbol('Controller.constructing');

interface AdminOp {
  what: string;
  resolve(data: Buffer): void;
  reject(err: Error): void;
  /** Native code sent the reason as the data (a re-authentication): it goes in the message. */
  reasonInData?: boolean;
}

export class Controller extends EventEmitter {
  readonly transport: HostTransport;
  readonly traddr: string;
  readonly trsvcid: number;
  readonly subnqn: string;
  readonly hostnqn: string;
  readonly #handle: NativeNvmeController;
  readonly #admin = new Map<number, AdminOp>();
  #state: ControllerState = 'connecting';
  #info: NativeControllerInfo | undefined;
  #identity: ControllerIdentity | undefined;
  #queuePairs: QueuePair[] = [];
  #namespaces: NamespaceIdentity[] = [];
  #byNsid = new Map<number, NamespaceIdentity>();
  /** Namespace re-reads after notices and reconnects, one at a time, in order. */
  #refreshing: Promise<void> = Promise.resolve();
  readonly #ready: Promise<void>;
  #readyDone!: (err?: Error) => void;
  readonly #closed: Promise<void>;
  #onClosed!: () => void;
  /** polling 'event-loop', until closed. */
  #polled: boolean;

  /** @internal Use connect(). */
  constructor(token: symbol, id: number, handle: NativeNvmeController, options: NativeHostOptions) {
    if (token !== constructing) throw new TypeError('Controller is created by connect()');
    super();
    this.#handle = handle;
    this.transport = options.transport;
    this.traddr = options.traddr;
    this.trsvcid = options.trsvcid;
    this.subnqn = options.subnqn;
    this.hostnqn = options.hostnqn;
    this.#ready = new Promise((resolve, reject) => {
      this.#readyDone = (err) => (err ? reject(err) : resolve());
    });
    this.#closed = new Promise((resolve) => { this.#onClosed = resolve; });
    this.#polled = options.polling === 'event-loop';
    if (this.#polled) eventLoopPoller.add();
    registerController(id, {
      onConnected: (info) => this.#connected(info),
      onConnectFailed: (f) => this.#connectFailed(f),
      onDisconnect: (f, reconnecting) => this.#disconnected(f, reconnecting),
      onReconnect: () => {
        if (this.#state === 'reconnecting') this.#state = 'live';
        this.emit('reconnect');
        this.#refreshNamespaces();  // a notice may have been lost with the connection
      },
      onRemoved: (f) => this.#removed(f),
      onClosed: () => this.#finish(),
      onAdmin: (opId, status, data) => this.#adminDone(opId, status, data),
      onNamespacesChanged: (nsids) => this.#refreshNamespaces(nsids),
      onAnaChanged: () => this.emit('anaChanged'),
      onIo: (completions, from, to) => this.#completions(completions, from, to),
    });
  }

  /** @internal */
  static create(id: number, handle: NativeNvmeController, options: NativeHostOptions): Controller {
    return new Controller(constructing, id, handle, options);
  }

  /** @internal Resolves once connected and the namespaces are read. */
  ready(): Promise<void> {
    return this.#ready;
  }

  get state(): ControllerState {
    return this.#state;
  }

  /** Controller ID the controller assigned at connect. */
  get cntlid(): number {
    return this.#info?.cntlid ?? 0;
  }

  /** CAP, the controller capabilities property. */
  get cap(): bigint {
    return this.#info?.cap ?? 0n;
  }

  /** VS, e.g. 0x10300 for NVMe 1.3. */
  get version(): number {
    return this.#info?.vs ?? 0;
  }

  /** I/O queue depth in effect (queueSize clamped by CAP.MQES and MAXCMD). */
  get queueSize(): number {
    return this.#info?.queueSize ?? 0;
  }

  /** Largest transfer per command in bytes (MDTS); 0 when the controller sets no limit. */
  get maxTransfer(): number {
    return this.#info?.maxTransfer ?? 0;
  }

  /** Writes up to this many bytes travel inside the command capsule; larger ones move by R2T (TCP) or RDMA READ (RDMA). */
  get inCapsuleDataSize(): number {
    return this.#info?.incapsuleMax ?? 0;
  }

  get headerDigest(): boolean {
    return this.#info?.headerDigest ?? false;
  }

  get dataDigest(): boolean {
    return this.#info?.dataDigest ?? false;
  }

  /** Identify Controller as read at connect; identify() reads it again. */
  get identity(): ControllerIdentity {
    if (!this.#identity) throw new NvmeDisconnectedError('the controller is not connected yet');
    return this.#identity;
  }

  get queuePairs(): readonly QueuePair[] {
    return this.#queuePairs;
  }

  /** Active namespaces, as of connect or the last rescanNamespaces(). */
  get namespaces(): readonly NamespaceIdentity[] {
    return this.#namespaces;
  }

  /** Reads Identify Controller. */
  async identify(): Promise<ControllerIdentity> {
    this.#identity = parseIdentifyController(await this.#identifyData(CNS_CONTROLLER, 0, 'Identify Controller'));
    return this.#identity;
  }

  /** Reads Identify Namespace and the namespace's identification descriptors. */
  async identifyNamespace(nsid: number): Promise<NamespaceIdentity> {
    v.integer(nsid, 'nsid', 1, 0xfffffffe);
    const data = await this.#identifyData(CNS_NAMESPACE, nsid, `Identify Namespace ${nsid}`);
    let ids: NamespaceIds = {};
    try {
      ids = parseNamespaceDescriptors(await this.#identifyData(CNS_NS_DESCRIPTORS, nsid, 'Namespace Identification Descriptors'));
    } catch (e) {
      if (!(e instanceof NvmeError)) throw e;  // optional before NVMe 1.3: NGUID/EUI64 from Identify Namespace do
    }
    return parseIdentifyNamespace(nsid, data, ids);
  }

  /** Get Log Page `lid`: `bytes` of it (a multiple of 4), with log specific field `lsp`. */
  getLogPage(lid: number, options: { bytes: number; lsp?: number; nsid?: number }): Promise<Buffer> {
    const l = v.integer(lid, 'lid', 0, 255);
    const o = v.object<{ bytes: number; lsp?: number; nsid?: number }>(options, 'options');
    const bytes = v.integer(o.bytes, 'bytes', 4, 1 << 20);
    if (bytes % 4) throw new InvalidArgumentError('bytes must be a multiple of 4');
    const lsp = v.optionalInteger(o.lsp, 'lsp', 0, 127, 0);
    const nsid = v.optionalInteger(o.nsid, 'nsid', 0, 0xffffffff, 0);
    return this.#adminData(`Get Log Page 0x${l.toString(16)}`, (opId) => this.#handle.getLogPage(opId, l, lsp, nsid, bytes));
  }

  /**
   * The ANA log page (NVMe Base 8.1.2): each ANA group's state through this controller. Empty
   * where the controller does not report ANA (CMIC bit 3).
   */
  async anaLog(): Promise<AnaLog> {
    if (!(this.identity.cmic & CMIC_ANA)) return { changeCount: 0n, groups: new Map() };
    // Header, one descriptor per group and one NSID per namespace at most.
    const bytes = 16 + this.identity.nanagrpid * 32 + this.identity.mnan * 4;
    return parseAnaLog(await this.getLogPage(LOG_ANA, { bytes: Math.ceil(bytes / 4) * 4, lsp: ANA_LSP_RGO }));
  }

  /** @internal Namespace `nsid` if it is active here, as last read (multipath picks paths by it). */
  namespace(nsid: number): NamespaceIdentity | undefined {
    return this.#byNsid.get(nsid);
  }

  /** Reads the active namespace list and identifies each namespace. */
  async rescanNamespaces(): Promise<readonly NamespaceIdentity[]> {
    const nsids = await this.#activeNamespaces();
    const list: NamespaceIdentity[] = [];
    for (const nsid of nsids) {
      const ns = await this.identifyNamespace(nsid);
      if (ns.blocks > 0) list.push(ns);
    }
    this.#namespaces = list;
    this.#byNsid = new Map(list.map((ns) => [ns.nsid, ns]));
    return list;
  }

  counters(): HostCounters {
    return this.#handle.counters();
  }

  /**
   * Shuts the controller down (CC.SHN) and closes every queue. Commands still
   * outstanding fail with NvmeDisconnectedError.
   */
  close(): Promise<void> {
    if (this.#state !== 'closed' && this.#state !== 'closing') {
      this.#state = 'closing';
      this.#handle.close();
    }
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #activeNamespaces(): Promise<number[]> {
    const nsids: number[] = [];
    try {
      for (let after = 0; ;) {
        const page = parseActiveNamespaceList(await this.#identifyData(CNS_ACTIVE_NS_LIST, after, 'Active Namespace ID list'));
        nsids.push(...page);
        if (page.length < NSIDS_PER_LIST) return nsids;
        after = page[page.length - 1];
      }
    } catch (e) {
      // NVMe 1.0 controllers have no active list: every NSID up to NN may be in use.
      if (!(e instanceof NvmeError)) throw e;
      const nn = Math.min(this.identity.nn, NSIDS_PER_LIST);
      return Array.from({ length: nn }, (_, i) => i + 1);
    }
  }

  #identifyData(cns: number, nsid: number, what: string): Promise<Buffer> {
    return this.#adminData(what, (opId) => this.#handle.identify(opId, cns, nsid));
  }

  /**
   * DH-HMAC-CHAP again on every queue, with `keys`, which reconnects use from now on too
   * (SPDK's bdev_nvme_set_keys; Linux's host does it when its dhchap_secret is written).
   * Rejects with ERR_NVME_AUTH when a queue fails to authenticate: the controller refuses
   * that queue everything from then on, so it goes down as a lost connection does, and the
   * reconnect tries the new keys. ERR_NVME_DISCONNECTED when a queue was not connected: the
   * keys apply when it reconnects.
   */
  async authenticate(keys: DhchapKeys): Promise<void> {
    const native = dhchapKeys(keys);
    await this.#adminData('DH-HMAC-CHAP re-authentication', (opId) => this.#handle.authenticate(opId, native), true);
  }

  /** An admin command whose data comes back through the 'admin' event of `opId`. */
  #adminData(what: string, send: (opId: number) => void, reasonInData = false): Promise<Buffer> {
    const refusal = this.#refusal();
    if (refusal) return Promise.reject(refusal);
    const opId = allocateOpId();
    return new Promise<Buffer>((resolve, reject) => {
      this.#admin.set(opId, { what, resolve, reject, reasonInData });
      try {
        send(opId);
      } catch (e) {
        this.#admin.delete(opId);
        reject(e as Error);
      }
    });
  }

  #adminDone(opId: number, status: number, data: Buffer): void {
    const op = this.#admin.get(opId);
    if (!op) return;
    this.#admin.delete(opId);
    if (isSuccess(status)) return op.resolve(data);
    const err = errorFromStatus(status, op.what);
    if (op.reasonInData && data.length > 0) err.message = `${op.what} failed: ${data.toString('utf8')}`;
    op.reject(err);
  }

  #completions(flat: Uint32Array, from: number, to: number): void {
    for (let i = from; i < to; i += 2) {
      this.#queuePairs[queueIndexOf(flat[i])]?.[kComplete](flat[i], flat[i + 1]);
    }
  }

  #refusal(): RdmagateError | null {
    switch (this.#state) {
      case 'closing':
      case 'closed':
        return new NvmeDisconnectedError('the controller is closed');
      case 'removed':
        return new NvmeDisconnectedError('the controller was lost and reconnecting was given up');
      default:
        return null;
    }
  }

  #connected(info: NativeControllerInfo): void {
    this.#info = info;
    this.#identity = parseIdentifyController(info.identify);
    const host: QueueHost = {
      submissions: new SubmissionBatch<QueuedCommand>(this.#handle,
        (command, error) => this.#queuePairs[command.queue]?.[kRefused](command, error),
        this.#polled ? BURST_FLUSH : PIPELINE_FLUSH,
        this.#polled ? () => eventLoopPoller.wake() : undefined),
      maxTransfer: info.maxTransfer,
      namespace: (nsid) => {
        const ns = this.#byNsid.get(nsid);
        if (!ns) throw new InvalidArgumentError(`namespace ${nsid} is not active on ${this.subnqn}`);
        return ns;
      },
      refusal: () => this.#refusal(),
    };
    this.#queuePairs = Array.from({ length: info.ioQueues }, (_, i) => new QueuePair(host, i, info.queueSize));
    if (this.#state === 'connecting') this.#state = 'live';
    this.rescanNamespaces().then(() => this.#readyDone(), (err: Error) => {
      this.#readyDone(err);
      void this.close();
    });
  }

  #connectFailed(f: NativeFailure): void {
    this.#state = 'closed';
    this.#stopPolling();
    this.#readyDone(errorFromFailure(f));
    this.#onClosed();
  }

  #disconnected(f: NativeFailure, reconnecting: boolean): void {
    if (this.#state === 'live') this.#state = reconnecting ? 'reconnecting' : 'removed';
    this.emit('disconnect', errorFromFailure(f), reconnecting);
  }

  #removed(f: NativeFailure): void {
    if (this.#state !== 'closing' && this.#state !== 'closed') this.#state = 'removed';
    const error = new NvmeDisconnectedError(`gave up reconnecting to ${this.subnqn}: ${f.message}`, f.errno);
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  /**
   * Reads the namespaces again (I/O is checked against them) before anyone is told: those
   * a notice named, or, without one, those whose size changed. A re-read that fails (the
   * association lost meanwhile) leaves them as they were; the reconnect reads them again.
   */
  #refreshNamespaces(told?: number[]): void {
    this.#refreshing = this.#refreshing.then(async () => {
      const before = new Map(this.#namespaces.map((ns) => [ns.nsid, ns.blocks]));
      const after = new Map((await this.rescanNamespaces()).map((ns) => [ns.nsid, ns.blocks]));
      const changed = told ?? [...new Set([...before.keys(), ...after.keys()])].filter((n) => before.get(n) !== after.get(n));
      if (changed.length > 0) this.emit('namespacesChanged', changed);
    }).catch(() => undefined);
  }

  #stopPolling(): void {
    if (this.#polled) eventLoopPoller.remove();
    this.#polled = false;
  }

  #finish(): void {
    this.#state = 'closed';
    this.#stopPolling();
    const error = new NvmeDisconnectedError('the controller is closed');
    for (const op of this.#admin.values()) op.reject(error);
    this.#admin.clear();
    for (const qp of this.#queuePairs) qp[kFailAll](error);
    this.#readyDone(error);
    this.#onClosed();
  }
}

/**
 * Connects to an NVMe-oF controller (NVMe/TCP or NVMe/RDMA): admin queue, controller
 * enable, Identify, the I/O queues, and the namespaces. Rejects with a typed error:
 * NvmeConnectError (an NVMe/RDMA reject names its reason), NvmeTransportError,
 * NvmeTimeoutError, InvalidArgumentError, RdmaUnavailableError (transport 'rdma'
 * without rdma-core).
 */
export async function connect(options: ConnectOptions): Promise<Controller> {
  const o = connectOptions(options);
  ensureDispatcher();
  const { id, handle } = native.nvmeConnect(o);
  const controller = Controller.create(id, handle, o);
  await controller.ready();
  return controller;
}
