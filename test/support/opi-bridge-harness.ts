/**
 * What the OPI bridge tests (opi-bridge, opi-tls) share: before each test, a fresh directory,
 * an in-process gateway on an RPC socket there and an OPI bridge over that socket, keeping its
 * state (and its key directory, by default) in the directory, with a client of it; after each
 * test, all of it closed and removed. Tests may restart either through the harness.
 */
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway, OpiBridge, opiClient, type JsonObject, type OpiClient } from '../../lib';
import { socketGatewayRpc, type GatewayRpc } from '../../lib/csi/export';
import type { OpiServiceName } from '../../lib/opi';

/** One test's directory, gateway and bridge (set before each test); its helpers need no `this`. */
export class OpiBridgeHarness {
  dir = '';
  statePath = '';
  /** The bridge's key directory when it is given none: beside its state file. */
  keyDir = '';
  gateway!: Gateway;
  rpc!: GatewayRpc;
  bridge!: OpiBridge;
  client!: OpiClient;
  #sockets = 0;

  /** A new gateway on a socket of its own in the test's directory, and `rpc` to it. */
  readonly startGateway = async (): Promise<void> => {
    this.gateway = new Gateway({ socketPath: join(this.dir, `gw-${++this.#sockets}.sock`), configPath: null, log: () => undefined });
    await this.gateway.start();
    this.rpc = socketGatewayRpc(this.gateway.socketPath!);
  };

  /** A new bridge over `rpc` with the test's state file (unless `options` say otherwise), and `client` to it. */
  readonly startBridge = async (options: { statePath?: string | null; keyDir?: string | null } = {}): Promise<void> => {
    this.bridge = new OpiBridge({ rpc: this.rpc, statePath: this.statePath, listen: '127.0.0.1:0', log: () => undefined, ...options });
    await this.bridge.start();
    this.client = opiClient(this.bridge.address!);
  };

  /** An OPI call through `client`. */
  readonly call = <T>(service: OpiServiceName, method: string, request: object = {}): Promise<T> =>
    this.client.call<T>(service, method, request);

  /** A JSON-RPC call to the gateway. */
  readonly gw = <T>(method: string, params: JsonObject = {}): Promise<T> => this.rpc.call(method, params) as Promise<T>;

  /** A sparse file of `bytes` in the test's directory, for an AioVolume. */
  readonly aioFile = (name: string, bytes: number): string => {
    const file = join(this.dir, name);
    writeFileSync(file, Buffer.alloc(0));
    truncateSync(file, bytes);
    return file;
  };
}

/** Registers, in the calling describe(), the hooks that start the harness in a new `tmpPrefix` directory and close and remove it after each test. */
export function opiBridgeHarness(tmpPrefix: string): OpiBridgeHarness {
  const h = new OpiBridgeHarness();
  beforeEach(async () => {
    h.dir = mkdtempSync(join(tmpdir(), tmpPrefix));
    h.statePath = join(h.dir, 'state', 'opi-bridge.json');
    h.keyDir = join(h.dir, 'state', 'opi-bridge-keys');
    await h.startGateway();
    await h.startBridge();
  });
  afterEach(async () => {
    h.client?.close();
    await h.bridge?.close();
    await h.gateway?.close();
    rmSync(h.dir, { recursive: true, force: true });
  });
  return h;
}
