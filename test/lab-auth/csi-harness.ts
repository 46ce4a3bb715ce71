/**
 * What the lab's CSI tests of volumes that require keys (csi-dhchap, csi-tls) share: an
 * in-process gateway, a controller of the local plugin exporting on it with a key directory,
 * and a `default` node role (Linux's nvme-cli as its host), each served over CSI on a Unix
 * socket in a fresh directory; a volume created and published, then staged with and without
 * the Secret, unstaged and unpublished through them. Every log line (CSI's and the gateway's)
 * is kept, for the tests to check that no key was logged.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway, type JsonObject, type JsonValue } from '../../lib';
import { ControllerService, CsiClient, CsiLogger, CsiServer, IdentityService, LocalPlugin, NodeService, NvmfExporter,
  volumeNqn } from '../../lib/csi';
import { controllersOf, tryRun } from '../lab/helpers';

type Address = { traddr: string; trsvcid: number };

export interface CsiLabOptions {
  /** The directory's name under the system's temp directory (removed and made again before the tests). */
  name: string;
  /** The exporter's NVMe/TCP address, and its TLS one where the volumes require TLS. */
  tcp: Address;
  tls?: Address;
  /** The CO's Secret: what ControllerPublishVolume and NodeStageVolume are given. */
  secrets: Record<string, string>;
}

/** A volume created and published to the node by CsiLab.createAndPublish. */
export interface PublishedVolume {
  volumeId: string;
  cap: { block: object; access_mode: { mode: string } };
  context: Record<string, string>;
  pc: Record<string, string>;
}

export class CsiLab {
  readonly dir: string;
  readonly keyDir: string;
  /** Every log line, as JSON: the CSI servers', the controller's, the node's and the gateway's. */
  readonly logged: string[] = [];
  gateway!: Gateway;
  servers: CsiServer[] = [];
  ctl!: CsiClient;
  node!: CsiClient;
  nodeId!: string;
  /** The volume a test staged, disconnected after the tests should it still be connected. */
  volumeId = '';

  constructor(readonly options: CsiLabOptions) {
    this.dir = join(tmpdir(), options.name);
    this.keyDir = join(this.dir, 'keys');
  }

  async start(): Promise<void> {
    const { dir, keyDir, logged } = this;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const log = new CsiLogger((e) => logged.push(JSON.stringify(e)));
    const gateway = new Gateway({ socketPath: null, configPath: null, log: (e) => logged.push(JSON.stringify(e)), target: { reactors: 2 } });
    this.gateway = gateway;
    await gateway.start();
    const plugin = new LocalPlugin({ poolDir: join(dir, 'pool'), log });
    await plugin.open();
    const rpc = { call: (method: string, params?: JsonObject): Promise<JsonValue> => gateway.rpc(method, params) };
    const exporter = new NvmfExporter({ rpc, tcp: this.options.tcp, ...(this.options.tls ? { tls: this.options.tls } : {}) });
    const controller = new ControllerService({ plugins: [plugin], exporter, log, keyDir });
    const nodeService = new NodeService({ role: 'default', log });
    this.servers = [
      await CsiServer.start({ endpoint: `unix://${dir}/controller.sock`, log, services: {
        Identity: new IdentityService({ controller: true }).handlers(), Controller: controller.handlers() } }),
      await CsiServer.start({ endpoint: `unix://${dir}/node.sock`, log, services: {
        Identity: new IdentityService({ controller: false, probe: () => nodeService.probe() }).handlers(), Node: nodeService.handlers() } }),
    ];
    this.ctl = new CsiClient(`unix://${dir}/controller.sock`);
    this.node = new CsiClient(`unix://${dir}/node.sock`);
    this.nodeId = (await this.node.call<{ node_id: string }>('Node', 'NodeGetInfo')).node_id;
  }

  async stop(): Promise<void> {
    if (this.volumeId) tryRun('nvme', ['disconnect', '-n', volumeNqn(this.volumeId)]);
    this.ctl?.close();
    this.node?.close();
    for (const s of this.servers) await s.close();
    await this.gateway?.close();
  }

  /** CreateVolume (16 MiB, block, single node writer) with `parameters`, then ControllerPublishVolume to the node with the Secret. */
  async createAndPublish(name: string, parameters: Record<string, string>): Promise<PublishedVolume> {
    const cap = { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
    const created = await this.ctl.call<{ volume: { volume_id: string; volume_context: Record<string, string> } }>('Controller', 'CreateVolume', {
      name, capacity_range: { required_bytes: 16 << 20 }, volume_capabilities: [cap], parameters,
    });
    const volumeId = created.volume.volume_id;
    this.volumeId = volumeId;
    const context = created.volume.volume_context;
    const { publish_context: pc } = await this.ctl.call<{ publish_context: Record<string, string> }>('Controller', 'ControllerPublishVolume',
      { volume_id: volumeId, node_id: this.nodeId, volume_capability: cap, volume_context: context, secrets: this.options.secrets });
    return { volumeId, cap, context, pc };
  }

  /**
   * NodeStageVolume without the Secret, which must be refused with nothing connected, then with
   * it, which must leave the kernel host connected; returns that controller's name (nvmeN).
   */
  async stageWithSecret(v: PublishedVolume): Promise<string> {
    const stage = { volume_id: v.volumeId, publish_context: v.pc, staging_target_path: this.staging, volume_capability: v.cap,
      volume_context: v.context };
    await assert.rejects(this.node.call('Node', 'NodeStageVolume', stage), /INVALID_ARGUMENT/);
    assert.deepEqual(controllersOf(v.pc.subnqn!), [], 'nothing connected without the Secret');
    await this.node.call('Node', 'NodeStageVolume', { ...stage, secrets: this.options.secrets });
    const [ctrl] = controllersOf(v.pc.subnqn!);
    assert.ok(ctrl, 'the kernel host connected');
    return ctrl;
  }

  /** NodeUnstageVolume, which must leave nothing connected, then ControllerUnpublishVolume with the Secret. */
  async unstageAndUnpublish(v: PublishedVolume): Promise<void> {
    await this.node.call('Node', 'NodeUnstageVolume', { volume_id: v.volumeId, staging_target_path: this.staging });
    assert.deepEqual(controllersOf(v.pc.subnqn!), []);
    await this.ctl.call('Controller', 'ControllerUnpublishVolume', { volume_id: v.volumeId, node_id: this.nodeId, secrets: this.options.secrets });
  }

  private get staging(): string {
    return join(this.dir, 'staging');
  }
}

/** Registers, in the calling describe(), a before() that starts a CsiLab and an after() that stops it. */
export function csiLab(options: CsiLabOptions): CsiLab {
  const lab = new CsiLab(options);
  before(() => lab.start());
  after(() => lab.stop());
  return lab;
}
