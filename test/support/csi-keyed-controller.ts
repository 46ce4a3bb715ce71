/**
 * What the controller tests of volumes that require keys (DH-HMAC-CHAP, NVMe/TCP TLS) share:
 * two nodes' host NQNs, the volume capabilities, and a fixture that gives each test a fresh
 * directory (the local plugin's pool, the controller's key directory) and a log that keeps
 * what it was given, with the requests the tests make, the key files written, a check that
 * no secret was logged, and a real in-process gateway to publish on end to end.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway, type LogEntry } from '../../lib';
import { ControllerService, CsiLogger, LocalPlugin, NvmfExporter, type GatewayRpc, type VolumeExporter } from '../../lib/csi';
import type { ControllerPublishVolumeRequest, CreateVolumeRequest, StringMap, VolumeCapability } from '../../lib/csi/types';
import { assertNoSecretIn } from './no-secret';

export const NODE_A = `nqn.2014-08.org.nvmexpress:uuid:${randomUUID()}`;
export const NODE_B = `nqn.2014-08.org.nvmexpress:uuid:${randomUUID()}`;
export const BLOCK: VolumeCapability = { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
export const SHARED: VolumeCapability = { block: {}, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } };
const MiB = 1 << 20;

/** Not a look-up: what changed the gateway. */
export const MUTATING = /^(nvmf_create|nvmf_delete|nvmf_subsystem_(add|remove|set)|bdev_uring_(create|delete)|keyring_file_)/;

/** One test's directory, log and local plugin (set before each test); its helpers need no `this`. */
export class KeyedControllerFixture {
  dir = '';
  /** Where the controller writes key files: `keys` in the test's directory, not made until a key is written. */
  keyDir = '';
  logs: LogEntry[] = [];
  log!: CsiLogger;
  plugin!: LocalPlugin;

  /** A controller of the local plugin exporting through `exporter`, with the key directory unless `withKeys` is false. */
  readonly controllerWith = (exporter: VolumeExporter, withKeys = true): ControllerService =>
    new ControllerService({ plugins: [this.plugin], exporter, log: this.log, ...(withKeys ? { keyDir: this.keyDir } : {}) });

  readonly createReq = (name: string, parameters: StringMap, cap = BLOCK): CreateVolumeRequest => ({
    name, capacity_range: { required_bytes: 4 * MiB, limit_bytes: 0 }, volume_capabilities: [cap], parameters, secrets: {},
  });

  readonly publishReq = (id: string, node: string, secrets: StringMap, cap = BLOCK): ControllerPublishVolumeRequest => ({
    volume_id: id, node_id: node, volume_capability: cap, readonly: false, secrets, volume_context: {},
  });

  /** The files in the key directory, sorted; none where it was never made. */
  readonly keyFiles = (): string[] => (existsSync(this.keyDir) ? readdirSync(this.keyDir).sort() : []);

  /** No log line holds any of `secrets` (nor the key part of a DHHC-1 or NVMeTLSkey-1 one). */
  readonly noSecretLogged = (...secrets: string[]): void => assertNoSecretIn(JSON.stringify(this.logs), secrets, 'the log');

  /**
   * Runs `body` with a real in-process gateway on a random port and a controller (with the key
   * directory) that exports through the gateway's RPCs on that port; closes the gateway after.
   */
  readonly withGateway = async (body: (gateway: Gateway, controller: ControllerService, port: number) => Promise<void>): Promise<void> => {
    const port = 10000 + Math.floor(Math.random() * 20000);
    const gateway = new Gateway({ socketPath: null, configPath: null, log: () => undefined });
    await gateway.start();
    try {
      const rpc: GatewayRpc = { call: (method, params) => gateway.rpc(method, params) };
      await body(gateway, this.controllerWith(new NvmfExporter({ rpc, tcp: { traddr: '127.0.0.1', trsvcid: port } })), port);
    } finally {
      await gateway.close();
    }
  };
}

/** Registers, in the calling describe(), the hooks that set `fixture` up in a new `tmpPrefix` directory and remove it after each test. */
export function keyedControllerFixture(tmpPrefix: string): KeyedControllerFixture {
  const f = new KeyedControllerFixture();
  beforeEach(async () => {
    f.dir = mkdtempSync(join(tmpdir(), tmpPrefix));
    f.keyDir = join(f.dir, 'keys');
    f.logs = [];
    f.log = new CsiLogger((e) => f.logs.push(e));
    f.plugin = new LocalPlugin({ poolDir: join(f.dir, 'pool'), log: f.log });
    await f.plugin.open();
  });
  afterEach(() => rmSync(f.dir, { recursive: true, force: true }));
  return f;
}
