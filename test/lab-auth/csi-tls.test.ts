/**
 * A CSI volume that requires NVMe/TCP TLS, with Linux's nvme-cli as the node's host: the
 * controller publishes it with a PSK derived from a master secret (the CO's Secret) for the
 * volume and the node, the gateway's keyring gets it from a 0600 file and exports the volume
 * on its TLS address (a secure channel), and the `default` node role stages it with
 * `nvme connect --tls --tls-key` (tlshd does Linux's handshake); a stage without the Secret
 * is refused before anything connects, and unpublish leaves no key behind.
 * Runs in the LAB_SUITE=trixie guest (6.12 with NVMe/TCP TLS, nvme-cli 2.13, tlshd).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway, type JsonObject, type JsonValue } from '../../lib';
import { ControllerService, CsiClient, CsiLogger, CsiServer, IdentityService, LocalPlugin, NodeService, NvmfExporter,
  volumeNqn } from '../../lib/csi';
import { controllersOf, tryRun } from '../lab/helpers';

describe('a CSI volume that requires NVMe/TCP TLS, staged by the kernel host (lab, trixie)', function () {
  this.timeout(600000);
  const dir = join(tmpdir(), 'rdmagate-csi-tls-lab');
  const keyDir = join(dir, 'keys');
  const secrets = { 'tls-master-secret': 'a master secret of the lab, at least 32 bytes long' };
  let tlshd: ChildProcess;
  let gateway: Gateway;
  let servers: CsiServer[] = [];
  let ctl: CsiClient;
  let node: CsiClient;
  let nodeId: string;
  let volumeId = '';
  const logged: string[] = [];

  before(async () => {
    spawnSync('modprobe', ['-a', 'tls', 'nvme-tcp']);
    tlshd = spawn('tlshd', ['-s'], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const log = new CsiLogger((e) => logged.push(JSON.stringify(e)));
    gateway = new Gateway({ socketPath: null, configPath: null, log: (e) => logged.push(JSON.stringify(e)), target: { reactors: 2 } });
    await gateway.start();
    const plugin = new LocalPlugin({ poolDir: join(dir, 'pool'), log });
    await plugin.open();
    const rpc = { call: (method: string, params?: JsonObject): Promise<JsonValue> => gateway.rpc(method, params) };
    const exporter = new NvmfExporter({ rpc, tcp: { traddr: '127.0.0.1', trsvcid: 4460 }, tls: { traddr: '127.0.0.1', trsvcid: 4461 } });
    const controller = new ControllerService({ plugins: [plugin], exporter, log, keyDir });
    const nodeService = new NodeService({ role: 'default', log });
    servers = [
      await CsiServer.start({ endpoint: `unix://${dir}/controller.sock`, log, services: {
        Identity: new IdentityService({ controller: true }).handlers(), Controller: controller.handlers() } }),
      await CsiServer.start({ endpoint: `unix://${dir}/node.sock`, log, services: {
        Identity: new IdentityService({ controller: false, probe: () => nodeService.probe() }).handlers(), Node: nodeService.handlers() } }),
    ];
    ctl = new CsiClient(`unix://${dir}/controller.sock`);
    node = new CsiClient(`unix://${dir}/node.sock`);
    nodeId = (await node.call<{ node_id: string }>('Node', 'NodeGetInfo')).node_id;
  });

  after(async () => {
    if (volumeId) tryRun('nvme', ['disconnect', '-n', volumeNqn(volumeId)]);
    ctl?.close();
    node?.close();
    for (const s of servers) await s.close();
    await gateway?.close();
    tlshd?.kill();
  });

  it('publishes with a per-volume PSK, stages with nvme connect --tls --tls-key, and cleans up', async () => {
    const cap = { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
    const created = await ctl.call<{ volume: { volume_id: string; volume_context: Record<string, string> } }>('Controller', 'CreateVolume', {
      name: 'lab-tls', capacity_range: { required_bytes: 16 << 20 }, volume_capabilities: [cap],
      parameters: { transport: 'tcp', tls: 'true' },
    });
    volumeId = created.volume.volume_id;
    const context = created.volume.volume_context;
    const { publish_context: pc } = await ctl.call<{ publish_context: Record<string, string> }>('Controller', 'ControllerPublishVolume',
      { volume_id: volumeId, node_id: nodeId, volume_capability: cap, volume_context: context, secrets });
    assert.equal(readdirSync(keyDir).length, 1, 'one PSK file');
    assert.equal((await gateway.rpc('keyring_get_keys') as unknown[]).length, 1);
    const listeners = gateway.target.listeners();
    assert.ok(listeners.some((l) => l.trsvcid === 4461 && l.secureChannel), 'the volume is exported on the secure channel');

    const staging = join(dir, 'staging');
    const stage = { volume_id: volumeId, publish_context: pc, staging_target_path: staging, volume_capability: cap, volume_context: context };
    await assert.rejects(node.call('Node', 'NodeStageVolume', stage), /INVALID_ARGUMENT/);
    assert.deepEqual(controllersOf(pc.subnqn!), [], 'nothing connected without the Secret');
    await node.call('Node', 'NodeStageVolume', { ...stage, secrets });
    const [ctrl] = controllersOf(pc.subnqn!);
    assert.ok(ctrl, 'the kernel host connected');
    // Over TLS on every queue, the record layer in our kernel's hands on the gateway's side too.
    assert.ok(readFileSync(`/sys/class/nvme/${ctrl}/tls_key`, 'utf8').trim().length > 0, 'the kernel host used a TLS key');
    const qpairs = gateway.target.qpairs();
    assert.ok(qpairs.length >= 2 && qpairs.every((q) => q.tls?.ktls === true), JSON.stringify(qpairs.map((q) => q.tls)));

    await node.call('Node', 'NodeUnstageVolume', { volume_id: volumeId, staging_target_path: staging });
    assert.deepEqual(controllersOf(pc.subnqn!), []);
    await ctl.call('Controller', 'ControllerUnpublishVolume', { volume_id: volumeId, node_id: nodeId, secrets });
    assert.deepEqual(await gateway.rpc('keyring_get_keys'), [], 'the key left the keyring');
    assert.ok(!existsSync(keyDir) || readdirSync(keyDir).length === 0, 'and its file is gone');
    assert.ok(!logged.some((l) => l.includes('NVMeTLSkey-1:')), 'no PSK in the logs');
  });
});
