/**
 * Active-active backends (issue 17, item 3; SPDK's bdev_nvme multipath mode "multipath"): a
 * backend reached through two controllers, each connected all the time, with
 * bdev_nvme_set_multipath_policy choosing how commands go down them. Each path is a listener
 * of the backend's subsystem, taken off to cut it (as in gateway-backend-failover.test.ts);
 * where commands went is read from each backend controller's own count of what it sent.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufferPool, Gateway, Target, nvmf, type Subsystem } from '../../lib';
import { renderMetrics } from '../../lib/gateway/metrics';
import type { JsonRpcError } from '../../lib/jsonrpc/errors';
import type { LogEntry } from '../../lib/log/logger';
import type { NvmeError } from '../../lib/nvmf/errors';
import { freePort } from '../support/free-port';

const BACKEND_NQN = 'nqn.2026-12.io.rdmagate:multipath-backend';
const FRONT_NQN = 'nqn.2026-12.io.rdmagate:multipath-front';

interface Path {
  port: number;
  listener: { transport: 'tcp'; address: string; port: number };
  cut(): void;
  restore(): void;
}

interface Trid { traddr: string; trsvcid: string }
interface ControllerJson { name: string; ctrlrs: { state: string; trid: Trid }[] }

const refused = (code: number) => (e: JsonRpcError) => e.rpcCode === code;

describe('gateway: active-active backends (multipath mode "multipath")', function () {
  this.timeout(60000);
  let dir: string;
  let backend: Target;
  let backendSub: Subsystem;
  let paths: [Path, Path];
  const gateways: Gateway[] = [];
  const hosts: nvmf.Controller[] = [];
  const others: Target[] = [];
  const pool = new BufferPool({ chunkSize: 64 * 1024 });
  let frontPort: number;

  const logged: LogEntry[] = [];

  async function gateway(configPath = join(dir, 'config.json')): Promise<Gateway> {
    const g = new Gateway({ socketPath: null, configPath, log: (e) => logged.push(e) });
    await g.start();
    gateways.push(g);
    return g;
  }

  function attach(g: Gateway, port: number, extra: Record<string, unknown> = {}): Promise<unknown> {
    return g.rpc('bdev_nvme_attach_controller', { name: 'Nvme0', trtype: 'tcp', traddr: '127.0.0.1', trsvcid: String(port),
      subnqn: BACKEND_NQN, ctrlr_loss_timeout_sec: 30, reconnect_delay_sec: 1, ...extra });
  }

  /** A gateway with Nvme0 attached through a and then, as a further controller, b; exported. */
  async function multipathGateway(policy?: Record<string, unknown>): Promise<Gateway> {
    const g = await gateway();
    assert.deepEqual(await attach(g, paths[0].port, { multipath: 'multipath' }), ['Nvme0n1']);
    assert.deepEqual(await attach(g, paths[1].port, { multipath: 'multipath' }), ['Nvme0n1'], 'the same bdev, a further path');
    if (policy) await g.rpc('bdev_nvme_set_multipath_policy', { name: 'Nvme0n1', ...policy });
    await g.rpc('nvmf_create_transport', { trtype: 'TCP' });
    await g.rpc('nvmf_create_subsystem', { nqn: FRONT_NQN, allow_any_host: true });
    await g.rpc('nvmf_subsystem_add_ns', { nqn: FRONT_NQN, namespace: { bdev_name: 'Nvme0n1', nsid: 1 } });
    await g.rpc('nvmf_subsystem_add_listener', { nqn: FRONT_NQN,
      listen_address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(frontPort) } });
    return g;
  }

  async function controllers(g: Gateway): Promise<ControllerJson['ctrlrs']> {
    const [c] = await g.rpc('bdev_nvme_get_controllers', { name: 'Nvme0' }) as unknown as ControllerJson[];
    return c!.ctrlrs;
  }

  /** Commands each controller of Nvme0 has sent, in attach order. */
  function commands(g: Gateway): number[] {
    return g.target.nvmeControllers().find((c) => c.name === 'Nvme0')!.controllers.map((c) => c.counters.commands);
  }

  async function connectHost(): Promise<nvmf.Controller> {
    const h = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: frontPort, subnqn: FRONT_NQN });
    hosts.push(h);
    return h;
  }

  /** `count` writes through the export, `depth` at a time, each read back. */
  async function writes(h: nvmf.Controller, seed: number, count: number, depth = 1): Promise<void> {
    for (let i = 0; i < count; i += depth) {
      await Promise.all(Array.from({ length: Math.min(depth, count - i) }, async (_, j) => {
        const b = pool.acquire();
        const lba = 8 * (i + j);
        try {
          b.fill((seed + i + j) & 0xff, 0, 4096);
          await h.queuePairs[0]!.write(1, lba, 8, b);
          b.fill(0, 0, 4096);
          await h.queuePairs[0]!.read(1, lba, 8, b);
          assert.equal(b[4095], (seed + i + j) & 0xff);
        } finally {
          b.release();
        }
      }));
    }
  }

  /** Commands each controller sends while `run` runs. */
  async function spread(g: Gateway, run: () => Promise<void>): Promise<number[]> {
    const before = commands(g);
    await run();
    return commands(g).map((n, i) => n - (before[i] ?? 0));
  }

  async function waitFor(what: string, ok: () => Promise<boolean>): Promise<void> {
    for (let i = 0; !(await ok()); i++) {
      assert.ok(i < 500, `${what} within 10 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-multipath-'));
    backend = new Target();
    backend.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: 4 << 20 });
    backendSub = backend.addSubsystem({ nqn: BACKEND_NQN, allowAnyHost: true, anaReporting: true });
    backendSub.addNamespace({ bdev: 'Malloc0' });
    frontPort = await freePort();
    const made: Path[] = [];
    for (let i = 0; i < 2; i++) {
      const listener = { transport: 'tcp' as const, address: '127.0.0.1', port: await freePort() };
      backendSub.addListener(listener);
      made.push({ port: listener.port, listener, cut: () => backendSub.removeListener(listener), restore: () => backendSub.addListener(listener) });
    }
    paths = made as [Path, Path];
  });

  afterEach(async () => {
    for (const h of hosts.splice(0)) await h.close().catch(() => undefined);
    for (const g of gateways.splice(0)) await g.close();
    backend.closeSync();
    for (const t of others.splice(0)) t.closeSync();
    rmSync(dir, { recursive: true, force: true });
  });

  it('active_passive (the default) sends every command down the first controller, and the other takes over at once when it is cut', async () => {
    const g = await multipathGateway();
    assert.deepEqual((await controllers(g)).map((c) => [c.state, c.trid.trsvcid]),
      [['enabled', String(paths[0].port)], ['enabled', String(paths[1].port)]]);
    const h = await connectHost();
    const [a, b] = await spread(g, () => writes(h, 1, 16));
    assert.ok(a! >= 32 && b === 0, `all down the first: ${a}, ${b}`);

    paths[0].cut();
    // The second controller is connected already: nothing waits for a reconnect.
    const [, afterCut] = await spread(g, () => writes(h, 2, 16, 4));
    assert.ok(afterCut! >= 32, `down the second once the first is cut: ${afterCut}`);
    assert.deepEqual((await controllers(g)).map((c) => c.state), ['resetting', 'enabled']);
    const metrics = renderMetrics(g.target);
    assert.match(metrics, new RegExp(`rdmagate_backend_controller_up\\{name="Nvme0",traddr="127.0.0.1",trsvcid="${paths[0].port}"\\} 0`));
    assert.match(metrics, new RegExp(`rdmagate_backend_controller_up\\{name="Nvme0",traddr="127.0.0.1",trsvcid="${paths[1].port}"\\} 1`));
    assert.match(metrics, /rdmagate_backend_up\{name="Nvme0"\} 1/, 'the backend is up while a controller is');

    paths[0].restore();
    await waitFor('the first controller back', async () => (await controllers(g))[0]!.state === 'enabled');
    const [back] = await spread(g, () => writes(h, 3, 8));
    assert.ok(back! >= 16, 'and the first again once it is back');
  });

  it('active_active round_robin spreads commands over both, rr_min_io in a row', async () => {
    const g = await multipathGateway({ policy: 'active_active', selector: 'round_robin', rr_min_io: 2 });
    const h = await connectHost();
    const [a, b] = await spread(g, () => writes(h, 4, 32));
    // 64 commands (a write and a read each), two in a row down each in turn.
    assert.equal(a, 32);
    assert.equal(b, 32);
    const [bdev] = await g.rpc('bdev_get_bdevs', { name: 'Nvme0n1' }) as { driver_specific: Record<string, unknown> }[];
    assert.deepEqual(bdev!.driver_specific, { mp_policy: 'active_active', selector: 'round_robin', rr_min_io: 2, paths: 2 });

    // Cut one: everything goes down the other, with no error at the host, and its loss is logged.
    logged.length = 0;
    paths[1].cut();
    // Commands sent down it before its loss is seen come back with a path error and go down the other.
    const [only] = await spread(g, () => writes(h, 5, 32, 8));
    assert.ok(only! >= 64, `${only}`);
    const lost = `Nvme0 via 127.0.0.1:${paths[1].port}`;
    await waitFor('the loss logged', async () => logged.some((e) => e.msg === 'backend lost' && e.backend === lost));
    assert.ok(!logged.some((e) => e.msg === 'backend lost' && e.backend === 'Nvme0'), 'the first controller was not lost');
    paths[1].restore();
    await waitFor('the second controller back', async () => (await controllers(g))[1]!.state === 'enabled');
    const [a2, b2] = await spread(g, () => writes(h, 6, 16));
    assert.ok(a2! > 0 && b2! > 0, 'both again');
  });

  it('active_active queue_depth sends to the least queued controller', async () => {
    const g = await multipathGateway({ policy: 'active_active', selector: 'queue_depth' });
    const h = await connectHost();
    const [a, b] = await spread(g, () => writes(h, 7, 64, 32));
    assert.ok(a! > 0 && b! > 0, `a burst of 32 goes down both: ${a}, ${b}`);
  });

  it('follows ANA: only the best state takes commands, and an inaccessible path none', async () => {
    const g = await multipathGateway({ policy: 'active_active' });
    const h = await connectHost();
    backendSub.setListenerAnaState(paths[0].listener, 'non_optimized');
    await waitFor('the ANA notice read', async () => {
      const [a, b] = await spread(g, () => writes(h, 8, 4));
      return a === 0 && b! > 0;
    });
    const [a, b] = await spread(g, () => writes(h, 9, 16));
    assert.ok(a === 0 && b! >= 32, 'optimized before non-optimized');
    const metrics = renderMetrics(g.target);
    const ana = (port: number, state: string) =>
      new RegExp(`rdmagate_backend_ana_state\\{name="Nvme0",traddr="127.0.0.1",trsvcid="${port}",nsid="1",state="${state}"\\} 1`);
    assert.match(metrics, ana(paths[0].port, 'non_optimized'));
    assert.match(metrics, ana(paths[1].port, 'optimized'));
    backendSub.setListenerAnaState(paths[0].listener, 'optimized');
    backendSub.setListenerAnaState(paths[1].listener, 'inaccessible');
    // Commands that meet the inaccessible path before its notice is read go down the other.
    await writes(h, 10, 32, 8);
    await waitFor('the ANA notice read', async () => {
      const [a3, b3] = await spread(g, () => writes(h, 11, 4));
      return a3! > 0 && b3 === 0;
    });
    // With every path inaccessible the host gets the status, to try its own other paths.
    backendSub.setListenerAnaState(paths[0].listener, 'inaccessible');
    await assert.rejects(writes(h, 12, 1), (e: NvmeError) => e.sct === 3 && e.sc === 2);
    // And once a path's notice says it is optimized again, it serves.
    backendSub.setListenerAnaState(paths[1].listener, 'optimized');
    await waitFor('a path back', () => writes(h, 13, 4).then(() => true, () => false));
  });

  it('detaches one controller by its path, the first too, and saves and replays the rest', async () => {
    const g = await multipathGateway({ policy: 'active_active', selector: 'queue_depth' });
    const h = await connectHost();
    const saved = async (gw: Gateway) => {
      const { subsystems } = await gw.rpc('save_config') as { subsystems: { subsystem: string; config: { method: string; params: Record<string, unknown> }[] }[] };
      return subsystems.find((s) => s.subsystem === 'bdev')!.config.filter((e) => e.method.startsWith('bdev_nvme'))
        .map((e) => [e.method, e.params.trsvcid ?? e.params.policy]);
    };
    assert.deepEqual(await saved(g), [['bdev_nvme_attach_controller', String(paths[0].port)],
      ['bdev_nvme_attach_controller', String(paths[1].port)], ['bdev_nvme_set_multipath_policy', 'active_active']]);

    // A gateway started from that config has both controllers and the policy.
    await g.close();
    gateways.splice(gateways.indexOf(g), 1);
    const g2 = await gateway();
    assert.deepEqual((await controllers(g2)).map((c) => [c.state, c.trid.trsvcid]),
      [['enabled', String(paths[0].port)], ['enabled', String(paths[1].port)]]);
    const [bdev] = await g2.rpc('bdev_get_bdevs', { name: 'Nvme0n1' }) as { driver_specific: Record<string, unknown> }[];
    assert.equal(bdev!.driver_specific.selector, 'queue_depth');
    await h.close().catch(() => undefined);
    const h2 = await connectHost();
    await writes(h2, 14, 8);

    // The first controller goes: the second takes its place, and serves alone.
    await g2.rpc('bdev_nvme_detach_controller', { name: 'Nvme0', traddr: '127.0.0.1', trsvcid: String(paths[0].port) });
    assert.deepEqual((await controllers(g2)).map((c) => c.trid.trsvcid), [String(paths[1].port)]);
    const [only] = await spread(g2, () => writes(h2, 15, 8));
    assert.ok(only! >= 16);
    // Alone again, it holds I/O through its own reconnect, as a backend of one path does.
    paths[1].cut();
    await waitFor('the controller to see its loss', async () => (await controllers(g2))[0]!.state !== 'enabled');
    const held = writes(h2, 16, 2);
    await new Promise((r) => setTimeout(r, 300));
    paths[1].restore();
    await held;
    assert.deepEqual(await saved(g2), [['bdev_nvme_attach_controller', String(paths[1].port)],
      ['bdev_nvme_set_multipath_policy', 'active_active']]);
    // Its only path named: the backend goes (refused while exported).
    await assert.rejects(g2.rpc('bdev_nvme_detach_controller', { name: 'Nvme0', traddr: '127.0.0.1', trsvcid: String(paths[1].port) }));
  });

  it('a bdev reached through one controller of several still has its I/O held while that controller reconnects', async () => {
    // Nvme0n2 exists behind the first controller only: a second target serves Nvme0n1's
    // namespace (the same identity) and not Nvme0n2's. The first controller now fails its I/O
    // on a loss (for Nvme0n1 to go down the second), and Nvme0n2 holds it for the reconnect.
    backend.createBdev({ type: 'malloc', name: 'Malloc1', sizeBytes: 4 << 20 });
    const two = backendSub.addNamespace({ bdev: 'Malloc1' });
    const one = backendSub.info().namespaces.find((n) => n.nsid === 1)!;
    const other = new Target();
    others.push(other);
    other.createBdev({ type: 'malloc', name: 'Same0', sizeBytes: 4 << 20 });
    const sub = other.addSubsystem({ nqn: BACKEND_NQN, allowAnyHost: true });
    sub.addNamespace({ bdev: 'Same0', nsid: 1, nguid: one.nguid, uuid: one.uuid });
    const port = await freePort();
    sub.addListener({ transport: 'tcp', address: '127.0.0.1', port });
    const g = await gateway();
    assert.deepEqual(await attach(g, paths[0].port), ['Nvme0n1', 'Nvme0n2']);
    assert.deepEqual(await attach(g, port, { multipath: 'multipath' }), ['Nvme0n1']);
    await g.rpc('nvmf_create_transport', { trtype: 'TCP' });
    await g.rpc('nvmf_create_subsystem', { nqn: FRONT_NQN, allow_any_host: true });
    for (const nsid of [1, two.nsid]) {
      await g.rpc('nvmf_subsystem_add_ns', { nqn: FRONT_NQN, namespace: { bdev_name: `Nvme0n${nsid}`, nsid } });
    }
    await g.rpc('nvmf_subsystem_add_listener', { nqn: FRONT_NQN,
      listen_address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(frontPort) } });
    const h = await connectHost();
    const b = pool.acquire();
    try {
      paths[0].cut();
      await waitFor('the first controller to see its loss', async () => (await controllers(g))[0]!.state !== 'enabled');
      b.fill(0x5a, 0, 4096);
      const held = h.queuePairs[0]!.write(two.nsid, 0, 8, b);
      await new Promise((r) => setTimeout(r, 300));
      await h.queuePairs[0]!.write(1, 0, 8, b);  // Nvme0n1 goes down the second meanwhile
      paths[0].restore();
      await held;  // and Nvme0n2's write completes once the first is back, not with an error
      b.fill(0, 0, 4096);
      await h.queuePairs[0]!.read(two.nsid, 0, 8, b);
      assert.equal(b[4095], 0x5a);
    } finally {
      b.release();
    }
  });

  it('a namespace only a further controller has is a bdev of its own; that controller\'s detach is refused while it is exported, and changes nothing', async () => {
    // The second target serves Nvme0n1's namespace (the same identity) and one of its own.
    const one = backendSub.info().namespaces.find((n) => n.nsid === 1)!;
    const other = new Target();
    others.push(other);
    other.createBdev({ type: 'malloc', name: 'Same0', sizeBytes: 4 << 20 });
    other.createBdev({ type: 'malloc', name: 'Own0', sizeBytes: 4 << 20 });
    const sub = other.addSubsystem({ nqn: BACKEND_NQN, allowAnyHost: true });
    sub.addNamespace({ bdev: 'Same0', nsid: 1, nguid: one.nguid, uuid: one.uuid });
    sub.addNamespace({ bdev: 'Own0', nsid: 3 });
    const port = await freePort();
    sub.addListener({ transport: 'tcp', address: '127.0.0.1', port });
    const g = await gateway();
    await attach(g, paths[0].port);
    assert.deepEqual(await attach(g, port, { multipath: 'multipath' }), ['Nvme0n1', 'Nvme0n3']);
    await g.rpc('nvmf_create_subsystem', { nqn: FRONT_NQN, allow_any_host: true });
    await g.rpc('nvmf_subsystem_add_ns', { nqn: FRONT_NQN, namespace: { bdev_name: 'Nvme0n3', nsid: 3 } });
    const detach = () => g.rpc('bdev_nvme_detach_controller', { name: 'Nvme0', traddr: '127.0.0.1', trsvcid: String(port) });
    await assert.rejects(detach(), refused(-16));
    const pathsOf = async (bdev: string) =>
      ((await g.rpc('bdev_get_bdevs', { name: bdev })) as { driver_specific: { paths: number } }[])[0]!.driver_specific.paths;
    assert.equal(await pathsOf('Nvme0n1'), 2, 'Nvme0n1 kept the path');
    assert.equal((await controllers(g)).length, 2);

    await g.rpc('nvmf_subsystem_remove_ns', { nqn: FRONT_NQN, nsid: 3 });
    await waitFor('the detach once Nvme0n3 is released', () => detach().then(() => true, () => false));
    assert.equal(await pathsOf('Nvme0n1'), 1);
    assert.deepEqual(((await g.rpc('bdev_get_bdevs')) as { name: string }[]).map((b) => b.name), ['Nvme0n1']);
    const { subsystems } = await g.rpc('save_config') as { subsystems: { subsystem: string; config: { method: string; params: Record<string, unknown> }[] }[] };
    assert.deepEqual(subsystems.find((x) => x.subsystem === 'bdev')!.config.filter((e) => e.method === 'bdev_nvme_attach_controller')
      .map((e) => e.params.trsvcid), [String(paths[0].port)], 'the detached controller is not saved');
  });

  it('refuses what is not another controller of the same namespaces, and changes nothing', async () => {
    const g = await gateway();
    await attach(g, paths[0].port);
    await assert.rejects(attach(g, paths[0].port, { multipath: 'multipath' }), refused(-17), 'a path it has');
    await assert.rejects(attach(g, paths[1].port, { multipath: 'multipath', subnqn: 'nqn.2026-12.io.rdmagate:another' }), refused(-32602));
    await assert.rejects(attach(g, paths[1].port, { multipath: 'multipath', hdgst: true }), refused(-32602));
    // The same subsystem NQN on another target, with another namespace behind it.
    const other = new Target();
    others.push(other);
    other.createBdev({ type: 'malloc', name: 'Other0', sizeBytes: 4 << 20 });
    const sub = other.addSubsystem({ nqn: BACKEND_NQN, allowAnyHost: true });
    sub.addNamespace({ bdev: 'Other0' });
    const port = await freePort();
    sub.addListener({ transport: 'tcp', address: '127.0.0.1', port });
    await assert.rejects(attach(g, port, { multipath: 'multipath' }), refused(-32602), 'another NGUID');
    assert.deepEqual((await controllers(g)).map((c) => c.trid.trsvcid), [String(paths[0].port)]);
    assert.equal(g.target.nvmeControllers()[0]!.controllers.length, 1);

    const bads: Record<string, string | number>[] = [{ policy: 'sideways' }, { policy: 'active_passive', selector: 'queue_depth' },
      { policy: 'active_active', selector: 'fastest' }, { policy: 'active_active', selector: 'queue_depth', rr_min_io: 4 }];
    for (const bad of bads) {
      await assert.rejects(g.rpc('bdev_nvme_set_multipath_policy', { name: 'Nvme0n1', ...bad }), refused(-32602), JSON.stringify(bad));
    }
    await assert.rejects(g.rpc('bdev_nvme_set_multipath_policy', { name: 'Nvme9n1', policy: 'active_active' }), refused(-19));
    const [bdev] = await g.rpc('bdev_get_bdevs', { name: 'Nvme0n1' }) as { driver_specific: Record<string, unknown> }[];
    assert.deepEqual(bdev!.driver_specific, { mp_policy: 'active_passive', paths: 1 });
  });
});
