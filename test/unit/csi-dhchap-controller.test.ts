/**
 * Volumes that require DH-HMAC-CHAP, the controller's side (issue 16, item 4): the StorageClass
 * parameter `dhchap` and what volume_context records of it; the secrets from the CO (given, or
 * a master secret that keys are derived from per volume and host), refused before anything
 * changes when missing or malformed; ControllerPublishVolume writing each key to a 0600 file in
 * the key directory and giving the gateway's keyring its name, reusing it on a repeat and
 * swapping it (nvmf_subsystem_set_keys) when the Secret changed; unpublish taking the host off,
 * then the keys, then the files; a gateway group's members each getting the keys, a member
 * that missed them getting them on its resync; no secret in any log line. Against the fake
 * gateway, and once against the real in-process gateway, whose target then admits rdmagate's
 * own host only with the keys the node derives.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { nvmf, type JsonObject, type JsonValue } from '../../lib';
import {
  ControllerService, deriveDhchapSecret, checkDhchapSecret, dhchapSecretSource, dhchapSecretsFor, GatewayGroup, GrpcStatus,
  GroupExporter, KernelNvmeAttacher, keyNamePrefix, NodeService, NvmfExporter, volumeNqn, type GatewayRpc,
} from '../../lib/csi';
import { parseVolumeParameters, volumeContext } from '../../lib/csi/parameters';
import type { StringMap } from '../../lib/csi/types';
import { rejectsInProcess } from '../support/csi-assert';
import { BLOCK, keyedControllerFixture, MUTATING, NODE_A, NODE_B, SHARED } from '../support/csi-keyed-controller';
import { dhchapSecret, secretBody } from '../support/dhchap-secret';
import { FakeGatewayRpc } from '../support/fake-gateway-rpc';
import { FakeNvmeHost } from './fake-nvme-host';

const MASTER = 'correct horse battery staple, and then some more';

describe('CSI volumes that require DH-HMAC-CHAP: the controller', function () {
  this.timeout(30000);
  const t = keyedControllerFixture('rdmagate-csi-dhchap-');
  const { controllerWith, createReq, publishReq, keyFiles, noSecretLogged, withGateway } = t;

  describe('the StorageClass parameter', () => {
    it('dhchap: unidirectional | bidirectional | none, recorded in volume_context as the mode only', () => {
      assert.equal(parseVolumeParameters({}).dhchap, undefined);
      assert.equal(parseVolumeParameters({ dhchap: 'none' }).dhchap, undefined);
      for (const mode of ['unidirectional', 'bidirectional'] as const) {
        const p = parseVolumeParameters({ dhchap: mode });
        assert.equal(p.dhchap, mode);
        assert.deepEqual(volumeContext(p, 'tcp'), { plugin: 'local', transport: 'tcp', dhchap: mode });
      }
      assert.throws(() => parseVolumeParameters({ dhchap: 'yes' }), (e: Error) =>
        /parameter dhchap must be one of none, unidirectional, bidirectional, got "yes"/.test(e.message));
    });

    it('CreateVolume records it; the secrets the CO may send with it stay out of the volume', async () => {
      const c = controllerWith(new NvmfExporter({ rpc: new FakeGatewayRpc(), tcp: { traddr: '192.0.2.1', trsvcid: 4420 } }));
      const { volume } = await c.createVolume({ ...createReq('pvc-auth', { dhchap: 'bidirectional' }), secrets: { 'dhchap-master-secret': MASTER } });
      assert.deepEqual(volume.volume_context, { plugin: 'local', transport: 'tcp', dhchap: 'bidirectional' });
      assert.ok(!JSON.stringify(t.plugin.volumes()).includes(MASTER));
      // A controller with nowhere to write keys refuses such a class at once, not at publish.
      const without = controllerWith(new NvmfExporter({ rpc: new FakeGatewayRpc(), tcp: { traddr: '192.0.2.1', trsvcid: 4420 } }), false);
      await rejectsInProcess(without.createVolume(createReq('pvc-nokeys', { dhchap: 'unidirectional' })), GrpcStatus.INVALID_ARGUMENT,
        /no key directory \(--key-dir\)/);
    });
  });

  describe('the secrets', () => {
    const id = 'vol-1';
    it('refuses what is missing, malformed, ambiguous or too weak with INVALID_ARGUMENT, never quoting a secret', () => {
      const key = dhchapSecret(1);
      const other = dhchapSecret(0);
      const badCrc = key.replace(/.(?=:$)/, (c) => (c === 'A' ? 'Q' : 'A'));
      const cases: [StringMap, 'unidirectional' | 'bidirectional', RegExp][] = [
        [{}, 'unidirectional', /hold neither dhchap-secret nor dhchap-master-secret: .*controller-publish-secret-name/],
        [{ 'dhchap-secret': 'hunter2-not-dhhc' }, 'unidirectional', /dhchap-secret is not a DH-HMAC-CHAP secret/],
        [{ 'dhchap-secret': badCrc }, 'unidirectional', /(CRC-32 does not match|not a DH-HMAC-CHAP secret)/],
        [{ 'dhchap-secret': key }, 'bidirectional', /no dhchap-ctrl-secret/],
        [{ 'dhchap-secret': key, 'dhchap-ctrl-secret': key }, 'bidirectional', /must differ/],
        [{ 'dhchap-secret': key, 'dhchap-master-secret': MASTER }, 'unidirectional', /both dhchap-master-secret and dhchap-secret/],
        [{ 'dhchap-master-secret': 'too short, 31 bytes long.......' }, 'unidirectional', /at least 32 bytes, got 31/],
      ];
      for (const [secrets, mode, message] of cases) {
        assert.throws(() => dhchapSecretSource(secrets, mode, id, 'ControllerPublishVolume'), (e: Error & { grpcCode?: number }) => {
          assert.equal(e.grpcCode, GrpcStatus.INVALID_ARGUMENT, e.message);
          assert.match(e.message, message);
          for (const s of Object.values(secrets)) assert.ok(!e.message.includes(s) && !e.message.includes(secretBody(s) ?? s), e.message);
          return true;
        });
      }
      // The node's message names the node's parameters.
      assert.throws(() => dhchapSecretSource({}, 'unidirectional', id, 'NodeStageVolume'), /node-stage-secret-name/);
      // Given secrets are used as they are, a file's trailing newline dropped; unidirectional ignores a controller secret.
      assert.deepEqual(dhchapSecretsFor(dhchapSecretSource({ 'dhchap-secret': `${key}\n`, 'dhchap-ctrl-secret': other }, 'bidirectional', id,
        'NodeStageVolume'), 'bidirectional', id, NODE_A), { dhchapKey: key, dhchapCtrlrKey: other });
      assert.deepEqual(dhchapSecretsFor(dhchapSecretSource({ 'dhchap-secret': key, 'dhchap-ctrl-secret': other }, 'unidirectional', id,
        'NodeStageVolume'), 'unidirectional', id, NODE_A), { dhchapKey: key });
    });

    it('derives keys with HMAC-SHA-256 as documented: per volume, per host, host and controller apart', () => {
      const host = deriveDhchapSecret(MASTER, 'host', 'vol-1', NODE_A);
      // The documented construction, written out.
      const mac = createHmac('sha256', MASTER).update(`rdmagate dhchap host${'vol-1'}\0${NODE_A}`).digest();
      const body = Buffer.from(secretBody(host), 'base64');
      assert.ok(body.subarray(0, 32).equals(mac), 'the key is HMAC(master, label || volume_id || 0 || hostnqn)');
      assert.match(host, /^DHHC-1:00:[A-Za-z0-9+/]{48}:$/);
      checkDhchapSecret(host, 'derived');
      const all = [host, deriveDhchapSecret(MASTER, 'ctrl', 'vol-1', NODE_A), deriveDhchapSecret(MASTER, 'host', 'vol-2', NODE_A),
        deriveDhchapSecret(MASTER, 'host', 'vol-1', NODE_B), deriveDhchapSecret(`${MASTER}!`, 'host', 'vol-1', NODE_A)];
      assert.equal(new Set(all).size, all.length, 'each volume, host, role and master its own key');
      assert.equal(deriveDhchapSecret(MASTER, 'host', 'vol-1', NODE_A), host, 'deterministic');
    });
  });

  describe('publish and unpublish (fake gateway)', () => {
    let rpc: FakeGatewayRpc;
    let controller: ControllerService;

    beforeEach(() => {
      rpc = new FakeGatewayRpc();
      controller = controllerWith(new NvmfExporter({ rpc, tcp: { traddr: '192.0.2.1', trsvcid: 4420 } }));
    });

    const create = async (name: string, dhchap: string, cap = BLOCK) =>
      (await controller.createVolume(createReq(name, { dhchap }, cap))).volume.volume_id;
    const mutations = () => rpc.calls.filter((c) => MUTATING.test(c.method));

    it('given secrets (bidirectional): a 0600 file each, added to the keyring by name, the host allowed with both', async () => {
      const id = await create('pvc-given', 'bidirectional');
      const key = dhchapSecret(1);
      const ctrl = dhchapSecret(3);
      const r = await controller.publishVolume(publishReq(id, NODE_A, { 'dhchap-secret': key, 'dhchap-ctrl-secret': ctrl }));
      assert.equal(r.publish_context.subnqn, volumeNqn(id));
      assert.ok(!JSON.stringify(r).includes(secretBody(key)), 'no secret in publish_context');
      const added = rpc.callsOf('keyring_file_add_key') as { name: string; path: string }[];
      assert.equal(added.length, 2);
      const [hostKey, ctrlKey] = added;
      assert.ok(hostKey.name.startsWith(keyNamePrefix(id, NODE_A)) && /_key_\d+$/.test(hostKey.name), hostKey.name);
      assert.ok(/_ctrlr_key_\d+$/.test(ctrlKey.name), ctrlKey.name);
      for (const [k, secret] of [[hostKey, key], [ctrlKey, ctrl]] as const) {
        assert.equal(k.path, join(t.keyDir, k.name), 'the file is named as the key');
        assert.equal(statSync(k.path).mode & 0o777, 0o600);
        assert.equal(readFileSync(k.path, 'utf8'), `${secret}\n`);
      }
      assert.deepEqual(rpc.callsOf('nvmf_subsystem_add_host'),
        [{ nqn: volumeNqn(id), host: NODE_A, dhchap_key: hostKey.name, dhchap_ctrlr_key: ctrlKey.name }]);
      assert.deepEqual(keyFiles(), [ctrlKey.name, hostKey.name].sort());
      // The add_host came after the keys: the keyring had them when the host was allowed.
      const order = rpc.calls.map((c) => c.method).filter((m) => /keyring_file_add_key|nvmf_subsystem_add_host/.test(m));
      assert.deepEqual(order, ['keyring_file_add_key', 'keyring_file_add_key', 'nvmf_subsystem_add_host']);

      // The same publish again: the same files, nothing changed on the gateway.
      const before = mutations().length;
      await controller.publishVolume(publishReq(id, NODE_A, { 'dhchap-secret': key, 'dhchap-ctrl-secret': ctrl }));
      assert.equal(mutations().length, before, 'a repeated publish changes nothing');
      assert.deepEqual(keyFiles(), [ctrlKey.name, hostKey.name].sort());
      noSecretLogged(key, ctrl);
    });

    it('a changed secret: a new file and key, swapped in with nvmf_subsystem_set_keys, the old key and file removed', async () => {
      const id = await create('pvc-rotate', 'unidirectional');
      const first = dhchapSecret(1);
      await controller.publishVolume(publishReq(id, NODE_A, { 'dhchap-secret': first }));
      const [old] = rpc.callsOf('keyring_file_add_key') as { name: string }[];
      const second = dhchapSecret(2);
      rpc.calls.length = 0;
      await controller.publishVolume(publishReq(id, NODE_A, { 'dhchap-secret': second }));
      const [fresh] = rpc.callsOf('keyring_file_add_key') as { name: string; path: string }[];
      assert.ok(fresh && fresh.name !== old.name, 'another name: the gateway read the old file when it added that key');
      assert.equal(readFileSync(fresh.path, 'utf8'), `${second}\n`);
      assert.deepEqual(mutations().map((c) => c.method), ['keyring_file_add_key', 'nvmf_subsystem_set_keys', 'keyring_file_remove_key']);
      assert.deepEqual(rpc.callsOf('nvmf_subsystem_set_keys'), [{ nqn: volumeNqn(id), host: NODE_A, dhchap_key: fresh.name }]);
      assert.deepEqual(rpc.callsOf('keyring_file_remove_key'), [{ name: old.name }]);
      assert.deepEqual(keyFiles(), [fresh.name]);
      assert.equal(rpc.keys.get(fresh.name)?.secret, second);
      noSecretLogged(first, second);
    });

    it('a master secret: keys derived per host, as the node derives them; unpublish takes the host, then its keys, then its files', async () => {
      const id = await create('pvc-master', 'bidirectional', SHARED);
      const secrets = { 'dhchap-master-secret': MASTER };
      await controller.publishVolume(publishReq(id, NODE_A, secrets, SHARED));
      await controller.publishVolume(publishReq(id, NODE_B, secrets, SHARED));
      const hostKeys = (node: string) => rpc.subsystems.get(volumeNqn(id))!.hostKeys.get(node)!;
      const secretOf = (name: string | undefined) => rpc.keys.get(name!)!.secret;
      for (const node of [NODE_A, NODE_B]) {
        assert.equal(secretOf(hostKeys(node).dhchap_key), deriveDhchapSecret(MASTER, 'host', id, node));
        assert.equal(secretOf(hostKeys(node).dhchap_ctrlr_key), deriveDhchapSecret(MASTER, 'ctrl', id, node));
      }
      assert.notEqual(secretOf(hostKeys(NODE_A).dhchap_key), secretOf(hostKeys(NODE_B).dhchap_key), 'each host its own key');
      assert.equal(keyFiles().length, 4);

      // The node, on its own, derives the same keys and hands them to nvme connect.
      const host = new FakeNvmeHost(join(t.dir, 'node'));
      host.subsystem(volumeNqn(id), { uuid: id, nguid: id.replace(/-/g, '') });
      const node = new NodeService({ role: 'default', log: t.log, nodeId: NODE_A, rdma: false,
        attacher: new KernelNvmeAttacher({ system: host, deviceTimeoutMs: 1000, pollMs: 10 }) });
      const ctx = (await controller.publishVolume(publishReq(id, NODE_A, secrets, SHARED))).publish_context;
      await node.stageVolume({ volume_id: id, staging_target_path: join(t.dir, 'staging'), volume_capability: SHARED, publish_context: ctx,
        volume_context: { dhchap: 'bidirectional' }, secrets });
      const connect = host.commands.find((c) => c[1] === 'connect')!;
      assert.equal(connect[connect.indexOf('--dhchap-secret') + 1], secretOf(hostKeys(NODE_A).dhchap_key));
      assert.equal(connect[connect.indexOf('--dhchap-ctrl-secret') + 1], secretOf(hostKeys(NODE_A).dhchap_ctrlr_key));

      rpc.calls.length = 0;
      await controller.unpublishVolume({ volume_id: id, node_id: NODE_A, secrets: {} });
      const removed = rpc.callsOf('keyring_file_remove_key').map((c) => c.name);
      assert.deepEqual(mutations().map((c) => c.method), ['nvmf_subsystem_remove_host', 'keyring_file_remove_key', 'keyring_file_remove_key']);
      assert.ok(removed.every((n) => String(n).startsWith(keyNamePrefix(id, NODE_A))), 'only node A\'s keys');
      assert.equal(keyFiles().length, 2, 'node B\'s files stay');
      assert.ok(keyFiles().every((f) => f.startsWith(keyNamePrefix(id, NODE_B))));
      // Again: nothing left to do, and fine.
      await controller.unpublishVolume({ volume_id: id, node_id: NODE_A, secrets: {} });
      // Without node_id: every host, every key, every file.
      await controller.unpublishVolume({ volume_id: id, node_id: '', secrets: {} });
      assert.equal(rpc.subsystems.size, 0);
      assert.equal(rpc.keys.size, 0);
      assert.deepEqual(keyFiles(), []);
      noSecretLogged(MASTER, ...[NODE_A, NODE_B].flatMap((n) => [deriveDhchapSecret(MASTER, 'host', id, n), deriveDhchapSecret(MASTER, 'ctrl', id, n)]));
    });

    it('missing or malformed secrets: INVALID_ARGUMENT before anything is written or asked of the gateway', async () => {
      const id = await create('pvc-nosecret', 'bidirectional');
      const refused: StringMap[] = [{}, { 'dhchap-secret': dhchapSecret(1) }, { 'dhchap-secret': 'DHHC-1:00:bm90IGEga2V5:' },
        { 'dhchap-master-secret': 'short' }];
      for (const secrets of refused) {
        await rejectsInProcess(controller.publishVolume(publishReq(id, NODE_A, secrets)), GrpcStatus.INVALID_ARGUMENT, /DH-HMAC-CHAP/);
      }
      assert.deepEqual(mutations(), [], 'the gateway was not changed');
      assert.ok(!existsSync(t.keyDir), 'no key file (not even the directory)');
      // A volume without dhchap ignores secrets the CO passes anyway.
      const plain = await create('pvc-plain', 'none');
      await controller.publishVolume(publishReq(plain, NODE_A, { 'dhchap-secret': dhchapSecret(1) }));
      assert.deepEqual(rpc.callsOf('nvmf_subsystem_add_host'), [{ nqn: volumeNqn(plain), host: NODE_A }]);
      assert.deepEqual(keyFiles(), []);
    });

    it('a gateway that cannot read the key file (not its user\'s, another path): FAILED_PRECONDITION that says why', async () => {
      const id = await create('pvc-perm', 'unidirectional');
      const refusing: GatewayRpc = {
        call: (method: string, params?: JsonObject): Promise<JsonValue> => (method === 'keyring_file_add_key'
          ? rpc.call('keyring_file_add_key', { ...params, path: '/nonexistent/key' }) : rpc.call(method, params)),
      };
      const c = controllerWith(new NvmfExporter({ rpc: refusing, tcp: { traddr: '192.0.2.1', trsvcid: 4420 } }));
      await rejectsInProcess(c.publishVolume(publishReq(id, NODE_A, { 'dhchap-secret': dhchapSecret(1) })), GrpcStatus.FAILED_PRECONDITION,
        /must see the key directory at the same path/);
      assert.deepEqual(rpc.callsOf('nvmf_subsystem_add_host'), [], 'the host is not allowed without its key');
    });
  });

  it('a gateway group: every member gets the keys; a member that missed the publish gets them on its resync', async () => {
    const rpcs = { a: new FakeGatewayRpc(), b: new FakeGatewayRpc() };
    const group = new GatewayGroup({ members: Object.entries(rpcs).map(([name, rpc], i) => ({ name, rpc,
      tcp: { traddr: '192.0.2.1', trsvcid: 4420 + i } })) });
    const exporter = new GroupExporter({ group, log: t.log });
    const controller = controllerWith(exporter);
    const id = (await controller.createVolume(createReq('pvc-group', { dhchap: 'unidirectional' }, SHARED))).volume.volume_id;
    const secrets = { 'dhchap-master-secret': MASTER };
    await controller.publishVolume(publishReq(id, NODE_A, secrets, SHARED));
    const derivedA = deriveDhchapSecret(MASTER, 'host', id, NODE_A);
    for (const rpc of Object.values(rpcs)) {
      const names = rpc.subsystems.get(volumeNqn(id))!.hostKeys.get(NODE_A)!;
      assert.equal(rpc.keys.get(names.dhchap_key!)?.secret, derivedA, 'each member\'s keyring reads the same file');
    }
    // Member b misses node B's publish, then is resynced from a.
    group.markDown('b');
    await controller.publishVolume(publishReq(id, NODE_B, secrets, SHARED));
    assert.equal(rpcs.b.subsystems.get(volumeNqn(id))!.hosts.has(NODE_B), false);
    group.markUp('b');
    const r = await exporter.resync('b', 'a', (v) => controller.exportSpec(v));
    assert.deepEqual(r.hosts, [id]);
    const names = rpcs.b.subsystems.get(volumeNqn(id))!.hostKeys.get(NODE_B)!;
    assert.equal(rpcs.b.keys.get(names.dhchap_key!)?.secret, deriveDhchapSecret(MASTER, 'host', id, NODE_B));
    // Without its key files, a host is not allowed on a member at all.
    await controller.unpublishVolume({ volume_id: id, node_id: NODE_B, secrets: {} });
    group.markDown('b');
    await controller.publishVolume(publishReq(id, NODE_B, secrets, SHARED));
    group.markUp('b');
    for (const f of readdirSync(t.keyDir)) if (f.startsWith(keyNamePrefix(id, NODE_B))) rmSync(join(t.keyDir, f));
    const lost = await exporter.resync('b', 'a', (v) => controller.exportSpec(v));
    assert.deepEqual(lost.unknown, [id]);
    assert.equal(rpcs.b.subsystems.get(volumeNqn(id))!.hosts.has(NODE_B), false);
    noSecretLogged(MASTER, derivedA);
  });

  it('end to end: the keys the controller gives the real gateway admit rdmagate\'s host with the node\'s derived keys, and nothing else', async () => {
    await withGateway(async (gateway, controller) => {
      const id = (await controller.createVolume(createReq('pvc-e2e', { dhchap: 'bidirectional' }, SHARED))).volume.volume_id;
      const secrets = { 'dhchap-master-secret': MASTER };
      const ctx = (await controller.publishVolume(publishReq(id, NODE_A, secrets, SHARED))).publish_context;
      await controller.publishVolume(publishReq(id, NODE_B, secrets, SHARED));
      const [sub] = (await gateway.rpc('nvmf_get_subsystems', { nqn: volumeNqn(id) })) as { hosts: { nqn: string; dhchap_key?: string }[] }[];
      assert.ok(sub.hosts.every((h) => h.dhchap_key?.startsWith(keyNamePrefix(id, h.nqn))), JSON.stringify(sub.hosts));

      // What the node connects with: its own derivation for its own NQN.
      const keysOf = (node: string) => dhchapSecretsFor(dhchapSecretSource(secrets, 'bidirectional', id, 'NodeStageVolume'), 'bidirectional', id, node);
      const connect = (hostnqn: string, keys: nvmf.DhchapKeys) => nvmf.connect({ traddr: ctx.traddr, trsvcid: Number(ctx.trsvcid),
        subnqn: ctx.subnqn, hostnqn, ctrlLossTmo: 0, timeoutMs: 5000, ...keys });
      const c = await connect(NODE_A, keysOf(NODE_A));
      try {
        assert.equal(c.namespaces[0]?.uuid, id);
      } finally {
        await c.close();
      }
      await assert.rejects(connect(NODE_A, {}), 'no key: refused');
      await assert.rejects(connect(NODE_A, keysOf(NODE_B)), { code: 'ERR_NVME_AUTH' }, 'another host\'s key: refused');
      await assert.rejects(connect(NODE_A, { dhchapKey: keysOf(NODE_A).dhchapKey, dhchapCtrlrKey: keysOf(NODE_B).dhchapCtrlrKey }),
        { code: 'ERR_NVME_AUTH' }, 'a gateway that does not prove the controller key is refused by the host');

      await controller.unpublishVolume({ volume_id: id, node_id: '', secrets: {} });
      assert.deepEqual(await gateway.rpc('keyring_get_keys'), []);
      assert.deepEqual(keyFiles(), []);
      noSecretLogged(MASTER, keysOf(NODE_A).dhchapKey, keysOf(NODE_B).dhchapKey);
    });
  });
});
