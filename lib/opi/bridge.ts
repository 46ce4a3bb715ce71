/**
 * The OPI storage API bridge: OPI's NVMe-oF and AIO back ends and NVMe front end over a
 * DPU's rdmagate gateway (its SPDK-style JSON-RPC), with its resources kept in a state
 * file and re-applied to the gateway at start; and, when given a kernel host, our
 * KernelNvmeService beside them.
 */
import { basename, dirname, extname, join } from 'node:path';
import { InvalidArgumentError, RdmagateError } from '../errors';
import type { VolumeAttacher } from '../csi/attach';
import type { GatewayRpc } from '../csi/export';
import { Logger, stderrSink, type LogSink } from '../log/logger';
import { ChangeRunner } from './changes';
import { GatewayCalls } from './gateway-calls';
import { OpiKeyDir } from './keys';
import { prunePsks } from './psk';
import { reconcile, type ReconcileReport } from './reconcile';
import { OpiServer } from './server';
import { AioVolumeService } from './services/backend-aio';
import { NvmeRemoteControllerService } from './services/backend-nvme';
import type { ServiceContext } from './services/context';
import { FrontendNvmeService } from './services/frontend-nvme';
import { KernelNvmeService } from './services/kernel-nvme';
import { BridgeState, StateStore } from './state';

/** OPI's bridges listen on 50051. */
export const DEFAULT_OPI_LISTEN = '127.0.0.1:50051';
export const DEFAULT_OPI_STATE_PATH = '/var/lib/rdmagate/opi-bridge.json';

export interface OpiBridgeOptions {
  /** The DPU gateway's JSON-RPC: socketGatewayRpc(path), or { call: gateway.rpc } in process. */
  rpc: GatewayRpc;
  /** The state file. Default /var/lib/rdmagate/opi-bridge.json; null: kept in memory only. */
  statePath?: string | null;
  /**
   * Where the TLS PSKs that requests carry (NvmeRemoteController.tcp.psk, NvmeSubsystem.spec.psk)
   * are written, 0600, for the gateway's keyring, which must read them at this path as their
   * owner. Default: beside the state file, `<state file without .json>-keys`
   * (/var/lib/rdmagate/opi-bridge-keys); with statePath null, none. null: none, and PSKs are
   * refused (FAILED_PRECONDITION).
   */
  keyDir?: string | null;
  /** gRPC listen address: HOST:PORT, [IPv6]:PORT or unix:/path. Default 127.0.0.1:50051. */
  listen?: string;
  /** Receives the structured log entries. Default: JSON lines on stderr, info and up. */
  log?: LogSink;
  /**
   * The DPU's kernel NVMe-oF host (a KernelNvmeAttacher, or a fake): when given, the
   * bridge also serves KernelNvmeService (rdmagate.dpu.v1), for AIO mode.
   */
  kernel?: VolumeAttacher;
}

const ATTACHER_METHODS = ['probe', 'attach', 'device', 'detach', 'rescan'] as const;

export class OpiBridge {
  readonly #log: Logger;
  readonly #state = new BridgeState();
  readonly #store: StateStore;
  readonly #gateway: GatewayCalls;
  readonly #changes: ChangeRunner;
  readonly #keys: OpiKeyDir | undefined;
  readonly #listen: string;
  readonly #kernel: KernelNvmeService | undefined;
  #server: OpiServer | undefined;
  #started = false;
  #closed = false;

  constructor(options: OpiBridgeOptions) {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object');
    const { rpc, statePath, listen, log, kernel, keyDir } = options;
    if (rpc === null || typeof rpc !== 'object' || typeof rpc.call !== 'function') {
      throw new InvalidArgumentError('rpc must be a GatewayRpc: an object with call(method, params)');
    }
    if (statePath !== undefined && statePath !== null && (typeof statePath !== 'string' || statePath === '')) {
      throw new InvalidArgumentError('statePath must be a non-empty string or null');
    }
    if (listen !== undefined && (typeof listen !== 'string' || listen === '')) throw new InvalidArgumentError('listen must be a non-empty string');
    if (keyDir !== undefined && keyDir !== null && (typeof keyDir !== 'string' || keyDir === '')) {
      throw new InvalidArgumentError('keyDir must be a non-empty string or null');
    }
    if (log !== undefined && typeof log !== 'function') throw new InvalidArgumentError('log must be a function');
    if (kernel !== undefined && (kernel === null || typeof kernel !== 'object'
      || ATTACHER_METHODS.some((m) => typeof (kernel as unknown as Record<string, unknown>)[m] !== 'function'))) {
      throw new InvalidArgumentError(`kernel must be a VolumeAttacher: an object with ${ATTACHER_METHODS.join(', ')}`);
    }
    this.#log = new Logger(log ?? stderrSink());
    this.#kernel = kernel === undefined ? undefined : new KernelNvmeService(kernel, this.#log);
    const state = statePath === undefined ? DEFAULT_OPI_STATE_PATH : statePath;
    this.#store = new StateStore(state);
    const keys = keyDir !== undefined ? keyDir : state === null ? null : defaultKeyDir(state);
    this.#keys = keys === null ? undefined : new OpiKeyDir(keys);
    this.#gateway = new GatewayCalls(rpc);
    this.#changes = new ChangeRunner(this.#state, this.#store, this.#log);
    this.#listen = listen ?? DEFAULT_OPI_LISTEN;
  }

  /** Where the gRPC server listens (the port filled in), once started. */
  get address(): string | undefined {
    return this.#server?.address;
  }

  /** Loads the state file, re-applies it to the gateway, then serves. On failure, closes. */
  async start(): Promise<ReconcileReport> {
    if (this.#closed) throw new RdmagateError('ERR_CLOSED', 'the OPI bridge is closed');
    if (this.#started) throw new RdmagateError('ERR_ALREADY_STARTED', 'the OPI bridge is already started');
    this.#started = true;
    try {
      const loaded = await this.#store.load(this.#state);
      const report = await this.reconcile();
      if (loaded) this.#log.info('opi state re-applied', { path: this.#store.path, applied: report.applied.length, failed: report.failed.length });
      const ctx: ServiceContext = { state: this.#state, gateway: this.#gateway, changes: this.#changes, log: this.#log, keys: this.#keys };
      // Key files (and keyring entries) of changes that failed, or of records gone while the bridge was down.
      await prunePsks(ctx);
      await this.#kernel?.probe();
      this.#server = await OpiServer.start(this.#listen, {
        NvmeRemoteControllerService: new NvmeRemoteControllerService(ctx).handlers(),
        AioVolumeService: new AioVolumeService(ctx).handlers(),
        FrontendNvmeService: new FrontendNvmeService(ctx).handlers(),
        ...(this.#kernel ? { KernelNvmeService: this.#kernel.handlers() } : {}),
      }, this.#log);
      return report;
    } catch (e) {
      this.#log.error('opi bridge start failed', { error: (e as Error).message });
      await this.close();
      throw e;
    }
  }

  /**
   * Re-applies every recorded resource to the gateway (what start does): after the
   * gateway was restarted without its config, this brings it back. Runs between changes.
   */
  reconcile(): Promise<ReconcileReport> {
    return this.#changes.run(() => reconcile(this.#state, this.#gateway, this.#log, this.#keys));
  }

  /** Stops serving and waits for the state file to be written. Leaves the gateway as it is. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#server?.close();
    await this.#store.idle();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** `<dir>/<name>-keys` for state file `<dir>/<name>.json`. */
function defaultKeyDir(statePath: string): string {
  return join(dirname(statePath), `${basename(statePath, extname(statePath))}-keys`);
}
