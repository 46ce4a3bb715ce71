/**
 * Volumes that require NVMe/TCP TLS, the controller's side: the StorageClass parameter `tls`
 * and what volume_context records of it (the flag only); the PSK from the CO's secrets (given
 * as `tls-psk`, or derived per volume and host from `tls-master-secret`), refused before
 * anything changes when missing or malformed; ControllerPublishVolume writing it to a 0600 file
 * in the key directory, giving the gateway's keyring its name, allowing the host with it (psk)
 * and exporting the volume on the gateway's secure-channel listener (its TLS port), a host
 * whose PSK changed being allowed again with the new one; unpublish taking the host, the key
 * and the file off; a gateway group's members each on their own TLS address; no key in any log
 * line or publish_context. Against the fake gateway, and end to end against the real
 * in-process gateway, whose target then admits rdmagate's own host over TLS with the PSK the
 * node derives, and nothing else.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BufferPool, nvmf } from '../../lib';
import {
  checkGroup, ControllerService, deriveDhchapSecret, deriveTlsPsk, GatewayGroup, GrpcStatus, GroupExporter, keyNamePrefix,
  NvmfExporter, parseGatewayMembers, tlsPskFor, tlsPskSource, volumeNqn,
} from '../../lib/csi';
import { parseVolumeParameters, volumeContext } from '../../lib/csi/parameters';
import type { StringMap } from '../../lib/csi/types';
import { encodeTlsPsk } from '../../lib/nvmf';
import { rejectsInProcess } from '../support/csi-assert';
import { BLOCK, keyedControllerFixture, MUTATING, NODE_A, NODE_B, SHARED } from '../support/csi-keyed-controller';
import { dhchapSecret, secretBody } from '../support/dhchap-secret';
import { FakeGatewayRpc } from '../support/fake-gateway-rpc';
import { tlsPsk } from '../support/tls-psk';

const MASTER = 'a TLS master secret, and more than thirty-two bytes of it';

describe('CSI volumes that require NVMe/TCP TLS: the controller', function () {
  this.timeout(30000);
  const t = keyedControllerFixture('rdmagate-csi-tls-');
  const { controllerWith, createReq, publishReq, keyFiles, noSecretLogged, withGateway } = t;

  describe('the StorageClass parameter and the secrets', () => {
    it('tls: "true" | "false", recorded in volume_context as the flag only; NVMe/TCP only', async () => {
      assert.equal(parseVolumeParameters({}).tls, undefined);
      assert.equal(parseVolumeParameters({ tls: 'false' }).tls, undefined);
      const p = parseVolumeParameters({ tls: 'true', dhchap: 'unidirectional' });
      assert.equal(p.tls, true);
      assert.deepEqual(volumeContext(p, 'tcp'), { plugin: 'local', transport: 'tcp', dhchap: 'unidirectional', tls: 'true' });
      assert.throws(() => parseVolumeParameters({ tls: 'yes' }), /parameter tls must be true or false, got "yes"/);
      assert.throws(() => parseVolumeParameters({ tls: 'true', transport: 'rdma' }), /NVMe\/TCP's \(TLS\), and transport is rdma/);

      // transport auto on a gateway with RDMA, for a node with RDMA: TCP all the same.
      const exporter = new NvmfExporter({ rpc: new FakeGatewayRpc(), tcp: { traddr: '192.0.2.1', trsvcid: 4420 },
        rdma: { traddr: '192.0.2.1', trsvcid: 4420 } });
      const c = controllerWith(exporter);
      const { volume } = await c.createVolume({ ...createReq('pvc-tls', { tls: 'true' }),
        accessibility_requirements: { requisite: [], preferred: [{ segments: { 'rdmagate.io/rdma': 'true' } }] },
        secrets: { 'tls-master-secret': MASTER } });
      assert.deepEqual(volume.volume_context, { plugin: 'local', transport: 'tcp', tls: 'true' });
      assert.deepEqual(volume.accessible_topology, []);
      assert.ok(!JSON.stringify(t.plugin.volumes()).includes(MASTER), 'no secret in the volume\'s record');
      // A controller with nowhere to write keys refuses such a class at once, not at publish.
      await rejectsInProcess(controllerWith(exporter, false).createVolume(createReq('pvc-nokeys', { tls: 'true' })),
        GrpcStatus.INVALID_ARGUMENT, /tls=true: this controller has no key directory \(--key-dir\)/);
    });

    it('refuses what is missing, malformed, ambiguous or too weak with INVALID_ARGUMENT, never quoting a key', () => {
      const key = tlsPsk();
      const badCrc = key.replace(/.(?=:$)/, (c) => (c === 'A' ? 'Q' : 'A'));
      const cases: [StringMap, RegExp][] = [
        [{}, /hold neither tls-psk nor tls-master-secret: .*controller-publish-secret-name/],
        [{ 'tls-psk': 'hunter2, not a PSK' }, /tls-psk is not an NVMe\/TCP TLS PSK/],
        [{ 'tls-psk': dhchapSecret(1) }, /tls-psk is not an NVMe\/TCP TLS PSK/],
        [{ 'tls-psk': encodeTlsPsk(randomBytes(48), 1) }, /tls-psk is not an NVMe\/TCP TLS PSK: it must be/],
        [{ 'tls-psk': badCrc }, /(CRC-32 does not match|not an NVMe\/TCP TLS PSK)/],
        [{ 'tls-psk': key, 'tls-master-secret': MASTER }, /both tls-master-secret and tls-psk/],
        [{ 'tls-master-secret': 'too short, 31 bytes long.......' }, /tls-master-secret must be at least 32 bytes, got 31/],
      ];
      for (const [secrets, message] of cases) {
        assert.throws(() => tlsPskSource(secrets, 'vol-1', 'ControllerPublishVolume'), (e: Error & { grpcCode?: number }) => {
          assert.equal(e.grpcCode, GrpcStatus.INVALID_ARGUMENT, e.message);
          assert.match(e.message, message);
          for (const s of Object.values(secrets)) assert.ok(!e.message.includes(s) && !e.message.includes(secretBody(s) ?? s), e.message);
          return true;
        });
      }
      assert.throws(() => tlsPskSource({}, 'vol-1', 'NodeStageVolume'), /node-stage-secret-name/);
      // A given PSK is used as it is (a file's newline dropped), 48-byte keys and hash 00 too.
      for (const k of [key, tlsPsk(2), encodeTlsPsk(randomBytes(48), 0)]) {
        assert.equal(tlsPskFor(tlsPskSource({ 'tls-psk': `${k}\n` }, 'vol-1', 'NodeStageVolume'), 'vol-1', NODE_A), k);
      }
    });

    it('derives PSKs with HMAC-SHA-256 as documented: hash 01, per volume and host, unlike the DH-HMAC-CHAP keys of the same master', () => {
      const psk = deriveTlsPsk(MASTER, 'vol-1', NODE_A);
      const mac = createHmac('sha256', MASTER).update(`rdmagate tls psk${'vol-1'}\0${NODE_A}`).digest();
      assert.match(psk, /^NVMeTLSkey-1:01:[A-Za-z0-9+/]{48}:$/);
      assert.ok(Buffer.from(secretBody(psk), 'base64').subarray(0, 32).equals(mac), 'the key is HMAC(master, label || volume_id || 0 || hostnqn)');
      assert.equal(psk, encodeTlsPsk(mac, 1), 'with its CRC-32');
      const all = [psk, deriveTlsPsk(MASTER, 'vol-2', NODE_A), deriveTlsPsk(MASTER, 'vol-1', NODE_B), deriveTlsPsk(`${MASTER}!`, 'vol-1', NODE_A)];
      assert.equal(new Set(all).size, all.length, 'each volume, host and master its own PSK');
      assert.equal(tlsPskFor(tlsPskSource({ 'tls-master-secret': MASTER }, 'vol-1', 'NodeStageVolume'), 'vol-1', NODE_A), psk,
        'the node derives what the controller does');
      const dhchapKey = Buffer.from(deriveDhchapSecret(MASTER, 'host', 'vol-1', NODE_A).split(':')[2]!, 'base64').subarray(0, 32);
      assert.ok(!dhchapKey.equals(mac), 'not the DH-HMAC-CHAP key of the same master, volume and host');
    });
  });

  describe('publish and unpublish (fake gateway)', () => {
    let rpc: FakeGatewayRpc;
    let controller: ControllerService;

    beforeEach(() => {
      rpc = new FakeGatewayRpc();
      controller = controllerWith(new NvmfExporter({ rpc, tcp: { traddr: '192.0.2.1', trsvcid: 4420 } }));
    });

    const create = async (name: string, parameters: StringMap, cap = BLOCK) =>
      (await controller.createVolume(createReq(name, parameters, cap))).volume.volume_id;
    const mutations = () => rpc.calls.filter((c) => MUTATING.test(c.method));

    it('a given PSK: a 0600 file, added to the keyring by name, the host allowed with psk, the volume on a secure channel at the TLS port', async () => {
      const id = await create('pvc-given', { tls: 'true' });
      const key = tlsPsk();
      const r = await controller.publishVolume(publishReq(id, NODE_A, { 'tls-psk': key }));
      assert.deepEqual(r.publish_context, { transport: 'tcp', traddr: '192.0.2.1', trsvcid: '4421', subnqn: volumeNqn(id),
        uuid: r.publish_context.uuid, nguid: r.publish_context.nguid }, 'the TLS port (tcp + 1), and no key');
      const [added] = rpc.callsOf('keyring_file_add_key') as { name: string; path: string }[];
      assert.ok(added.name.startsWith(keyNamePrefix(id, NODE_A)) && /_psk_\d+$/.test(added.name), added.name);
      assert.equal(added.path, join(t.keyDir, added.name));
      assert.equal(statSync(added.path).mode & 0o777, 0o600);
      assert.equal(readFileSync(added.path, 'utf8'), `${key}\n`);
      assert.deepEqual(rpc.callsOf('nvmf_subsystem_add_host'), [{ nqn: volumeNqn(id), host: NODE_A, psk: added.name }]);
      assert.deepEqual(rpc.callsOf('nvmf_subsystem_add_listener'), [{ nqn: volumeNqn(id),
        listen_address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '192.0.2.1', trsvcid: '4421' }, secure_channel: true }]);
      assert.equal(rpc.keys.get(added.name)?.secret, key);
      const order = rpc.calls.map((c) => c.method).filter((m) => /keyring_file_add_key|nvmf_subsystem_add_host/.test(m));
      assert.deepEqual(order, ['keyring_file_add_key', 'nvmf_subsystem_add_host'], 'the keyring had the key when the host was allowed');

      // The same publish again: the same file, nothing changed on the gateway.
      const before = mutations().length;
      await controller.publishVolume(publishReq(id, NODE_A, { 'tls-psk': key }));
      assert.equal(mutations().length, before, 'a repeated publish changes nothing');
      assert.deepEqual(keyFiles(), [added.name]);
      noSecretLogged(key);
    });

    it('a TLS address of its own (--tls-listen); with DH-HMAC-CHAP too: one add_host with the psk and both keys', async () => {
      controller = controllerWith(new NvmfExporter({ rpc, tcp: { traddr: '192.0.2.1', trsvcid: 4420 }, tls: { traddr: '192.0.2.9', trsvcid: 4430 } }));
      const id = await create('pvc-both', { tls: 'true', dhchap: 'bidirectional' });
      const secrets = { 'tls-master-secret': MASTER, 'dhchap-master-secret': MASTER };
      const r = await controller.publishVolume(publishReq(id, NODE_A, secrets));
      assert.equal(`${r.publish_context.traddr}:${r.publish_context.trsvcid}`, '192.0.2.9:4430');
      const [host] = rpc.callsOf('nvmf_subsystem_add_host') as { psk: string; dhchap_key: string; dhchap_ctrlr_key: string }[];
      assert.equal(rpc.keys.get(host.psk)?.secret, deriveTlsPsk(MASTER, id, NODE_A));
      assert.equal(rpc.keys.get(host.dhchap_key)?.secret, deriveDhchapSecret(MASTER, 'host', id, NODE_A));
      assert.equal(rpc.keys.get(host.dhchap_ctrlr_key)?.secret, deriveDhchapSecret(MASTER, 'ctrl', id, NODE_A));
      assert.equal(keyFiles().length, 3);
      assert.throws(() => new NvmfExporter({ rpc, tcp: { traddr: '192.0.2.1', trsvcid: 4420 }, tls: { traddr: '192.0.2.1', trsvcid: 4420 } }),
        /another port than the tcp one/);
      noSecretLogged(MASTER, deriveTlsPsk(MASTER, id, NODE_A));
    });

    it('a changed PSK: a new file and key, the host taken off and allowed again with it, the old key and file removed', async () => {
      const id = await create('pvc-rotate', { tls: 'true' });
      const first = tlsPsk();
      await controller.publishVolume(publishReq(id, NODE_A, { 'tls-psk': first }));
      const [old] = rpc.callsOf('keyring_file_add_key') as { name: string }[];
      const second = tlsPsk(2);
      rpc.calls.length = 0;
      await controller.publishVolume(publishReq(id, NODE_A, { 'tls-psk': second }));
      const [fresh] = rpc.callsOf('keyring_file_add_key') as { name: string; path: string }[];
      assert.ok(fresh && fresh.name !== old.name, 'another name: the gateway read the old file when it added that key');
      assert.deepEqual(mutations().map((c) => c.method),
        ['keyring_file_add_key', 'nvmf_subsystem_remove_host', 'nvmf_subsystem_add_host', 'keyring_file_remove_key']);
      assert.deepEqual(rpc.callsOf('nvmf_subsystem_add_host'), [{ nqn: volumeNqn(id), host: NODE_A, psk: fresh.name }]);
      assert.deepEqual(rpc.callsOf('keyring_file_remove_key'), [{ name: old.name }]);
      assert.deepEqual(keyFiles(), [fresh.name]);
      assert.equal(rpc.keys.get(fresh.name)?.secret, second);
      noSecretLogged(first, second);
    });

    it('missing or malformed secrets: INVALID_ARGUMENT before anything is written or asked of the gateway; unpublish takes it all off', async () => {
      const id = await create('pvc-master', { tls: 'true' }, SHARED);
      const refused: StringMap[] = [{}, { 'dhchap-master-secret': MASTER }, { 'tls-psk': 'NVMeTLSkey-1:01:bm90IGEga2V5:' }, { 'tls-master-secret': 'short' }];
      for (const secrets of refused) {
        await rejectsInProcess(controller.publishVolume(publishReq(id, NODE_A, secrets, SHARED)), GrpcStatus.INVALID_ARGUMENT, /TLS/);
      }
      assert.deepEqual(mutations(), [], 'the gateway was not changed');
      assert.ok(!existsSync(t.keyDir), 'no key file (not even the directory)');

      const secrets = { 'tls-master-secret': MASTER };
      await controller.publishVolume(publishReq(id, NODE_A, secrets, SHARED));
      await controller.publishVolume(publishReq(id, NODE_B, secrets, SHARED));
      const pskOf = (node: string) => rpc.keys.get(rpc.subsystems.get(volumeNqn(id))!.hostPsks.get(node)!)?.secret;
      assert.equal(pskOf(NODE_A), deriveTlsPsk(MASTER, id, NODE_A));
      assert.equal(pskOf(NODE_B), deriveTlsPsk(MASTER, id, NODE_B));
      assert.equal(rpc.subsystems.get(volumeNqn(id))!.listen.length, 1, 'one secure listener for every host');
      rpc.calls.length = 0;
      await controller.unpublishVolume({ volume_id: id, node_id: NODE_A, secrets: {} });
      assert.deepEqual(mutations().map((c) => c.method), ['nvmf_subsystem_remove_host', 'keyring_file_remove_key']);
      assert.ok(keyFiles().every((f) => f.startsWith(keyNamePrefix(id, NODE_B))) && keyFiles().length === 1, 'node B\'s file stays');
      await controller.unpublishVolume({ volume_id: id, node_id: '', secrets: {} });
      assert.equal(rpc.subsystems.size, 0);
      assert.equal(rpc.keys.size, 0);
      assert.deepEqual(keyFiles(), []);
      // A volume without tls ignores a PSK the CO passes anyway, and keeps its plain listener.
      const plain = await create('pvc-plain', {});
      await controller.publishVolume(publishReq(plain, NODE_A, { 'tls-psk': tlsPsk() }));
      assert.deepEqual(rpc.callsOf('nvmf_subsystem_add_host').at(-1), { nqn: volumeNqn(plain), host: NODE_A });
      assert.equal(rpc.callsOf('nvmf_subsystem_add_listener').at(-1)?.secure_channel, undefined);
      assert.equal((rpc.callsOf('nvmf_subsystem_add_listener').at(-1)?.listen_address as { trsvcid: string }).trsvcid, '4420');
      noSecretLogged(MASTER, deriveTlsPsk(MASTER, id, NODE_A), deriveTlsPsk(MASTER, id, NODE_B));
    });
  });

  it('a gateway group: each member on its own TLS address, in paths; a member that missed the publish gets the PSK on its resync', async () => {
    assert.deepEqual(parseGatewayMembers('a=/run/a.sock,tcp=10.0.0.5:4420,tls=10.0.0.5:4430,b=/run/b.sock,tcp=10.0.0.6:4420'), [
      { name: 'a', socket: '/run/a.sock', tcp: { traddr: '10.0.0.5', trsvcid: 4420 }, tls: { traddr: '10.0.0.5', trsvcid: 4430 } },
      { name: 'b', socket: '/run/b.sock', tcp: { traddr: '10.0.0.6', trsvcid: 4420 } }]);
    assert.throws(() => parseGatewayMembers('a=/run/a.sock,tls=10.0.0.5:4430,tls=10.0.0.5:4431'), /has tls= twice/);
    const rpcs = { a: new FakeGatewayRpc(), b: new FakeGatewayRpc() };
    const group = new GatewayGroup({ members: Object.entries(rpcs).map(([name, rpc], i) => ({ name, rpc,
      tcp: { traddr: `192.0.2.${i + 1}`, trsvcid: 4420 }, ...(i === 1 ? { tls: { traddr: '192.0.2.2', trsvcid: 5000 } } : {}) })) });
    const exporter = new GroupExporter({ group, log: t.log });
    const controller = controllerWith(exporter);
    const id = (await controller.createVolume(createReq('pvc-group', { tls: 'true' }, SHARED))).volume.volume_id;
    const secrets = { 'tls-master-secret': MASTER };
    const ctx = (await controller.publishVolume(publishReq(id, NODE_A, secrets, SHARED))).publish_context;
    assert.deepEqual(JSON.parse(ctx.paths!).map((p: { traddr: string; trsvcid: string }) => `${p.traddr}:${p.trsvcid}`).sort(),
      ['192.0.2.1:4421', '192.0.2.2:5000']);
    for (const rpc of Object.values(rpcs)) {
      const s = rpc.subsystems.get(volumeNqn(id))!;
      assert.equal(rpc.keys.get(s.hostPsks.get(NODE_A)!)?.secret, deriveTlsPsk(MASTER, id, NODE_A), 'each member\'s keyring reads the same file');
      assert.equal(s.listen[0]!.secure_channel, true);
    }
    group.markDown('b');
    await controller.publishVolume(publishReq(id, NODE_B, secrets, SHARED));
    group.markUp('b');
    const r = await exporter.resync('b', 'a', (v) => controller.exportSpec(v));
    assert.deepEqual(r.hosts, [id]);
    assert.equal(rpcs.b.keys.get(rpcs.b.subsystems.get(volumeNqn(id))!.hostPsks.get(NODE_B)!)?.secret, deriveTlsPsk(MASTER, id, NODE_B));
    // Without its PSK file, a host is not allowed on a member at all.
    await controller.unpublishVolume({ volume_id: id, node_id: NODE_B, secrets: {} });
    group.markDown('b');
    await controller.publishVolume(publishReq(id, NODE_B, secrets, SHARED));
    group.markUp('b');
    for (const f of readdirSync(t.keyDir)) if (f.startsWith(keyNamePrefix(id, NODE_B))) rmSync(join(t.keyDir, f));
    const lost = await exporter.resync('b', 'a', (v) => controller.exportSpec(v));
    assert.deepEqual(lost.unknown, [id]);
    assert.equal(rpcs.b.subsystems.get(volumeNqn(id))!.hosts.has(NODE_B), false);

    // `group check`: a host whose PSK (by name) differs between members is a host-keys finding.
    const members = Object.entries(rpcs).map(([name, rpc]) => ({ name, rpc }));
    assert.deepEqual((await checkGroup(members)).findings.filter((f) => f.kind === 'host-keys'), []);
    rpcs.b.subsystems.get(volumeNqn(id))!.hostPsks.set(NODE_A, 'csi_stale_psk');
    const [finding] = (await checkGroup(members)).findings.filter((f) => f.kind === 'host-keys');
    assert.match(finding!.message, new RegExp(`the keys \\(DH-HMAC-CHAP, TLS PSK\\) of ${NODE_A.replace(/\./g, '\\.')} differ: a -/- psk=csi_\\S+, b -/- psk=csi_stale_psk$`));
    noSecretLogged(MASTER, deriveTlsPsk(MASTER, id, NODE_A), deriveTlsPsk(MASTER, id, NODE_B));
  });

  it('end to end: the real gateway serves the volume over TLS to rdmagate\'s host with the node\'s PSK, and to nothing else', async () => {
    await withGateway(async (gateway, controller, port) => {
      const pool = new BufferPool({ chunkSize: 64 * 1024 });
      const id = (await controller.createVolume(createReq('pvc-e2e', { tls: 'true' }, SHARED))).volume.volume_id;
      const secrets = { 'tls-master-secret': MASTER };
      const ctx = (await controller.publishVolume(publishReq(id, NODE_A, secrets, SHARED))).publish_context;
      await controller.publishVolume(publishReq(id, NODE_B, secrets, SHARED));
      assert.equal(ctx.trsvcid, String(port + 1));
      type Sub = { hosts: { nqn: string; psk?: string }[]; listen_addresses: { trsvcid: string; secure_channel?: boolean }[] };
      const [sub] = (await gateway.rpc('nvmf_get_subsystems', { nqn: volumeNqn(id) })) as Sub[];
      assert.ok(sub.hosts.every((h) => h.psk?.startsWith(keyNamePrefix(id, h.nqn))), JSON.stringify(sub.hosts));
      assert.deepEqual(sub.listen_addresses.map((l) => [l.trsvcid, l.secure_channel]), [[String(port + 1), true]]);

      // What the node connects with: its own derivation for its own NQN.
      const pskOf = (node: string) => tlsPskFor(tlsPskSource(secrets, id, 'NodeStageVolume'), id, node);
      const connect = (hostnqn: string, o: Partial<nvmf.ConnectOptions>) => nvmf.connect({ traddr: ctx.traddr, trsvcid: Number(ctx.trsvcid),
        subnqn: ctx.subnqn, hostnqn, ctrlLossTmo: 0, timeoutMs: 5000, ...o });
      const c = await connect(NODE_A, { psk: pskOf(NODE_A) });
      const w = pool.acquire();
      const rd = pool.acquire();
      try {
        assert.equal(c.namespaces[0]?.uuid, id);
        for (let i = 0; i < 4096; i++) w[i] = (i * 7 + 3) & 0xff;
        await c.queuePairs[0]!.write(1, 0n, 8, w);
        await c.queuePairs[0]!.read(1, 0n, 8, rd);
        assert.ok(Buffer.from(rd.buffer, rd.byteOffset, 4096).equals(Buffer.from(w.buffer, w.byteOffset, 4096)), 'I/O over TLS');
      } finally {
        w.release();
        rd.release();
        await c.close();
      }
      await assert.rejects(connect(NODE_A, {}), { code: 'ERR_NVME_CONNECT' }, 'no PSK: refused');
      await assert.rejects(connect(NODE_A, { psk: pskOf(NODE_B) }), { code: 'ERR_NVME_CONNECT' }, 'another host\'s PSK: refused');
      await assert.rejects(connect(NODE_A, { psk: pskOf(NODE_A), trsvcid: port }), 'nothing on the plain port');

      await controller.unpublishVolume({ volume_id: id, node_id: '', secrets: {} });
      assert.deepEqual(await gateway.rpc('keyring_get_keys'), []);
      assert.deepEqual(keyFiles(), []);
      noSecretLogged(MASTER, pskOf(NODE_A), pskOf(NODE_B));
    });
  });
});
