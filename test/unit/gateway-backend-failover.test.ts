/**
 * Failover paths for the gateway's backends (issue 17, item 3; SPDK's bdev_nvme multipath
 * "failover"): a backend reached through two addresses keeps serving its export when the
 * path in use goes away, with the frontend host's I/O held and then completed through the
 * other path. Each path here is a listener of the backend's subsystem, taken off to cut it
 * (as nvmet's port is unlinked in the lab). A relay in this process would not do: the
 * gateway's close waits for its backends on the JS thread, which such a relay needs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufferPool, Gateway, Target, nvmf, type Subsystem } from '../../lib';
import { renderMetrics } from '../../lib/gateway/metrics';
import type { JsonRpcError } from '../../lib/jsonrpc/errors';
import { freePort } from '../support/free-port';

const BACKEND_NQN = 'nqn.2026-12.io.rdmagate:failover-backend';
const FRONT_NQN = 'nqn.2026-12.io.rdmagate:failover-front';

/** A path to the backend: one listener of its subsystem. cut() takes it off, which drops the controllers connected through it. */
interface Path {
  port: number;
  listener: { transport: 'tcp'; address: string; port: number };
  cut(): void;
}

interface Trid { traddr: string; trsvcid: string }
interface ControllerJson { ctrlrs: { state: string; trid: Trid; alternate_trids?: Trid[] }[] }

describe('gateway: backend failover paths', function () {
  this.timeout(60000);
  let dir: string;
  let backend: Target;
  let paths: Path[];
  let backendSub: Subsystem;
  const gateways: Gateway[] = [];
  const hosts: nvmf.Controller[] = [];
  const pool = new BufferPool({ chunkSize: 64 * 1024 });
  let frontPort: number;

  async function gateway(): Promise<Gateway> {
    const g = new Gateway({ socketPath: null, configPath: join(dir, 'config.json') });
    await g.start();
    gateways.push(g);
    return g;
  }

  function attach(g: Gateway, path: Path, extra: Record<string, unknown> = {}): Promise<unknown> {
    return g.rpc('bdev_nvme_attach_controller', { name: 'Nvme0', trtype: 'tcp', traddr: '127.0.0.1', trsvcid: String(path.port),
      subnqn: BACKEND_NQN, ctrlr_loss_timeout_sec: 30, reconnect_delay_sec: 1, ...extra });
  }

  /** A gateway with the backend attached through both paths (a, then b), and exported when asked. */
  async function twoPathGateway(exported: boolean): Promise<Gateway> {
    const g = await gateway();
    await attach(g, paths[0]!);
    await attach(g, paths[1]!);
    if (exported) await exportBackend(g);
    return g;
  }

  async function exportBackend(g: Gateway): Promise<void> {
    await g.rpc('nvmf_create_transport', { trtype: 'TCP' });
    await g.rpc('nvmf_create_subsystem', { nqn: FRONT_NQN, allow_any_host: true });
    await g.rpc('nvmf_subsystem_add_ns', { nqn: FRONT_NQN, namespace: { bdev_name: 'Nvme0n1', nsid: 1 } });
    await g.rpc('nvmf_subsystem_add_listener', { nqn: FRONT_NQN,
      listen_address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(frontPort) } });
  }

  async function controller(g: Gateway): Promise<ControllerJson['ctrlrs'][0]> {
    const [c] = await g.rpc('bdev_nvme_get_controllers', { name: 'Nvme0' }) as unknown as ControllerJson[];
    return c!.ctrlrs[0]!;
  }

  async function connectHost(): Promise<nvmf.Controller> {
    const h = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: frontPort, subnqn: FRONT_NQN });
    hosts.push(h);
    return h;
  }

  /** A write through the export, read back. */
  async function writeThrough(h: nvmf.Controller, seed: number, lba = 16): Promise<void> {
    const b = pool.acquire();
    try {
      b.fill(seed, 0, 4096);
      await h.queuePairs[0]!.write(1, lba, 8, b);
      b.fill(0, 0, 4096);
      await h.queuePairs[0]!.read(1, lba, 8, b);
      assert.equal(b[0], seed);
      assert.equal(b[4095], seed);
    } finally {
      b.release();
    }
  }

  /** The attach calls save_config writes, as [trsvcid, multipath]. */
  async function savedAttaches(g: Gateway): Promise<[string, unknown][]> {
    const { subsystems } = await g.rpc('save_config') as { subsystems: { subsystem: string; config: { method: string; params: Record<string, unknown> }[] }[] };
    return subsystems.find((s) => s.subsystem === 'bdev')!.config
      .filter((e) => e.method === 'bdev_nvme_attach_controller')
      .map((e) => [String(e.params.trsvcid), e.params.multipath]);
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-failover-'));
    backend = new Target();
    backend.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: 4 << 20 });
    const sub = backend.addSubsystem({ nqn: BACKEND_NQN, allowAnyHost: true, anaReporting: true });
    backendSub = sub;
    sub.addNamespace({ bdev: 'Malloc0' });
    frontPort = await freePort();
    paths = [];
    for (let i = 0; i < 2; i++) {
      const listener = { transport: 'tcp' as const, address: '127.0.0.1', port: await freePort() };
      sub.addListener(listener);
      paths.push({ port: listener.port, listener, cut: () => sub.removeListener(listener) });
    }
  });

  afterEach(async () => {
    for (const h of hosts.splice(0)) await h.close().catch(() => undefined);
    for (const g of gateways.splice(0)) await g.close();
    backend.closeSync();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the export serving when the path in use is cut: I/O goes on through the other path', async () => {
    const [a, b] = paths as [Path, Path];
    const g = await gateway();
    assert.deepEqual(await attach(g, a), ['Nvme0n1']);
    assert.deepEqual(await attach(g, b, { multipath: 'failover' }), ['Nvme0n1'], 'a second path, the same bdevs');
    await exportBackend(g);
    const h = await connectHost();
    await writeThrough(h, 0x11);
    assert.equal((await controller(g)).trid.trsvcid, String(a.port));

    a.cut();
    // Held while the backend reconnects, then completed through b.
    await writeThrough(h, 0x22, 64);
    const c = await controller(g);
    assert.equal(c.state, 'enabled');
    assert.equal(c.trid.trsvcid, String(b.port));
    assert.deepEqual(c.alternate_trids?.map((t) => t.trsvcid), [String(a.port)]);
    const metrics = renderMetrics(g.target);
    assert.match(metrics, /rdmagate_backend_failovers_total\{name="Nvme0"\} [1-9]/);
    assert.match(metrics, new RegExp(`rdmagate_backend_path_active\\{name="Nvme0",traddr="127.0.0.1",trsvcid="${b.port}"\\} 1`));
    // Both paths saved, as SPDK saves them: the controller's own, then the added one.
    assert.deepEqual(await savedAttaches(g), [[String(a.port), undefined], [String(b.port), 'failover']]);
  });

  it('moves off a path whose ANA state turns inaccessible, and gives the host the status when every path is', async () => {
    const [a, b] = paths as [Path, Path];
    const g = await twoPathGateway(true);
    const h = await connectHost();
    await writeThrough(h, 0x55);
    // A path status, not a lost connection: the command comes back Asymmetric Access Inaccessible.
    backendSub.setListenerAnaState(a.listener, 'inaccessible');
    await writeThrough(h, 0x66, 96);
    assert.equal((await controller(g)).trid.trsvcid, String(b.port), 'failed over to b');
    backendSub.setListenerAnaState(b.listener, 'inaccessible');
    await assert.rejects(writeThrough(h, 0x77, 128), 'each path tried once, then the status reaches the host');
    backendSub.setListenerAnaState(a.listener, 'optimized');
    await writeThrough(h, 0x88, 160);
  });

  it('follows the ANA change notice: a path turned inaccessible is left before any command finds out', async () => {
    const [a, b] = paths as [Path, Path];
    const g = await twoPathGateway(false);
    backendSub.setListenerAnaState(a.listener, 'inaccessible');
    // The path moves first, and the backend is enabled once connected through it.
    const through = async (port: number) => {
      const c = await controller(g);
      return c.trid.trsvcid === String(port) && c.state === 'enabled';
    };
    for (let i = 0; !(await through(b.port)); i++) {
      assert.ok(i < 250, 'the backend moves to b within 5 s, with no I/O');
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  it('refuses a path that is not one of the same controller, and changes nothing', async () => {
    const [a, b] = paths as [Path, Path];
    const g = await gateway();
    await attach(g, a);
    const refused = (code: number) => (e: JsonRpcError) => e.rpcCode === code;
    await assert.rejects(attach(g, a), refused(-17), 'the same path again');
    await assert.rejects(attach(g, b, { multipath: 'disable' }), refused(-17));
    await assert.rejects(attach(g, b, { multipath: 'sideways' }), refused(-32602));
    await assert.rejects(attach(g, b, { subnqn: 'nqn.2026-12.io.rdmagate:another' }), refused(-32602));
    await assert.rejects(attach(g, b, { trtype: 'rdma' }), refused(-32602));
    await assert.rejects(attach(g, b, { hdgst: true }), refused(-32602));
    const c = await controller(g);
    assert.equal(c.trid.trsvcid, String(a.port));
    assert.equal(c.alternate_trids, undefined);
    assert.deepEqual(await savedAttaches(g), [[String(a.port), undefined]]);
    await assert.rejects(g.rpc('bdev_nvme_detach_controller', { name: 'Nvme0', traddr: '127.0.0.1', trsvcid: '1' }), refused(-19),
      'a path it lacks: not its only path');
    assert.equal((await controller(g)).state, 'enabled');
  });

  it('a detach naming the path in use moves the backend to the other; naming the last path detaches it', async () => {
    const [a, b] = paths as [Path, Path];
    const g = await twoPathGateway(true);
    const h = await connectHost();
    assert.equal(await g.rpc('bdev_nvme_detach_controller', { name: 'Nvme0', traddr: '127.0.0.1', trsvcid: String(a.port) }), true);
    await writeThrough(h, 0x33);
    const c = await controller(g);
    assert.equal(c.trid.trsvcid, String(b.port));
    assert.equal(c.alternate_trids, undefined);
    // b is now the controller's own path in the saved config.
    assert.deepEqual(await savedAttaches(g), [[String(b.port), undefined]]);
    await g.rpc('nvmf_subsystem_remove_ns', { nqn: FRONT_NQN, nsid: 1 });
    assert.equal(await g.rpc('bdev_nvme_detach_controller', { name: 'Nvme0', traddr: '127.0.0.1', trsvcid: String(b.port) }), true);
    assert.deepEqual(await g.rpc('bdev_nvme_get_controllers'), []);
  });

  it('starts from its saved config while the first path is down, through the second', async () => {
    const [a, b] = paths as [Path, Path];
    let g = await twoPathGateway(true);
    await g.close();
    gateways.length = 0;
    a.cut();

    g = await gateway();
    while ((await controller(g)).state !== 'enabled') await new Promise((r) => setTimeout(r, 50));
    assert.equal((await controller(g)).trid.trsvcid, String(b.port));
    await writeThrough(await connectHost(), 0x44);
    // The saved config is the same as before: a then b.
    assert.deepEqual(await savedAttaches(g), [[String(a.port), undefined], [String(b.port), 'failover']]);
  });
});
