/**
 * What runs on a DPU, in one process: its gateway (the storage engine that connects to
 * the storage gateways and serves the host), the OPI bridge over it in process (OPI's
 * storage API, and our KernelNvmeService for AIO mode), and the host-facing NVMe
 * function, made through that API at every start. `rdmagate dpu` is this and a signal
 * handler.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { VolumeAttacher } from '../csi/attach';
import { KernelNvmeAttacher } from '../csi/attachers/kernel-nvme';
import type { GatewayRpc } from '../csi/export';
import { InvalidArgumentError, RdmagateError } from '../errors';
import { DEFAULT_SOCKET_DIR, Gateway, JsonRpcError, stderrSink, type LogSink } from '../gateway';
import { Logger } from '../log/logger';
import type { TargetOptions } from '../nvmf/target';
import { DEFAULT_OPI_LISTEN, OpiBridge, opiClient, type ReconcileReport } from '../opi';
import { GatewayCalls, sameListenAddress } from '../opi/gateway-calls';
import { checkOwnNqn } from '../opi/services/transport';
import type { RdmaDevice } from '../rdma';
import { DpuError } from './errors';
import { ensureHostFunction, type HostFunction } from './host-function';
import { DEFAULT_HOST_FACING, parseHostFacing } from './host-facing';
import { checkRdmaDevices } from './rdma-devices';
import { ReconcileRetry } from './retry';

export const DEFAULT_DPU_STATE_DIR = '/var/lib/rdmagate/dpu';
export const DEFAULT_DPU_GATEWAY_SOCKET = `${DEFAULT_SOCKET_DIR}/rdmagate-dpu.sock`;
export const DEFAULT_HOST_SUBSYSTEM_NQN = 'nqn.2019-06.io.rdmagate:dpu-host-function';

export interface DpuOptions {
  /** Holds the gateway's config (gateway.json) and the bridge's state (opi-bridge.json). Default /var/lib/rdmagate/dpu. */
  stateDir?: string;
  /** The gateway's JSON-RPC socket. Default /var/run/rdmagate/rdmagate-dpu.sock; null: none (the bridge calls it in process). */
  gatewaySocket?: string | null;
  /** Where the OPI API listens (gRPC): HOST:PORT, [IPv6]:PORT or unix:/path. Default 127.0.0.1:50051. */
  opiListen?: string;
  /** The host-facing function's endpoint, TRTYPE:ADDR:PORT. Default tcp:127.0.0.1:4420. */
  hostFacing?: string;
  /** The host-facing subsystem's NQN. Default nqn.2019-06.io.rdmagate:dpu-host-function. */
  hostSubsystemNqn?: string;
  /** The one host NQN let in. Default: any host. */
  hostNqn?: string;
  /** The function's serial number (20 printable characters at most). Default: from the hostname, at creation. */
  serial?: string;
  /** The RDMA devices towards the storage gateways: each must exist and have an active port. */
  rdmaDevices?: readonly string[];
  /** The kernel NVMe-oF host behind KernelNvmeService. Default: a KernelNvmeAttacher (nvme-cli). */
  kernel?: VolumeAttacher;
  /** The gateway's Target options (reactors, buffer pool). */
  target?: TargetOptions;
  /** Receives the structured log entries. Default: JSON lines on stderr, info and up. */
  log?: LogSink;
  /** The first retry of resources not re-applied at start, in ms; it doubles up to a minute. Default 5000; 0: none. */
  reconcileRetryMs?: number;
}

/** The serial a function gets unless one is given: the hostname's first label, as NVMe allows it. */
function serialFromHostname(): string {
  const label = hostname().split('.')[0].replace(/[^\x21-\x7e]/g, '').slice(0, 20);
  return label === '' ? 'rdmagate-dpu' : label;
}

/** Where the bridge can be dialled from this machine: a wildcard listen address is reached at loopback. */
function selfAddress(address: string): string {
  return address.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');
}

export class Dpu {
  #closed = false;

  /** @internal startDpu makes it. */
  constructor(
    readonly gateway: Gateway,
    readonly bridge: OpiBridge,
    /** Where the host's kernel connects. */
    readonly hostFunction: HostFunction,
    /** The checked RDMA devices. */
    readonly rdmaDevices: readonly RdmaDevice[],
    private readonly retry: ReconcileRetry,
    private readonly log: Logger,
  ) {}

  /** Where the OPI API listens (the port filled in). */
  get opiAddress(): string {
    return this.bridge.address ?? '';
  }

  /** The gateway's JSON-RPC socket, if it has one. */
  get gatewaySocket(): string | undefined {
    return this.gateway.socketPath;
  }

  /** Closes the bridge, then the gateway (its host-facing function goes with it). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.retry.stop();
    await this.bridge.close();
    await this.gateway.close();
    this.log.info('dpu closed');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function checkOptions(options: DpuOptions): void {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object');
  const { stateDir, gatewaySocket, opiListen, hostNqn, serial, rdmaDevices } = options;
  if (stateDir !== undefined && (typeof stateDir !== 'string' || stateDir === '')) throw new InvalidArgumentError('stateDir must be a non-empty string');
  if (gatewaySocket !== undefined && gatewaySocket !== null && (typeof gatewaySocket !== 'string' || gatewaySocket === '')) {
    throw new InvalidArgumentError('gatewaySocket must be a non-empty string or null');
  }
  if (opiListen !== undefined && (typeof opiListen !== 'string' || opiListen === '')) throw new InvalidArgumentError('opiListen must be a non-empty string');
  const nqn = (value: unknown, what: string) => {
    try {
      if (typeof value !== 'string') throw new Error(`${what} must be a string`);
      checkOwnNqn(value, what);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
  if (options.hostSubsystemNqn !== undefined) nqn(options.hostSubsystemNqn, 'hostSubsystemNqn');
  if (hostNqn !== undefined && hostNqn !== '') nqn(hostNqn, 'hostNqn');
  if (serial !== undefined && (typeof serial !== 'string' || !/^[\x20-\x7e]{1,20}$/.test(serial))) {
    throw new InvalidArgumentError(`serial must be 1 to 20 printable ASCII characters, got '${String(serial)}'`);
  }
  if (rdmaDevices !== undefined && (!Array.isArray(rdmaDevices) || rdmaDevices.some((d) => typeof d !== 'string' || d === ''))) {
    throw new InvalidArgumentError('rdmaDevices must be an array of device names');
  }
  const retry = options.reconcileRetryMs;
  if (retry !== undefined && (!Number.isSafeInteger(retry) || retry < 0)) throw new InvalidArgumentError('reconcileRetryMs must be an integer >= 0');
}

/**
 * Starts the gateway, failing over to an empty one when its config no longer loads: a
 * config naming a kernel device or a storage gateway that went away with a reboot must
 * not keep the DPU down. The bridge's state is the record of what the DPU serves; the
 * bridge re-applies it resource by resource (what fails is logged, the rest served).
 */
async function startGateway(make: () => Gateway, configPath: string, log: Logger): Promise<Gateway> {
  try {
    const gateway = make();
    await gateway.start();
    return gateway;
  } catch (e) {
    if (!(e instanceof JsonRpcError) || !existsSync(configPath)) throw e;
    const aside = `${configPath}.unloadable`;
    await rename(configPath, aside);
    log.warn('dpu: the gateway config does not load; starting without it, the bridge re-applies its resources',
      { config: configPath, movedTo: aside, error: e.message });
  }
  const gateway = make();
  await gateway.start();
  return gateway;
}

/**
 * The function must be on the gateway, not only in the bridge's record: a listener that
 * could not be re-applied (its address not up yet) fails the start, for the pod to be
 * started again. Other resources that failed are tried again (ReconcileRetry).
 */
async function checkOnGateway(gateway: GatewayCalls, fn: HostFunction, report: ReconcileReport): Promise<void> {
  const live = await gateway.subsystem(fn.nqn).catch(() => undefined);
  if (live?.listen_addresses.some((l) => sameListenAddress(l, fn))) return;
  const why = report.failed.filter((f) => f.name === fn.subsystem || f.name === fn.controller).map((f) => `${f.name}: ${f.error}`);
  throw new DpuError('ERR_DPU_HOST_FUNCTION', `the host function ${fn.nqn} is not listening on ${fn.trtype} ${fn.traddr}:${fn.trsvcid}` +
    (why.length > 0 ? `: ${why.join('; ')}` : ''));
}

/** Starts what runs on a DPU; resolves once the host-facing function is there. On failure, closes what it started. */
export async function startDpu(options: DpuOptions = {}): Promise<Dpu> {
  checkOptions(options);
  const log = new Logger(options.log ?? stderrSink());
  const endpoint = parseHostFacing(options.hostFacing ?? DEFAULT_HOST_FACING, 'hostFacing');
  const stateDir = options.stateDir ?? DEFAULT_DPU_STATE_DIR;
  const rdmaDevices = checkRdmaDevices(options.rdmaDevices ?? []);
  for (const d of rdmaDevices) {
    log.info('dpu: rdma device', { name: d.name, transport: d.transport,
      ports: d.ports.map((p) => ({ port: p.number, state: p.state, linkLayer: p.linkLayer, mtu: p.activeMtu })) });
  }
  await mkdir(stateDir, { recursive: true, mode: 0o700 });

  const configPath = join(stateDir, 'gateway.json');
  const gateway = await startGateway(() => new Gateway({
    socketPath: options.gatewaySocket === undefined ? DEFAULT_DPU_GATEWAY_SOCKET : options.gatewaySocket,
    configPath, ...(options.target ? { target: options.target } : {}), ...(options.log ? { log: options.log } : {}),
  }), configPath, log);
  let bridge: OpiBridge | undefined;
  try {
    const rpc: GatewayRpc = { call: (method, params) => gateway.rpc(method, params) };
    bridge = new OpiBridge({
      rpc,
      statePath: join(stateDir, 'opi-bridge.json'),
      listen: options.opiListen ?? DEFAULT_OPI_LISTEN,
      kernel: options.kernel ?? new KernelNvmeAttacher(),
      ...(options.log ? { log: options.log } : {}),
    });
    const report = await bridge.start();
    const client = opiClient(selfAddress(bridge.address!));
    let hostFunction: HostFunction;
    try {
      hostFunction = await ensureHostFunction(client, {
        nqn: options.hostSubsystemNqn ?? DEFAULT_HOST_SUBSYSTEM_NQN,
        hostNqn: options.hostNqn ?? '',
        ...(options.serial === undefined ? {} : { serial: options.serial }),
        defaultSerial: serialFromHostname(),
        endpoint,
      }, log);
    } catch (e) {
      if (e instanceof DpuError) throw e;
      throw new DpuError('ERR_DPU_HOST_FUNCTION', `cannot make the host function: ${(e as Error).message}`);
    } finally {
      client.close();
    }
    await checkOnGateway(new GatewayCalls(rpc), hostFunction, report);
    const retry = new ReconcileRetry(bridge, log, options.reconcileRetryMs ?? 5000);
    retry.after(report);
    return new Dpu(gateway, bridge, hostFunction, rdmaDevices, retry, log);
  } catch (e) {
    log.error('dpu start failed', { error: (e as Error).message, code: e instanceof RdmagateError ? e.code : null });
    await bridge?.close();
    await gateway.close();
    throw e;
  }
}
