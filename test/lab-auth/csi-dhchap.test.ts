/**
 * A CSI volume that requires DH-HMAC-CHAP, with Linux's nvme-cli as the node's host: the
 * controller publishes it with keys derived from a master secret (the CO's Secret), the
 * gateway's keyring gets them from 0600 files, and the `default` node role stages it with
 * `nvme connect --dhchap-secret --dhchap-ctrl-secret`; a stage without the Secret is refused
 * before anything connects, and unpublish leaves no key behind.
 * Runs in the lab guest on a kernel with NVME_HOST_AUTH (6.12).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway, type JsonObject, type JsonValue } from '../../lib';
import { ControllerService, CsiClient, CsiLogger, CsiServer, IdentityService, LocalPlugin, NodeService, NvmfExporter,
  volumeNqn } from '../../lib/csi';
import { controllersOf, tryRun } from '../lab/helpers';

describe('a CSI volume that requires DH-HMAC-CHAP, staged by the kernel host (lab, 6.12)', function () {
  this.timeout(600000);
  const dir = join(tmpdir(), 'rdmagate-csi-dhchap-lab');
  const keyDir = join(dir, 'keys');
  const secrets = { 'dhchap-master-secret': 'a master secret of the lab, at least 32 bytes long' };
  let gateway: Gateway;
  let servers: CsiServer[] = [];
  let ctl: CsiClient;
  let node: CsiClient;
  let nodeId: string;
  let volumeId = '';
  const logged: string[] = [];

  before(async () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const log = new CsiLogger((e) => logged.push(JSON.stringify(e)));
    gateway = new Gateway({ socketPath: null, configPath: null, log: (e) => logged.push(JSON.stringify(e)), target: { reactors: 2 } });
    await gateway.start();
    const plugin = new LocalPlugin({ poolDir: join(dir, 'pool'), log });
    await plugin.open();
    const rpc = { call: (method: string, params?: JsonObject): Promise<JsonValue> => gateway.rpc(method, params) };
    const exporter = new NvmfExporter({ rpc, tcp: { traddr: '127.0.0.1', trsvcid: 4450 } });
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
  });

  it('publishes with per-volume keys, stages with nvme connect --dhchap-secret, and cleans up', async () => {
    const cap = { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
    const created = await ctl.call<{ volume: { volume_id: string; volume_context: Record<string, string> } }>('Controller', 'CreateVolume', {
      name: 'lab-dhchap', capacity_range: { required_bytes: 16 << 20 }, volume_capabilities: [cap],
      parameters: { transport: 'tcp', dhchap: 'bidirectional' },
    });
    volumeId = created.volume.volume_id;
    const context = created.volume.volume_context;
    const { publish_context: pc } = await ctl.call<{ publish_context: Record<string, string> }>('Controller', 'ControllerPublishVolume',
      { volume_id: volumeId, node_id: nodeId, volume_capability: cap, volume_context: context, secrets });
    const keyFiles = readdirSync(keyDir);
    assert.equal(keyFiles.length, 2, 'a host key and a controller key');
    const keys = await gateway.rpc('keyring_get_keys') as { name: string }[];
    assert.equal(keys.length, 2);

    const staging = join(dir, 'staging');
    const stage = { volume_id: volumeId, publish_context: pc, staging_target_path: staging, volume_capability: cap, volume_context: context };
    await assert.rejects(node.call('Node', 'NodeStageVolume', stage), /INVALID_ARGUMENT/);
    assert.deepEqual(controllersOf(pc.subnqn!), [], 'nothing connected without the Secret');
    await node.call('Node', 'NodeStageVolume', { ...stage, secrets });
    const [ctrl] = controllersOf(pc.subnqn!);
    assert.ok(ctrl, 'the kernel host connected');
    // The kernel authenticated both ways, with the keys the controller derived and set.
    assert.match(readFileSync(`/sys/class/nvme/${ctrl}/dhchap_ctrl_secret`, 'utf8'), /^DHHC-1:00:/);
    const qpairs = await gateway.rpc('nvmf_subsystem_get_qpairs', { nqn: pc.subnqn! }) as { auth?: { state: string } }[];
    assert.ok(qpairs.length >= 2 && qpairs.every((q) => q.auth?.state === 'completed'), JSON.stringify(qpairs));

    await node.call('Node', 'NodeUnstageVolume', { volume_id: volumeId, staging_target_path: staging });
    assert.deepEqual(controllersOf(pc.subnqn!), []);
    await ctl.call('Controller', 'ControllerUnpublishVolume', { volume_id: volumeId, node_id: nodeId, secrets });
    assert.deepEqual(await gateway.rpc('keyring_get_keys'), [], 'the keys left the keyring');
    assert.ok(!existsSync(keyDir) || readdirSync(keyDir).length === 0, 'and their files are gone');
    // No log line holds a key: the derived ones are DHHC-1:00 secrets, and no such string was logged.
    assert.ok(!logged.some((l) => l.includes('DHHC-1:')), 'no secret in the logs');
  });
});
