/**
 * The gateway: a Target driven by SPDK-style JSON-RPC on a unix socket, with its config
 * saved after every change and replayed at start, and its backends' losses, reconnects and
 * failures logged.
 */
import type { Server } from 'node:http';
import { dirname } from 'node:path';
import { ClosedError, InvalidArgumentError, RdmagateError } from '../errors';
import { JsonRpcError, toJsonRpcError } from '../jsonrpc/errors';
import type { JsonObject, JsonValue } from '../jsonrpc/json';
import { DEFAULT_SOCKET_DIR, DEFAULT_SOCKET_PATH } from '../jsonrpc/socket-path';
import { Logger, stderrSink, type LogSink } from '../log/logger';
import { Target, type TargetOptions } from '../nvmf/target';
import * as v from '../validate';
import { BackendWatch } from './backend-watch';
import { ConfigStore } from './config-store';
import type { PendingBackends } from './pending-backends';
import { DEFAULT_RPC_DEADLINES, type RpcDeadlines } from './rpc/deadlines';
import { RpcDispatcher } from './rpc/dispatcher';
import { saveConfig } from './rpc/methods/config';
import { serveMetrics } from './metrics';
import { gatewayMethods } from './rpc/methods';
import { RpcServer } from './rpc/server';
import { GatewayState, type TargetLimits } from './state';
import type { RpcTlsCredentials } from '../jsonrpc/endpoint';

export const DEFAULT_CONFIG_PATH = '/var/lib/rdmagate/config.json';
/** setTimeout's largest delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Socket directories the gateway makes when missing: the default, as /var/run or as /run (one on current systems). */
const OWN_SOCKET_DIRS = new Set([DEFAULT_SOCKET_DIR, '/run/rdmagate']);

export interface GatewayOptions {
  /**
   * The JSON-RPC socket. Default /var/run/rdmagate/rdmagate.sock; null: none, rpc() only.
   * Its directory must exist and be writable by no other user (bar a sticky /tmp); the
   * default one is made, mode 0750, when missing.
   */
  socketPath?: string | null;
  /** File mode of the socket. Default 0o600: only this user may drive the gateway. */
  socketMode?: number;
  /**
   * In ms: a connection sending nothing while none of its requests runs is closed after
   * idleMs (default 300000), and one whose request has begun but not ended after
   * requestMs (default 10000); 0: no limit.
   */
  rpcDeadlines?: Partial<RpcDeadlines>;
  /** The durable config. Default /var/lib/rdmagate/config.json; null: nothing saved or loaded. */
  configPath?: string | null;
  target?: TargetOptions;
  /** Receives the structured log entries. Default: JSON lines on stderr, info and up. */
  log?: LogSink;
  /** Prometheus metrics at http://address:port/metrics. Default: none. */
  metrics?: { address?: string; port: number };
  /**
   * JSON-RPC over TLS 1.3 at address:port too (default address 0.0.0.0; port 0: any), for
   * clients on other machines (a gateway group's CSI controller): the gateway's certificate
   * and key, and the CA that must have signed each client's certificate (PEM text).
   * Default: none, the unix socket only.
   */
  rpcTls?: { address?: string; port: number } & RpcTlsCredentials;
}

/**
 * The Target's defaults, passed explicitly, so that the limits nvmf_create_transport checks
 * and nvmf_get_transports reports are the ones the Target runs with.
 */
const TARGET_LIMITS: TargetLimits = { maxIoSize: 128 * 1024, inCapsuleDataSize: 8192, maxQueueDepth: 128, maxIoQueues: 64,
  bufferPoolBytes: 256 << 20 };

export class Gateway {
  readonly target: Target;
  readonly #log: Logger;
  readonly #dispatcher: RpcDispatcher;
  readonly #backendWatch: BackendWatch;
  readonly #pendingBackends: PendingBackends;
  readonly #store: ConfigStore | undefined;
  readonly #socketPath: string | undefined;
  readonly #socketMode: number;
  readonly #rpcDeadlines: RpcDeadlines;
  #server: RpcServer | undefined;
  #tlsServer: RpcServer | undefined;
  readonly #rpcTls: ({ address: string; port: number } & RpcTlsCredentials) | undefined;
  #metrics: Server | undefined;
  #metricsPort: number | undefined;
  readonly #metricsOptions: { address: string; port: number } | undefined;
  #started = false;
  #closed = false;

  constructor(options: GatewayOptions = {}) {
    const o = v.object<GatewayOptions>(options, 'options');
    this.#socketPath = o.socketPath === null ? undefined : v.string(o.socketPath ?? DEFAULT_SOCKET_PATH, 'socketPath');
    this.#socketMode = v.optionalInteger(o.socketMode, 'socketMode', 0, 0o777, 0o600);
    const d = v.object<RpcDeadlines>(o.rpcDeadlines, 'rpcDeadlines');
    this.#rpcDeadlines = {
      idleMs: v.optionalInteger(d.idleMs, 'rpcDeadlines.idleMs', 0, MAX_TIMER_MS, DEFAULT_RPC_DEADLINES.idleMs),
      requestMs: v.optionalInteger(d.requestMs, 'rpcDeadlines.requestMs', 0, MAX_TIMER_MS, DEFAULT_RPC_DEADLINES.requestMs),
    };
    const configPath = o.configPath === null ? undefined : v.string(o.configPath ?? DEFAULT_CONFIG_PATH, 'configPath');
    if (o.log !== undefined && typeof o.log !== 'function') throw new InvalidArgumentError('log must be a function');
    this.#log = new Logger(o.log ?? stderrSink());
    if (o.metrics !== undefined) {
      const m = v.object<{ address?: string; port: number }>(o.metrics, 'metrics');
      this.#metricsOptions = { address: m.address === undefined ? '127.0.0.1' : v.string(m.address, 'metrics.address'),
        port: v.integer(m.port, 'metrics.port', 0, 65535) };
    }
    if (o.rpcTls !== undefined) {
      const t = v.object<NonNullable<GatewayOptions['rpcTls']>>(o.rpcTls, 'rpcTls');
      this.#rpcTls = { address: t.address === undefined ? '0.0.0.0' : v.string(t.address, 'rpcTls.address'),
        port: v.integer(t.port, 'rpcTls.port', 0, 65535), cert: v.string(t.cert, 'rpcTls.cert'), key: v.string(t.key, 'rpcTls.key'),
        ca: v.string(t.ca, 'rpcTls.ca') };
    }
    const targetOptions = v.object<TargetOptions>(o.target, 'target');
    const limits: TargetLimits = { ...TARGET_LIMITS };
    for (const k of Object.keys(limits) as (keyof TargetLimits)[]) {
      if (targetOptions[k] !== undefined) limits[k] = targetOptions[k];
    }
    this.target = new Target({ ...targetOptions, ...limits });
    const state = new GatewayState(this.target, limits);
    this.#backendWatch = new BackendWatch({ target: this.target, backends: state.nvmeControllers, log: this.#log });
    const store = configPath === undefined ? undefined : new ConfigStore(configPath);
    this.#store = store;
    this.#dispatcher = new RpcDispatcher({
      state,
      methods: gatewayMethods(),
      save: () => store?.save(() => saveConfig(state)) ?? Promise.resolve(),
      log: this.#log,
    });
    this.#pendingBackends = state.pendingBackends;
    this.#pendingBackends.start((params) => this.#dispatcher.call('bdev_nvme_attach_controller', params, { quiet: true }), this.#log);
  }

  /** The metrics HTTP port, once started with metrics. */
  get metricsPort(): number | undefined {
    return this.#metricsPort;
  }

  /** The JSON-RPC TLS port, once started with rpcTls. */
  get rpcTlsPort(): number | undefined {
    return this.#tlsServer?.port;
  }

  /** The socket path, once started with one. */
  get socketPath(): string | undefined {
    return this.#server?.socketPath;
  }

  /** Replays the saved config, if there is one, then opens the RPC socket. On failure, closes. */
  async start(): Promise<void> {
    if (this.#closed) throw new ClosedError('the gateway is closed');
    if (this.#started) throw new RdmagateError('ERR_ALREADY_STARTED', 'the gateway is already started');
    this.#started = true;
    this.#backendWatch.start();
    try {
      const store = this.#store;
      if (store) {
        await store.prepare();
        const saved = await store.load();
        if (saved !== undefined) {
          await this.#dispatcher.call('load_config', saved, { save: false }).catch((e: unknown) => {
            const err = toJsonRpcError(e);
            throw new JsonRpcError(err.rpcCode, `cannot load ${store.path}: ${err.message}`);
          });
          this.#log.info('config loaded', { path: store.path });
        }
      }
      if (this.#metricsOptions) {
        const m = await serveMetrics(this.target, this.#metricsOptions.address, this.#metricsOptions.port);
        this.#metrics = m.server;
        this.#metricsPort = m.port;
      }
      if (this.#socketPath !== undefined) {
        this.#server = await RpcServer.listen({
          socketPath: this.#socketPath, mode: this.#socketMode, createDir: OWN_SOCKET_DIRS.has(dirname(this.#socketPath)),
          deadlines: this.#rpcDeadlines, dispatcher: this.#dispatcher, log: this.#log,
        });
      }
      if (this.#rpcTls) {
        const { address, port, ...tls } = this.#rpcTls;
        this.#tlsServer = await RpcServer.listenTls({ address, port, tls, deadlines: this.#rpcDeadlines, dispatcher: this.#dispatcher,
          log: this.#log });
      }
    } catch (e) {
      this.#log.error('gateway start failed', { error: (e as Error).message });
      await this.close();
      throw e;
    }
    this.#log.info('gateway started', { socket: this.#socketPath ?? null, config: this.#store?.path ?? null });
  }

  /** Calls an RPC method in process, exactly as a socket client would; throws JsonRpcError. */
  rpc(method: string, params?: JsonObject): Promise<JsonValue> {
    if (this.#closed) return Promise.reject(new ClosedError('the gateway is closed'));
    return this.#dispatcher.call(method, params);
  }

  /** Closes the RPC socket, waits for the config to be written, and closes the Target. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#backendWatch.stop();
    this.#pendingBackends.stop();
    await this.#server?.close();
    await this.#tlsServer?.close();
    await new Promise<void>((resolve) => (this.#metrics ? this.#metrics.close(() => resolve()) : resolve()));
    await this.#store?.idle();
    // Off the JS thread: closing the backends waits for their controllers.
    await this.target.close();
    this.#log.info('gateway closed');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
