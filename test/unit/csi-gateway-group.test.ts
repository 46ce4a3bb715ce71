/**
 * The CSI controller over a gateway group (issue 17): in-process gateways on their own
 * JSON-RPC sockets and NVMe/TCP ports, a local pool, the Controller service over gRPC.
 * Publishing exports each volume on every member alike (NGUID, UUID, serial, model) with
 * ANA reporting, controller ID ranges apart and one optimized listener, and gives the node
 * every path; unpublishing takes it off every member; a member down is the group's rule
 * (--group-min-members); the agent moves a lost member's optimized volumes to a survivor
 * and resyncs the member when it is back; `group check` finds each kind of drift; and
 * rdmagate's own multipath host keeps its I/O when the optimized gateway goes.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BufferPool, Gateway, nvmf } from '../../lib';
import {
  checkGroup, cntlidRange, ControllerService, CsiClient, CsiLogger, CsiServer, GatewayGroup, GrpcStatus, GroupAgent, GroupExporter,
  LocalPlugin, rankMembers, socketGatewayRpc, VOLUME_MODEL, volumeNqn, volumeSerial, type GroupFindingKind, type GroupMember,
} from '../../lib/csi';
import { rpcCall, type JsonObject } from '../../lib/jsonrpc';
import type { LogEntry } from '../../lib/log/logger';
import { rejectsOverGrpc } from '../support/csi-assert';
import { dhchapSecret } from '../support/dhchap-secret';

const MAIN = resolve(__dirname, '../../lib/cli/main.js');
const NODE_A = `nqn.2014-08.org.nvmexpress:uuid:${randomUUID()}`;
const NODE_B = `nqn.2014-08.org.nvmexpress:uuid:${randomUUID()}`;
const MiB = 1 << 20;
const BLOCK = { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
const BLOCK_SHARED = { block: {}, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } };

// Below Linux's ephemeral range (32768-60999), where outgoing connections take their ports.
let nextPort = 20000 + Math.floor(Math.random() * 10000);

interface Member {
  name: string;
  sock: string;
  port: number;
  config: string;
  gateway?: Gateway;
}

interface SubsystemJson {
  serial_number: string;
  model_number: string;
  ana_reporting: boolean;
  min_cntlid: number;
  max_cntlid: number;
  hosts: { nqn: string }[];
  namespaces: { nsid: number; nguid: string; uuid: string }[];
}

describe('CSI controller over a gateway group (in-process gateways)', function () {
  this.timeout(30000);
  let dir: string;
  let members: Member[];
  let group: GatewayGroup;
  let exporter: GroupExporter;
  let controller: ControllerService;
  let agent: GroupAgent;
  let server: CsiServer;
  let client: CsiClient;
  let logs: LogEntry[];

  async function startMember(m: Member, options: { keepConfig?: boolean } = {}): Promise<void> {
    m.gateway = new Gateway({ socketPath: m.sock, configPath: options.keepConfig === false ? null : m.config, log: () => undefined });
    await m.gateway.start();
  }

  async function stopMember(m: Member): Promise<void> {
    await m.gateway?.close();
    m.gateway = undefined;
  }

  /** A member's RPC straight to its socket, failing at once when it is down (the health probe). */
  const probe = (m: GroupMember) => rpcCall(join(dir, `${m.name}.sock`), 'rpc_get_methods', undefined, { timeoutMs: 1000 })
    .then(() => true, () => false);

  async function startGroup(count: number, minMembers = 1): Promise<void> {
    members = Array.from({ length: count }, (_, i) => {
      const name = String.fromCharCode(97 + i);
      return { name, sock: join(dir, `${name}.sock`), port: nextPort++, config: join(dir, `${name}.json`) };
    });
    for (const m of members) await startMember(m);
    const log = new CsiLogger((e) => logs.push(e));
    group = new GatewayGroup({
      members: members.map((m) => ({ name: m.name, rpc: socketGatewayRpc(m.sock, 2000), tcp: { traddr: '127.0.0.1', trsvcid: m.port } })),
      minMembers,
    });
    exporter = new GroupExporter({ group, log });
    const plugin = new LocalPlugin({ poolDir: join(dir, 'pool'), log });
    await plugin.open();
    controller = new ControllerService({ plugins: [plugin], exporter, log });
    agent = new GroupAgent({ exporter, log, lookup: (id) => controller.exportSpec(id), probe });
    await agent.check();
    const endpoint = `unix://${join(dir, 'csi.sock')}`;
    server = await CsiServer.start({ endpoint, log, services: { Controller: controller.handlers() } });
    client = new CsiClient(endpoint);
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-csi-group-'));
    logs = [];
    members = [];
  });

  afterEach(async () => {
    client?.close();
    await server?.close();
    await agent?.stop();
    for (const m of members) await stopMember(m);
    rmSync(dir, { recursive: true, force: true });
  });

  const ctl = <T = Record<string, unknown>>(method: string, req: object = {}) => client.call<T>('Controller', method, req);
  type Pub = { publish_context: Record<string, string> };
  async function create(name: string): Promise<string> {
    const v = await ctl<{ volume: { volume_id: string } }>('CreateVolume', { name, volume_capabilities: [BLOCK], capacity_range: { required_bytes: 4 * MiB } });
    return v.volume.volume_id;
  }
  const publish = (id: string, node = NODE_A, cap: object = BLOCK) =>
    ctl<Pub>('ControllerPublishVolume', { volume_id: id, node_id: node, volume_capability: cap });
  const unpublish = (id: string, node = NODE_A) => ctl('ControllerUnpublishVolume', { volume_id: id, node_id: node });
  const member = (name: string) => members.find((m) => m.name === name)!;
  const preferred = (id: string) => member(rankMembers(id, members.map((m) => m.name))[0]!);

  async function subsystem(m: Member, id: string): Promise<SubsystemJson | undefined> {
    const list = (await m.gateway!.rpc('nvmf_get_subsystems')) as unknown as (SubsystemJson & { nqn: string })[];
    return list.find((s) => s.nqn === volumeNqn(id));
  }

  /** Each member's listener state for the volume (undefined where it is not exported), by name. */
  async function states(id: string, among = members): Promise<Record<string, string | undefined>> {
    const out: Record<string, string | undefined> = {};
    for (const m of among) out[m.name] = (await exporter.exporter(m.name).anaStates(id))?.join(',');
    return out;
  }

  const checkMembers = () => members.map((m) => ({ name: m.name, rpc: socketGatewayRpc(m.sock, 1000) }));

  it('publish: the export on every member alike, controller IDs apart, one optimized listener; every path in the context', async () => {
    await startGroup(3);
    const id = await create('pvc-group');
    const { publish_context: ctx } = await publish(id);
    const nguid = id.replace(/-/g, '');
    const subs = await Promise.all(members.map((m) => subsystem(m, id)));
    for (const [i, s] of subs.entries()) {
      assert.ok(s, `exported on ${members[i]!.name}`);
      assert.equal(s.serial_number, volumeSerial(nguid));
      assert.equal(s.model_number, VOLUME_MODEL);
      assert.equal(s.ana_reporting, true);
      assert.deepEqual(s.namespaces.map((n) => [n.nsid, n.nguid.toLowerCase(), n.uuid]), [[1, nguid, id]]);
      assert.deepEqual(s.hosts, [{ nqn: NODE_A }]);
      assert.deepEqual([s.min_cntlid, s.max_cntlid], [cntlidRange(i).min, cntlidRange(i).max]);
    }
    const ranges = subs.map((s) => [s!.min_cntlid, s!.max_cntlid] as const).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++) assert.ok(ranges[i]![0] > ranges[i - 1]![1], 'controller ID ranges do not overlap');

    const best = preferred(id);
    assert.deepEqual(await states(id), Object.fromEntries(members.map((m) => [m.name, m === best ? 'optimized' : 'non_optimized'])));
    // The optimized member first, then the others in the volume's ranking; the single-path keys are the first.
    const order = [best, ...rankMembers(id, members.map((m) => m.name)).slice(1).map(member)];
    assert.deepEqual(JSON.parse(ctx.paths!), order.map((m) => ({ traddr: '127.0.0.1', trsvcid: String(m.port) })));
    assert.deepEqual([ctx.traddr, ctx.trsvcid, ctx.subnqn, ctx.uuid, ctx.nguid, ctx.transport],
      ['127.0.0.1', String(best.port), volumeNqn(id), id, nguid, 'tcp']);
    assert.deepEqual((await checkGroup(checkMembers())).findings, [], 'group check: consistent');

    // Idempotent: the same answer, nothing changed; a second node (a shared volume) is allowed on every member.
    assert.deepEqual((await publish(id)).publish_context, ctx);
    await publish(id, NODE_B, BLOCK_SHARED);
    for (const m of members) assert.deepEqual((await subsystem(m, id))!.hosts.map((h) => h.nqn).sort(), [NODE_A, NODE_B].sort());
    assert.equal(Object.values(await states(id)).filter((s) => s === 'optimized').length, 1, 'still one optimized listener');
    const listed = await ctl<{ entries: { status: { published_node_ids: string[] } }[] }>('ListVolumes');
    assert.deepEqual(listed.entries[0]!.status.published_node_ids, [NODE_A, NODE_B].sort());
  });

  it('volumes spread their optimized member over the group, by a hash of the volume id', () => {
    const names = ['a', 'b', 'c'];
    const first = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const r = rankMembers(`pvc-${i}`, names);
      assert.deepEqual([...r].sort(), names);
      assert.deepEqual(rankMembers(`pvc-${i}`, names), r, 'deterministic');
      first.set(r[0]!, (first.get(r[0]!) ?? 0) + 1);
    }
    for (const n of names) assert.ok((first.get(n) ?? 0) > 60, `${n} is preferred for ${first.get(n)} of 300 volumes`);
    // Losing a member moves only its own volumes: the others keep their preferred member.
    for (let i = 0; i < 100; i++) {
      const all = rankMembers(`pvc-${i}`, names);
      if (all[0] !== 'c') assert.equal(rankMembers(`pvc-${i}`, ['a', 'b'])[0], all[0]);
    }
  });

  it('unpublish: off every member, the last one takes the export down; again, and with a member down: fine', async () => {
    await startGroup(2);
    const id = await create('pvc-un');
    await publish(id, NODE_A, BLOCK_SHARED);
    await publish(id, NODE_B, BLOCK_SHARED);
    await unpublish(id, NODE_A);
    for (const m of members) assert.deepEqual((await subsystem(m, id))!.hosts, [{ nqn: NODE_B }]);
    await unpublish(id, NODE_B);
    for (const m of members) {
      assert.equal(await subsystem(m, id), undefined, `no subsystem on ${m.name}`);
      assert.ok(!m.gateway!.target.bdevs().some((b) => b.name === `csi_${id}`), `no bdev on ${m.name}`);
    }
    await unpublish(id, NODE_B);
    // A member down: what the others have is taken off, the member is stale, and resynced (the export removed) once back.
    await publish(id);
    const b = member('b');
    await stopMember(b);
    await unpublish(id);
    assert.equal(await subsystem(member('a'), id), undefined);
    assert.equal(group.isStale('b'), true);
    await startMember(b);  // from its saved config: the export it missed the unpublish of
    assert.ok(await subsystem(b, id), 'b came back with the export');
    const round = await agent.check();
    assert.deepEqual(round.returned, ['b']);
    assert.deepEqual(round.resynced.map((r) => [r.member, r.unexported]), [['b', [id]]]);
    assert.equal(await subsystem(b, id), undefined, 'b resynced: the export it missed the unpublish of is gone');
    assert.deepEqual((await checkGroup(checkMembers())).findings, []);
  });

  it('a member down at publish: published on the others (--group-min-members 1), a survivor optimized, the member resynced once back', async () => {
    await startGroup(2);
    const id = await create('pvc-down');
    const down = preferred(id);
    const survivor = members.find((m) => m !== down)!;
    await stopMember(down);
    const { publish_context: ctx } = await publish(id);
    assert.deepEqual(await states(id, [survivor]), { [survivor.name]: 'optimized' });
    // Every member's path, the survivor's first: the other is tried by the node, and is there once resynced.
    assert.deepEqual(JSON.parse(ctx.paths!).map((p: { trsvcid: string }) => Number(p.trsvcid)), [survivor.port, down.port]);
    assert.equal(ctx.trsvcid, String(survivor.port));
    assert.ok(logs.some((l) => l.level === 'warn' && /missed a change/.test(l.msg)));
    assert.deepEqual([group.isUp(down.name), group.isStale(down.name)], [false, true]);
    // The publish found it down before the agent did: the agent's round still counts it lost (and balances the volumes).
    assert.deepEqual((await agent.check()).lost, [down.name]);
    assert.deepEqual((await agent.check()).lost, []);

    // Back, empty (no saved config): the agent gives it the export, then the volume's optimized listener back.
    await startMember(down, { keepConfig: false });
    const round = await agent.check();
    assert.deepEqual(round.returned, [down.name]);
    assert.deepEqual(round.resynced.map((r) => [r.member, r.reference, r.exported]), [[down.name, survivor.name, [id]]]);
    assert.deepEqual(round.moves, [{ volumeId: id, from: survivor.name, to: down.name }]);
    assert.deepEqual(await states(id), { [down.name]: 'optimized', [survivor.name]: 'non_optimized' });
    assert.deepEqual((await subsystem(down, id))!.hosts, [{ nqn: NODE_A }]);
    assert.deepEqual((await checkGroup(checkMembers())).findings, []);
    assert.deepEqual(agent.status().map((s) => [s.name, s.up, s.stale]), members.map((m) => [m.name, true, false]));
  });

  it('--group-min-members 2 with a member down: publish is UNAVAILABLE, and succeeds once the member is back', async () => {
    await startGroup(2, 2);
    const id = await create('pvc-strict');
    await stopMember(member('b'));
    await rejectsOverGrpc(publish(id), GrpcStatus.UNAVAILABLE, /1 of 2 gateway group members took it, and it needs 2 \(b: /);
    await startMember(member('b'), { keepConfig: false });
    await agent.check();
    const { publish_context: ctx } = await publish(id);
    assert.equal(JSON.parse(ctx.paths!).length, 2);
    assert.equal(Object.values(await states(id)).filter((s) => s === 'optimized').length, 1);
  });

  it('the agent: the optimized member lost, a survivor optimized; back from its saved config, consistent and rebalanced', async () => {
    await startGroup(3);
    const ids = [await create('pvc-1'), await create('pvc-2'), await create('pvc-3'), await create('pvc-4')];
    // Volume ids are random: one in 27 times all four prefer one member, and the test needs
    // some that prefer another.
    while (ids.every((id) => preferred(id) === preferred(ids[0]!))) ids.push(await create(`pvc-${ids.length + 1}`));
    for (const id of ids) await publish(id);
    const lost = preferred(ids[0]!);
    const mine = ids.filter((id) => preferred(id) === lost);
    const others = ids.filter((id) => preferred(id) !== lost);
    await stopMember(lost);
    let round = await agent.check();
    assert.deepEqual(round.lost, [lost.name]);
    assert.deepEqual(round.moves.map((m) => m.volumeId).sort(), [...mine].sort(), 'only its own volumes move');
    const survivors = members.filter((m) => m !== lost);
    for (const id of mine) {
      const next = rankMembers(id, members.map((m) => m.name)).find((n) => n !== lost.name)!;
      assert.deepEqual(await states(id, survivors), Object.fromEntries(survivors.map((m) => [m.name, m.name === next ? 'optimized' : 'non_optimized'])));
      assert.ok(round.moves.some((m) => m.volumeId === id && m.to === next), `volume ${id} moved to ${next}`);
    }
    for (const id of others) assert.equal(Object.values(await states(id, survivors)).filter((s) => s === 'optimized').length, 1);
    const drift = await checkGroup(checkMembers());
    assert.deepEqual(drift.findings.map((f) => f.kind), ['unreachable']);
    // Nothing changes while it stays down.
    round = await agent.check();
    assert.deepEqual([round.lost, round.returned, round.moves], [[], [], []]);

    // A volume unpublished and one published meanwhile: it missed both.
    await unpublish(others[0]!);
    const extra = await create('pvc-extra');
    await publish(extra);
    await startMember(lost);  // its saved config: listeners optimized, the unpublished volume still there
    round = await agent.check();
    assert.deepEqual(round.returned, [lost.name]);
    const [r] = round.resynced;
    assert.deepEqual([r!.member, r!.exported, r!.unexported], [lost.name, [extra], [others[0]]]);
    for (const id of [...mine, ...others.slice(1), extra]) {
      const s = await states(id);
      assert.deepEqual(Object.keys(s).filter((n) => s[n] === 'optimized'), [preferred(id).name], `volume ${id}: its preferred member, alone`);
    }
    assert.deepEqual((await checkGroup(checkMembers())).findings, []);
  });

  it('the agent: every member missed something; merged once all answer (nothing taken off); hosts aligned on a resync', async () => {
    await startGroup(2);
    let clock = 1000;
    agent = new GroupAgent({ exporter, log: new CsiLogger((e) => logs.push(e)), lookup: (id) => controller.exportSpec(id), probe, now: () => clock });
    await agent.check();
    const [a, b] = members as [Member, Member];
    const v1 = await create('pvc-m1');
    const v2 = await create('pvc-m2');
    await stopMember(a);
    assert.deepEqual((await agent.check()).lost, ['a']);
    assert.deepEqual(agent.status(), [{ name: 'a', up: false, stale: true, downSince: 1000 }, { name: 'b', up: true, stale: false }]);
    await publish(v1);  // on b alone
    await startMember(a);
    await stopMember(b);
    clock = 2000;
    let round = await agent.check();
    assert.deepEqual([round.lost, round.returned, round.resynced, round.stale], [['b'], ['a'], [], ['a']], 'no member to resync a from');
    await publish(v2);  // on a alone
    await startMember(b);
    round = await agent.check();
    assert.deepEqual(round.resynced.map((r) => [r.member, r.reference, r.exported, r.unexported]), [['a', 'b', [v1], []], ['b', 'a', [v2], []]]);
    assert.deepEqual(round.stale, []);
    assert.ok(logs.some((l) => l.level === 'warn' && /merged what each has/.test(l.msg)));
    assert.deepEqual((await checkGroup(checkMembers())).findings, []);

    // A host allowed on one member only (an unpublish it missed, then a publish on the other): aligned from the reference.
    await b.gateway!.rpc('nvmf_subsystem_add_host', { nqn: volumeNqn(v1), host: NODE_B });
    await a.gateway!.rpc('nvmf_subsystem_remove_host', { nqn: volumeNqn(v2), host: NODE_A });
    group.markStale('b');
    round = await agent.check();
    assert.deepEqual(round.resynced.map((r) => [r.member, r.reference, r.hosts]), [['b', 'a', [v1, v2].sort()]]);
    assert.deepEqual((await subsystem(b, v1))!.hosts, [{ nqn: NODE_A }]);
    assert.deepEqual((await subsystem(b, v2))!.hosts, []);
  });

  it('group check: a consistent group passes; each kind of drift is found, one line each, by the library and the CLI', async () => {
    await startGroup(2);
    const [a, b] = members as [Member, Member];
    const id = await create('pvc-check');
    await publish(id);
    const gateway = (m: Member) => ['--gateway', `${m.name}=${m.sock},tcp=127.0.0.1:${m.port}`];
    // Not spawnSync: the gateways it asks run in this process.
    const cli = (...extra: string[]) => new Promise<{ status: number; stdout: string; stderr: string }>((done) => {
      execFile(process.execPath, [MAIN, 'group', 'check', ...gateway(a), ...gateway(b), ...extra], { timeout: 20000 },
        (e, stdout, stderr) => done({ status: e ? Number(e.code) : 0, stdout, stderr }));
    });
    let r = await cli();
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^member a \(.*a\.sock\): 1 subsystem$/m);
    assert.match(r.stdout, new RegExp(`^  ${volumeNqn(id)}  serial RG\\w+  model "${VOLUME_MODEL}"  cntlid 1-4094  ana  ns 1 nguid `, 'm'));
    assert.match(r.stdout, /^consistent: 2 members, 1 subsystems$/m);

    // Drift on purpose, one kind per subsystem.
    const rpc = (m: Member, method: string, params: JsonObject) => m.gateway!.rpc(method, params);
    const NQN = 'nqn.2026-12.io.rdmagate:drift';
    const make = async (m: Member, n: string, extra: JsonObject = {}, ns: JsonObject = {}, state = 'optimized') => {
      const anaOn = extra.ana_reporting !== false;
      await rpc(m, 'bdev_malloc_create', { name: `${n}-bdev`, num_blocks: 64, block_size: 512 });
      await rpc(m, 'nvmf_create_subsystem', { nqn: `${NQN}-${n}`, serial_number: 'DRIFT1', model_number: 'drift', allow_any_host: true,
        ana_reporting: true, min_cntlid: m === a ? 1 : 5000, max_cntlid: m === a ? 4999 : 9999, ...extra });
      await rpc(m, 'nvmf_subsystem_add_ns', { nqn: `${NQN}-${n}`, namespace: { bdev_name: `${n}-bdev`, nsid: 1,
        uuid: '0f1e2d3c-4b5a-4697-8877-665544332211', ...ns } });
      await rpc(m, 'nvmf_subsystem_add_listener', { nqn: `${NQN}-${n}`, listen_address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1',
        trsvcid: String(m.port) }, ...(anaOn ? { ana_state: state } : {}) });
    };
    // missing (on the member that is not optimized for it: the other keeps its one optimized listener)
    const lacking = preferred(id) === a ? b : a;
    await rpc(lacking, 'nvmf_delete_subsystem', { nqn: volumeNqn(id) });
    await make(a, 'serial', {}, {}, 'optimized');
    await make(b, 'serial', { serial_number: 'DRIFT2' }, {}, 'non_optimized');           // serial
    await make(a, 'model', {}, {}, 'optimized');
    await make(b, 'model', { model_number: 'other' }, {}, 'non_optimized');             // model
    await make(a, 'ns', {}, {}, 'optimized');
    await make(b, 'ns', {}, { uuid: '1f1e2d3c-4b5a-4697-8877-665544332211' }, 'non_optimized'); // namespaces
    await make(a, 'hosts', {}, {}, 'optimized');
    await make(b, 'hosts', { allow_any_host: false }, {}, 'non_optimized');             // hosts
    // host-keys: the same host, required to authenticate on a, not on b.
    const keyDir = mkdtempSync(join(tmpdir(), 'rdmagate-group-keys-'));
    const keyPath = join(keyDir, 'hk');
    writeFileSync(keyPath, dhchapSecret(1), { mode: 0o600 });
    await rpc(a, 'keyring_file_add_key', { name: 'hk', path: keyPath });
    const keyedHost = 'nqn.2014-08.org.nvmexpress:uuid:2c5e8f10-0d7a-4b1e-9c3f-7a6b5d4e3f21';
    await make(a, 'keys', { allow_any_host: false }, {}, 'optimized');
    await make(b, 'keys', { allow_any_host: false }, {}, 'non_optimized');
    await rpc(a, 'nvmf_subsystem_add_host', { nqn: `${NQN}-keys`, host: keyedHost, dhchap_key: 'hk' });
    await rpc(b, 'nvmf_subsystem_add_host', { nqn: `${NQN}-keys`, host: keyedHost });
    rmSync(keyDir, { recursive: true, force: true });
    await make(a, 'ana', {}, {}, 'optimized');
    await make(b, 'ana', { ana_reporting: false, min_cntlid: 5000, max_cntlid: 9999 });   // ana-reporting
    await make(a, 'cntlid', { min_cntlid: 1, max_cntlid: 6000 }, {}, 'optimized');
    await make(b, 'cntlid', {}, {}, 'non_optimized');                                   // cntlid-overlap
    await make(a, 'two', {}, {}, 'optimized');
    await make(b, 'two', {}, {}, 'optimized');                                         // optimized: two
    await make(a, 'none', {}, {}, 'non_optimized');
    await make(b, 'none', {}, {}, 'inaccessible');                                     // optimized: none
    await make(a, 'nolistener', {}, {}, 'optimized');
    await rpc(b, 'bdev_malloc_create', { name: 'nl-bdev', num_blocks: 64, block_size: 512 });
    await rpc(b, 'nvmf_create_subsystem', { nqn: `${NQN}-nolistener`, serial_number: 'DRIFT1', model_number: 'drift', allow_any_host: true,
      ana_reporting: true, min_cntlid: 5000, max_cntlid: 9999 });
    await rpc(b, 'nvmf_subsystem_add_ns', { nqn: `${NQN}-nolistener`, namespace: { bdev_name: 'nl-bdev', nsid: 1, uuid: '0f1e2d3c-4b5a-4697-8877-665544332211' } });

    const result = await checkGroup(checkMembers());
    assert.equal(result.ok, false);
    const found = result.findings.map((f) => `${f.kind} ${f.nqn?.replace(`${NQN}-`, '')}`);
    const expected: [GroupFindingKind, string][] = [
      ['serial', 'serial'], ['model', 'model'], ['namespaces', 'ns'], ['hosts', 'hosts'], ['host-keys', 'keys'], ['ana-reporting', 'ana'],
      ['cntlid-overlap', 'cntlid'], ['optimized', 'two'], ['optimized', 'none'], ['no-listener', 'nolistener'], ['missing', volumeNqn(id)],
    ];
    for (const [kind, n] of expected) assert.ok(found.includes(`${kind} ${n}`), `${kind} ${n} in ${found.join('; ')}`);
    assert.equal(result.findings.length, expected.length, found.join('; '));
    assert.match(result.findings.find((f) => f.kind === 'serial')!.message, /serial number differs: a DRIFT1, b DRIFT2$/);
    assert.match(result.findings.find((f) => f.kind === 'cntlid-overlap')!.message, /controller IDs overlap: a 1-6000, b 5000-9999$/);
    assert.match(result.findings.find((f) => f.kind === 'host-keys')!.message, /the DH-HMAC-CHAP keys of nqn\.\S+ differ: a hk\/-, b -\/-$/);
    assert.match(result.findings.find((f) => f.kind === 'missing')!.message, new RegExp(`on ${preferred(id).name}, missing on ${lacking.name}$`));

    r = await cli();
    assert.equal(r.status, 1, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('drift: '));
    assert.equal(lines.length, expected.length, r.stdout);
    assert.match(r.stdout, new RegExp(`^${expected.length} findings$`, 'm'));
    r = await cli('-o', 'json');
    assert.equal(r.status, 1, r.stderr);
    const json = JSON.parse(r.stdout) as { ok: boolean; findings: { kind: string }[]; members: { name: string; subsystems: unknown[] }[] };
    assert.equal(json.ok, false);
    assert.deepEqual(json.findings.map((f) => f.kind).sort(), expected.map(([k]) => k).sort());
    assert.deepEqual(json.members.map((m) => m.name), ['a', 'b']);

    // A member that does not answer.
    await stopMember(b);
    r = await cli();
    assert.equal(r.status, 1);
    assert.match(r.stdout, /^member b \(.*\): does not answer$/m);
    assert.match(r.stdout, /^drift: unreachable: b does not answer: /m);
  });

  it('rdmagate\'s own multipath host, connected to both members, keeps its I/O when the optimized gateway closes', async () => {
    await startGroup(2);
    const id = await create('pvc-io');
    const { publish_context: ctx } = await publish(id);
    const paths = (JSON.parse(ctx.paths!) as { traddr: string; trsvcid: string }[])
      .map((p) => ({ traddr: p.traddr, trsvcid: Number(p.trsvcid), subnqn: ctx.subnqn!, hostnqn: NODE_A, reconnectDelay: 0.2 }));
    const host = await nvmf.connectMultipath({ paths, noPathTimeoutMs: 10000 });
    const pool = new BufferPool({ chunkSize: 4096 });
    let stop = false;
    let ios = 0;
    let failedOver = false;
    let iosAfter = 0;
    // Writers that read back each block, running while the optimized gateway closes.
    const worker = async (w: number) => {
      const out = pool.acquire();
      const back = pool.acquire();
      try {
        for (let n = 0; !stop; n++) {
          const lba = w * 64 + (n % 64);
          out.fill((w * 31 + n) & 0xff);
          await host.queuePairs[w % host.queuePairs.length]!.write(1, lba, 1, out);
          await host.queuePairs[w % host.queuePairs.length]!.read(1, lba, 1, back);
          assert.ok(Buffer.from(back.buffer, back.byteOffset, 4096).equals(Buffer.from(out.buffer, out.byteOffset, 4096)), `block ${lba}`);
          ios++;
          if (failedOver) iosAfter++;
        }
      } finally {
        out.release();
        back.release();
      }
    };
    const lost = preferred(id);
    const survivor = members.find((m) => m !== lost)!;
    try {
      assert.equal(host.namespaces[0]!.uuid, id);
      const errors: unknown[] = [];
      const workers = Array.from({ length: 4 }, (_, w) => worker(w).catch((e: unknown) => { errors.push(e); stop = true; }));
      while (ios < 200 && !stop) await new Promise((r) => setTimeout(r, 5));
      await stopMember(lost);  // its listener and connections close under the writers
      failedOver = true;
      await agent.check();
      while (iosAfter < 200 && !stop) await new Promise((r) => setTimeout(r, 5));
      stop = true;
      await Promise.all(workers);
      if (errors.length > 0) throw errors[0];
      const byPort = new Map(host.paths().map((p) => [p.trsvcid, p]));
      assert.notEqual(byPort.get(lost.port)!.state, 'live', 'the lost gateway\'s path is down');
      assert.equal(byPort.get(survivor.port)!.state, 'live');
      assert.equal(byPort.get(survivor.port)!.ana[1], 'optimized', 'the survivor\'s path is optimized now (the agent)');
    } finally {
      stop = true;
      await host.close();
      pool.close();
    }
  });
});
