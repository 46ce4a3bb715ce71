/**
 * The mayastor plugin and its REST client against a fake Mayastor control plane that
 * checks every request and every answer against the v0 OpenAPI spec, where the spec is
 * at hand (../shared/reference beside the repository; the spec itself is not part of
 * this project). Volumes (thin, thick, replicas), idempotency by name across lost
 * records, deletion, expansion, snapshots, restores, capacity from pools, the NVMe-oF
 * source from the target's device URI, error mapping, and state across restarts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogEntry } from '../../lib';
import { CsiError, CsiLogger, GrpcStatus, MayastorApiError, MayastorClient, MayastorPlugin } from '../../lib/csi';
import { nvmfSourceFromUri } from '../../lib/csi/plugins/mayastor/device-uri';
import { snapshotIdFor, uuidV5, volumeIdFor } from '../../lib/csi/plugins/mayastor/ids';
import { rejectsInProcess } from '../support/csi-assert';
import type { MayastorFakeServer } from '../support/mayastor-fake-server';
import {
  closeFakeMayastor, MAYASTOR_SPEC as SPEC, MAYASTOR_SPEC_PATH, openMayastorPlugin, startFakeMayastor,
} from '../support/mayastor-fixture';

const NO_SPEC = `the Mayastor v0 OpenAPI spec is not at ${MAYASTOR_SPEC_PATH} (it is reference material kept beside the repository, not in it)`;

const MiB = 1 << 20;
const GiB = 1 << 30;
const UNIT = 4 * MiB;

describe('CSI mayastor plugin', function () {
  this.timeout(20000);
  let fake: MayastorFakeServer;
  let dir: string;
  let logs: LogEntry[];
  let plugin: MayastorPlugin;

  const spec = (name: string, extra: object = {}) => ({
    name, capacityBytes: 64 * MiB, parameters: { plugin: 'mayastor' }, context: { plugin: 'mayastor', transport: 'tcp' }, thin: true, ...extra,
  });

  const open = (stateDir = join(dir, 'state'), endpoint = fake.url): Promise<MayastorPlugin> =>
    openMayastorPlugin(endpoint, stateDir, new CsiLogger((e) => logs.push(e)));

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-csi-mayastor-'));
    logs = [];
    fake = await startFakeMayastor();
    plugin = await open();
  });

  afterEach(async () => {
    const violations = await closeFakeMayastor(fake);
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(violations, [], 'every request and answer conforms to the v0 spec');
  });

  describe('volumes', () => {
    it('creates thin and thick volumes with the StorageClass replicas, under ids derived from their names', async () => {
      const thin = await plugin.createVolume(spec('pvc-thin', { replicas: 3 }));
      const thick = await plugin.createVolume(spec('pvc-thick', { thin: false, capacityBytes: GiB }));
      assert.equal(thin.id, volumeIdFor('pvc-thin'));
      assert.equal(thin.uuid, thin.id, 'the NVMe namespace UUID is the Mayastor volume UUID');
      assert.equal(thin.capacityBytes, 64 * MiB);
      assert.equal(thick.capacityBytes, GiB);
      const put = fake.requests.filter((r) => r.method === 'PUT' && /^\/v0\/volumes\/[^/]+$/.test(r.path));
      assert.deepEqual(put.map((r) => r.path), [`/v0/volumes/${thin.id}`, `/v0/volumes/${thick.id}`]);
      assert.deepEqual(put[0].body, { policy: { self_heal: true }, replicas: 3, size: 64 * MiB, thin: true,
        labels: { 'rdmagate.io/created-by': 'rdmagate-csi', 'rdmagate.io/csi-name': 'pvc-thin' } });
      assert.deepEqual({ replicas: fake.volumes.get(thin.id)?.replicas, thin: fake.volumes.get(thin.id)?.thin }, { replicas: 3, thin: true });
      assert.deepEqual({ replicas: fake.volumes.get(thick.id)?.replicas, thin: fake.volumes.get(thick.id)?.thin }, { replicas: 1, thin: false });
      assert.deepEqual(plugin.volumes().map((v) => v.name).sort(), ['pvc-thick', 'pvc-thin']);
      assert.equal(plugin.volumeByName('pvc-thin')?.id, thin.id);
      assert.deepEqual(plugin.volume(thick.id)?.context, { plugin: 'mayastor', transport: 'tcp' });
      assert.doesNotThrow(() => plugin.checkParameters({ replicas: 3, thin: false }));
    });

    it('re-creating a name Mayastor has already (its record lost) adopts the same volume', async () => {
      const first = await plugin.createVolume(spec('pvc-a', { replicas: 2 }));
      // A second controller with an empty state directory: only Mayastor remembers.
      const other = await open(join(dir, 'other'));
      const again = await other.createVolume(spec('pvc-a', { replicas: 2 }));
      assert.equal(again.id, first.id);
      assert.equal(fake.volumes.size, 1);
      assert.ok(logs.some((l) => l.msg === 'mayastor volume adopted'));
    });

    it('an incompatible re-create is ALREADY_EXISTS, and leaves the existing volume alone', async () => {
      const first = await plugin.createVolume(spec('pvc-b', { replicas: 2 }));
      const other = await open(join(dir, 'other'));
      await rejectsInProcess(other.createVolume(spec('pvc-b', { replicas: 3 })), GrpcStatus.ALREADY_EXISTS, /with 2 replicas/);
      await rejectsInProcess(other.createVolume(spec('pvc-b', { replicas: 2, capacityBytes: 128 * MiB })), GrpcStatus.ALREADY_EXISTS, /size 67108864/);
      await rejectsInProcess(other.createVolume(spec('pvc-b', { replicas: 2, thin: false })), GrpcStatus.ALREADY_EXISTS, /thin=true/);
      assert.ok(fake.volumes.has(first.id), 'not deleted');
      assert.equal(other.volumeByName('pvc-b'), undefined, 'no record kept');
      // The plugin's own record of a ready volume under that id: no request at all.
      const before = fake.requests.length;
      await rejectsInProcess(plugin.createVolume(spec('pvc-b')), GrpcStatus.ALREADY_EXISTS);
      assert.equal(fake.requests.length, before);
    });

    it('deletes; deleting what is gone, here or in Mayastor, succeeds', async () => {
      const v = await plugin.createVolume(spec('pvc-del'));
      await plugin.deleteVolume(v.id);
      assert.ok(!fake.volumes.has(v.id));
      assert.equal(plugin.volume(v.id), undefined);
      await plugin.deleteVolume(v.id);
      const w = await plugin.createVolume(spec('pvc-del-2'));
      fake.volumes.delete(w.id); // lost behind our back
      await plugin.deleteVolume(w.id);
      assert.equal(plugin.volume(w.id), undefined);
      assert.deepEqual(fake.calls().filter((c) => c.startsWith('DELETE')), [`DELETE /v0/volumes/${v.id}`, `DELETE /v0/volumes/${w.id}`]);
    });

    it('expands by resize, rounded up to 4 MiB, and never shrinks', async () => {
      const v = await plugin.createVolume(spec('pvc-grow'));
      const grown = await plugin.expandVolume(v.id, 100 * MiB + 1);
      assert.equal(grown.capacityBytes, 104 * MiB);
      assert.equal(fake.volumes.get(v.id)?.size, 104 * MiB);
      const resize = fake.requests.filter((r) => r.path === `/v0/volumes/${v.id}/size`);
      assert.deepEqual(resize.map((r) => [r.method, r.body]), [['PUT', { size: 104 * MiB }]]);
      assert.equal((await plugin.expandVolume(v.id, 8 * MiB)).capacityBytes, 104 * MiB);
      assert.equal(fake.requests.filter((r) => r.path.endsWith('/size')).length, 1, 'no request to shrink');
      await rejectsInProcess(plugin.expandVolume('00000000-0000-4000-8000-000000000000', GiB), GrpcStatus.NOT_FOUND);
    });

    it('refuses to clone a volume: the API has none', async () => {
      const v = await plugin.createVolume(spec('pvc-src'));
      await rejectsInProcess(plugin.createVolume(spec('pvc-clone', { source: { kind: 'volume', id: v.id } })), GrpcStatus.INVALID_ARGUMENT,
        /no volume clone.*snapshot/);
      assert.equal(fake.volumes.size, 1);
    });
  });

  describe('snapshots and restores', () => {
    it('creates, lists and deletes snapshots, idempotently', async () => {
      const v = await plugin.createVolume(spec('pvc-s'));
      const s = await plugin.createSnapshot({ name: 'snap-1', sourceVolumeId: v.id, inUse: true });
      assert.equal(s.id, snapshotIdFor('snap-1'));
      assert.equal(s.sourceVolumeId, v.id);
      assert.equal(s.sizeBytes, 64 * MiB);
      assert.equal(s.method, 'backend');
      assert.equal(s.createdAtMs, Date.parse(fake.snapshots.get(s.id)!.timestamp));
      assert.ok(fake.calls().includes(`PUT /v0/volumes/${v.id}/snapshots/${s.id}`));
      assert.deepEqual(plugin.snapshots().map((x) => x.id), [s.id]);
      assert.equal(plugin.snapshotByName('snap-1')?.id, s.id);
      // Lost record, snapshot in Mayastor: adopted.
      const other = await open(join(dir, 'other'));
      const w = await other.createVolume(spec('pvc-s'));
      assert.equal((await other.createSnapshot({ name: 'snap-1', sourceVolumeId: w.id, inUse: false })).id, s.id);
      await plugin.deleteSnapshot(s.id);
      assert.ok(!fake.snapshots.has(s.id));
      assert.ok(fake.calls().includes(`DELETE /v0/volumes/snapshots/${s.id}`));
      await plugin.deleteSnapshot(s.id);
      assert.deepEqual(plugin.snapshots(), []);
      await rejectsInProcess(plugin.createSnapshot({ name: 'snap-2', sourceVolumeId: '00000000-0000-4000-8000-000000000000', inUse: false }),
        GrpcStatus.NOT_FOUND);
    });

    it('restores a snapshot into a new volume, at its size then resized to the request', async () => {
      const v = await plugin.createVolume(spec('pvc-orig', { replicas: 2 }));
      const s = await plugin.createSnapshot({ name: 'snap-r', sourceVolumeId: v.id, inUse: false });
      const same = await plugin.createVolume(spec('pvc-restored', { replicas: 2, source: { kind: 'snapshot', id: s.id } }));
      assert.deepEqual(same.source, { kind: 'snapshot', id: s.id });
      assert.equal(same.capacityBytes, 64 * MiB);
      const restore = fake.requests.find((r) => r.path === `/v0/snapshots/${s.id}/volumes/${same.id}`);
      assert.equal(restore?.method, 'PUT');
      assert.deepEqual(restore?.body, { policy: { self_heal: true }, replicas: 2, size: 64 * MiB, thin: true,
        labels: { 'rdmagate.io/created-by': 'rdmagate-csi', 'rdmagate.io/csi-name': 'pvc-restored' } });
      assert.deepEqual(fake.volumes.get(same.id)?.source, { snapshot: s.id, volume: v.id });
      const bigger = await plugin.createVolume(spec('pvc-bigger', { capacityBytes: 256 * MiB, source: { kind: 'snapshot', id: s.id } }));
      assert.equal(bigger.capacityBytes, 256 * MiB);
      assert.equal(fake.volumes.get(bigger.id)?.size, 256 * MiB);
      assert.ok(fake.calls().includes(`PUT /v0/volumes/${bigger.id}/size`));
      await rejectsInProcess(plugin.createVolume(spec('pvc-nosnap', { source: { kind: 'snapshot', id: snapshotIdFor('nope') } })),
        GrpcStatus.NOT_FOUND);
    });
  });

  it('capacity comes from the pools that are up: free space, and the largest pool', async () => {
    await fake.close();
    fake = await startFakeMayastor({
      pools: [
        { id: 'p1', node: 'n1', capacity: 8 * GiB, used: GiB },
        { id: 'p2', node: 'n2', capacity: 20 * GiB + 3 * MiB },
        { id: 'p3', node: 'n3', capacity: 50 * GiB, offline: true },
        { id: 'p4', node: 'n4', capacity: 50 * GiB, status: 'Faulted' },
      ],
    });
    plugin = await open(join(dir, 'cap'));
    assert.deepEqual(await plugin.capacity(), { availableBytes: 27 * GiB + 3 * MiB, maximumVolumeBytes: 20 * GiB, minimumVolumeBytes: UNIT });
    await plugin.createVolume(spec('pvc-thick', { thin: false, capacityBytes: 2 * GiB }));
    assert.equal((await plugin.capacity()).availableBytes, 25 * GiB + 3 * MiB, 'a thick volume takes its size');
    await plugin.createVolume(spec('pvc-thin', { capacityBytes: 2 * GiB }));
    assert.equal((await plugin.capacity()).availableBytes, 25 * GiB + 3 * MiB, 'a thin one nothing yet');
    await rejectsInProcess(plugin.createVolume(spec('pvc-huge', { thin: false, capacityBytes: 40 * GiB })), GrpcStatus.RESOURCE_EXHAUSTED,
      /507 ResourceExhausted: Not enough suitable pools/);
    assert.equal(plugin.volumeByName('pvc-huge'), undefined);
  });

  describe('the block source', () => {
    it('publishes the target over NVMe-oF once, and gives its address and NQN; release unpublishes it', async () => {
      const v = await plugin.createVolume(spec('pvc-pub', { replicas: 2 }));
      const source = await plugin.blockSource(v.id);
      assert.deepEqual(source, { kind: 'nvmf', transport: 'tcp', traddr: '10.1.0.5', trsvcid: '8420', subnqn: `nqn.2019-05.io.openebs:${v.id}` });
      const publish = fake.requests.filter((r) => r.path === `/v0/volumes/${v.id}/target`);
      assert.deepEqual(publish.map((r) => [r.method, r.body]), [['PUT', { protocol: 'nvmf', publish_context: {}, reuse_existing: true }]]);
      assert.deepEqual(await plugin.blockSource(v.id), source, 'a published target is reused');
      assert.equal(fake.requests.filter((r) => r.method === 'PUT' && r.path.endsWith('/target')).length, 1);
      await plugin.releaseSource(v.id);
      assert.equal(fake.volumes.get(v.id)?.target, undefined);
      await plugin.releaseSource(v.id); // NotPublished: done already
      await plugin.deleteVolume(v.id);
      await plugin.releaseSource(v.id); // NotFound: done already
      await rejectsInProcess(plugin.blockSource(v.id), GrpcStatus.NOT_FOUND);
    });

    it('places targets on the configured node', async () => {
      const p = new MayastorPlugin({ endpoint: fake.url, stateDir: join(dir, 'node'), targetNode: 'io-engine-2' });
      await p.open();
      const v = await p.createVolume(spec('pvc-node'));
      await p.blockSource(v.id);
      assert.equal(fake.volumes.get(v.id)?.target?.node, 'io-engine-2');
    });

    it('parses device URIs: IPv6, no port, and refuses what the gateway cannot attach', () => {
      assert.deepEqual(nvmfSourceFromUri('nvmf://[fd00::5]:8420/nqn.2019-05.io.openebs:x'),
        { kind: 'nvmf', transport: 'tcp', traddr: 'fd00::5', trsvcid: '8420', subnqn: 'nqn.2019-05.io.openebs:x' });
      assert.equal(nvmfSourceFromUri('nvmf://10.0.0.1/nqn.a:b').trsvcid, '4420');
      assert.equal(nvmfSourceFromUri('nvmf+tcp://10.0.0.1:4421/nqn.a:b?uuid=1').subnqn, 'nqn.a:b');
      assert.throws(() => nvmfSourceFromUri('nvmf+rdma://10.0.0.1:4420/nqn.a:b'), (e: unknown) =>
        e instanceof CsiError && e.grpcCode === GrpcStatus.FAILED_PRECONDITION && /TCP only/.test(e.message));
      assert.throws(() => nvmfSourceFromUri('iscsi://10.0.0.1:3260/iqn.x'), /not NVMe-oF/);
      assert.throws(() => nvmfSourceFromUri('nvmf://10.0.0.1:4420/'), /no subsystem NQN/);
    });
  });

  describe('errors', () => {
    it('are CSI codes by RestJsonError kind, with the body in the message', async () => {
      const v = await plugin.createVolume(spec('pvc-err'));
      const path = new RegExp(`/volumes/${v.id}/size$`);
      const cases: [number, { kind: string; details: string } | string | undefined, GrpcStatus, RegExp][] = [
        [404, { kind: 'NotFound', details: `Volume '${v.id}' not found` }, GrpcStatus.NOT_FOUND, /404 NotFound: Volume '.*' not found/],
        [422, { kind: 'AlreadyExists', details: 'exists' }, GrpcStatus.ALREADY_EXISTS, /422 AlreadyExists/],
        [409, { kind: 'Conflict', details: 'another operation is in progress' }, GrpcStatus.ABORTED, /409 Conflict: another operation/],
        [409, { kind: 'InUse', details: 'in use' }, GrpcStatus.FAILED_PRECONDITION, /409 InUse/],
        [409, '', GrpcStatus.FAILED_PRECONDITION, /: 409$/],
        [412, { kind: 'FailedPrecondition', details: 'published' }, GrpcStatus.FAILED_PRECONDITION, /412 FailedPrecondition/],
        [507, { kind: 'ResourceExhausted', details: 'no room' }, GrpcStatus.RESOURCE_EXHAUSTED, /507 ResourceExhausted: no room/],
        [507, { kind: 'CapacityLimitExceeded', details: 'limit' }, GrpcStatus.RESOURCE_EXHAUSTED, /CapacityLimitExceeded/],
        [416, { kind: 'OutOfRange', details: 'too big' }, GrpcStatus.OUT_OF_RANGE, /416 OutOfRange/],
        [400, { kind: 'InvalidArgument', details: 'bad size' }, GrpcStatus.INVALID_ARGUMENT, /400 InvalidArgument: bad size/],
        [500, { kind: 'Internal', details: 'etcd hiccup' }, GrpcStatus.UNAVAILABLE, /500 Internal: etcd hiccup/],
        [503, { kind: 'Unavailable', details: 'core agent down' }, GrpcStatus.UNAVAILABLE, /503 Unavailable/],
        [502, '<html>Bad Gateway</html>', GrpcStatus.UNAVAILABLE, /502: <html>Bad Gateway/],
        [504, { kind: 'DeadlineExceeded', details: 'slow' }, GrpcStatus.DEADLINE_EXCEEDED, /504 DeadlineExceeded/],
      ];
      for (const [status, body, code, message] of cases) {
        fake.inject({ method: 'PUT', path, status, ...(body !== undefined ? { body } : {}) });
        const e = await rejectsInProcess(plugin.expandVolume(v.id, 128 * MiB), code, message);
        assert.ok(e instanceof MayastorApiError);
        assert.equal(e.httpStatus, status);
        assert.match(e.message, new RegExp(`^mayastor PUT /volumes/${v.id}/size: `));
      }
      assert.equal(plugin.volume(v.id)?.capacityBytes, 64 * MiB, 'nothing changed');
    });

    it('a control plane that cannot be reached is UNAVAILABLE, one too slow DEADLINE_EXCEEDED', async () => {
      const v = await plugin.createVolume(spec('pvc-down'));
      fake.inject({ method: 'GET', path: /\/pools$/, delayMs: 2500 });
      await rejectsInProcess(plugin.capacity(), GrpcStatus.DEADLINE_EXCEEDED, /no answer in 2000 ms/);
      assert.deepEqual(fake.violations, []);
      await fake.close();
      await rejectsInProcess(plugin.capacity(), GrpcStatus.UNAVAILABLE, /ECONNREFUSED/);
      await rejectsInProcess(plugin.blockSource(v.id), GrpcStatus.UNAVAILABLE, /ECONNREFUSED/);
      // A failed create keeps a 'creating' record when it cannot clean up: invisible, purged at the next start.
      await rejectsInProcess(plugin.createVolume(spec('pvc-while-down')), GrpcStatus.UNAVAILABLE);
      assert.equal(plugin.volumeByName('pvc-while-down'), undefined);
      fake = await startFakeMayastor();
    });

    it('refuses endpoints that are not http(s) URLs', () => {
      assert.throws(() => new MayastorClient({ endpoint: 'tcp://1.2.3.4:80' }), /http\(s\) URL/);
      assert.throws(() => new MayastorClient({ endpoint: 'mayastor:8080' }), /http\(s\) URL/);
      assert.equal(new MayastorClient({ endpoint: 'http://10.0.0.1:30011/v0/' }).endpoint, 'http://10.0.0.1:30011');
    });
  });

  describe('state across restarts', () => {
    it('keeps volumes and snapshots; removes what a crash left half-made, here and in Mayastor', async () => {
      const v = await plugin.createVolume(spec('pvc-keep', { replicas: 2 }));
      const s = await plugin.createSnapshot({ name: 'snap-keep', sourceVolumeId: v.id, inUse: false });
      // A create cut off after Mayastor made the volume, before the record said 'ready'.
      const halfId = volumeIdFor('pvc-half');
      const half = await plugin.createVolume(spec('pvc-half'));
      const file = join(dir, 'state', 'state.json');
      const state = JSON.parse(readFileSync(file, 'utf8')) as { volumes: Record<string, { status: string }> };
      state.volumes[halfId].status = 'creating';
      writeFileSync(file, JSON.stringify(state));
      assert.equal(half.id, halfId);

      const restarted = await open();
      assert.deepEqual(restarted.volume(v.id), plugin.volume(v.id));
      assert.deepEqual(restarted.snapshot(s.id), plugin.snapshot(s.id));
      assert.equal(restarted.volumeByName('pvc-half'), undefined);
      assert.ok(!fake.volumes.has(halfId), 'the half-made volume is deleted from Mayastor');
      const saved = JSON.parse(readFileSync(file, 'utf8')) as { volumes: Record<string, unknown> };
      assert.deepEqual(Object.keys(saved.volumes), [v.id]);
      // The CO's retry makes it anew, under the same id.
      assert.equal((await restarted.createVolume(spec('pvc-half'))).id, halfId);
    });

    it('opens with Mayastor down, keeping every record, and warns of volumes Mayastor lost', async () => {
      const v = await plugin.createVolume(spec('pvc-x'));
      const gone = await plugin.createVolume(spec('pvc-gone'));
      fake.volumes.delete(gone.id);
      await open();
      assert.ok(logs.some((l) => l.msg === 'mayastor: a recorded volume is missing from the control plane'));
      const url = fake.url;
      await fake.close();
      logs = [];
      const offline = await open(join(dir, 'state'), url);
      assert.equal(offline.volume(v.id)?.name, 'pvc-x');
      assert.ok(logs.some((l) => l.msg === 'mayastor: could not check the recorded volumes against the control plane'));
      fake = await startFakeMayastor();
    });

    it('refuses a state file of another version', async () => {
      writeFileSync(join(dir, 'state', 'state.json'), JSON.stringify({ version: 9, volumes: {}, snapshots: {} }));
      await assert.rejects(open(), /state version 9/);
    });
  });

  it('derives ids as RFC 9562 name-based UUIDs (version 5)', () => {
    // The RFC's example: www.example.com in the DNS namespace.
    assert.equal(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com'), '2ed6657d-e927-568b-95e1-2665a8aea6a2');
    assert.notEqual(volumeIdFor('x'), snapshotIdFor('x'));
  });

  // Without the spec the fake still serves (unchecked); these two say why they are skipped.
  describe(SPEC ? 'against the v0 OpenAPI spec' : `against the v0 OpenAPI spec: skipped, ${NO_SPEC}`, () => {
    it('every operation the plugin uses was checked, request and answer', async function () {
      if (!SPEC) this.skip();
      const v = await plugin.createVolume(spec('pvc-all'));
      await plugin.expandVolume(v.id, 128 * MiB);
      const s = await plugin.createSnapshot({ name: 'snap-all', sourceVolumeId: v.id, inUse: false });
      const r = await plugin.createVolume(spec('pvc-all-r', { capacityBytes: 128 * MiB, source: { kind: 'snapshot', id: s.id } }));
      await plugin.blockSource(r.id);
      await plugin.releaseSource(r.id);
      await plugin.capacity();
      await plugin.client.volumes();
      await plugin.client.snapshots(v.id);
      await plugin.client.snapshot(s.id);
      await plugin.deleteSnapshot(s.id);
      await plugin.deleteVolume(r.id);
      await plugin.deleteVolume(v.id);
      const used = ['get_pools', 'get_volumes', 'get_volume', 'put_volume', 'del_volume', 'put_volume_size', 'put_volume_target',
        'del_volume_target', 'put_volume_snapshot', 'get_volumes_snapshot', 'get_volumes_snapshots', 'del_snapshot', 'put_snapshot_volume'];
      for (const id of used) assert.ok(SPEC!.operationIds().includes(id), `${id} is in the spec`);
      assert.deepEqual(used.filter((id) => !fake.checkedOperations.has(id)), []);
    });

    it('the checks are live: an undefined request, a bad body or parameter, a bad answer are caught', async function () {
      if (!SPEC) this.skip();
      const post = await fetch(`${fake.url}/v0/volumes/${volumeIdFor('x')}`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
      assert.equal(post.status, 404);
      const bad = await fetch(`${fake.url}/v0/volumes/not-a-uuid`, { method: 'PUT', body: JSON.stringify({ size: 1, thin: true, replicas: 1 }) });
      assert.equal(bad.status, 400);
      const noMax = await fetch(`${fake.url}/v0/volumes`);
      assert.equal(noMax.status, 400);
      const seen = fake.violations.splice(0);
      assert.ok(seen.some((e) => /POST \/v0\/volumes\/.*the spec has no POST/.test(e)), seen.join('\n'));
      assert.ok(seen.some((e) => /path parameter volume_id: .*not a uuid/.test(e)), seen.join('\n'));
      assert.ok(seen.some((e) => /request body: policy is required/.test(e)), seen.join('\n'));
      assert.ok(seen.some((e) => /query parameter max_entries is required/.test(e)), seen.join('\n'));
      // Our own answers are checked too: a VolumeSpec without num_paths is not one.
      const v = { spec: { uuid: volumeIdFor('x'), size: 1, num_replicas: 1, protocol: 'none', status: 'Created', policy: { self_heal: true },
        thin: true, num_snapshots: 0 }, state: { uuid: volumeIdFor('x'), size: 1, status: 'Online', replica_topology: {} } };
      assert.deepEqual(SPEC!.validate({ $ref: '#/components/schemas/Volume' }, v), ['$.spec: num_paths is required']);
      assert.match(SPEC!.validate({ $ref: '#/components/schemas/Volume' }, { ...v, spec: { ...v.spec, num_paths: 1, thin: 'yes' } }).join(),
        /\$\.spec\.thin: expected boolean/);
      assert.match(SPEC!.validate({ $ref: '#/components/schemas/NodeTopology' }, { explicit: { allowed_nodes: [], preferred_nodes: [] },
        labelled: { exclusion: {}, inclusion: {} } }).join(), /matches 2 of the oneOf/);
    });
  });
});
