/**
 * A gateway recovers by itself (issue 18, items 1 and 2): it starts while a saved backend
 * is down and attaches it once it answers, and a backend given up after
 * ctrlr_loss_timeout_sec comes back by itself, or at once through bdev_nvme_reset_controller,
 * with the frontend hosts' connections kept all along.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufferPool, Gateway, Target, nvmf } from '../../lib';
import type { LogEntry } from '../../lib/gateway';
import type { JsonRpcError } from '../../lib/jsonrpc/errors';

const BACKEND_NQN = 'nqn.2026-12.io.rdmagate:recovery-backend';
const FRONT_NQN = 'nqn.2026-12.io.rdmagate:recovery-front';
const LOCAL_NQN = 'nqn.2026-12.io.rdmagate:recovery-local';
const UUID = '11111111-2222-4333-8444-555555555555';

/** save_config's entries by section, in an order of their own: the order within a section does not matter to a replay. */
function sections(config: unknown): Record<string, string[]> {
  const { subsystems } = config as { subsystems: { subsystem: string; config: unknown[] }[] };
  return Object.fromEntries(subsystems.map((s) => [s.subsystem, s.config.map((e) => JSON.stringify(e)).sort()]));
}

describe('gateway: backends that come back', function () {
  this.timeout(60000);
  let dir: string;
  let backend: Target | undefined;
  let backendPort: number;
  let frontPort: number;
  const gateways: Gateway[] = [];
  const hosts: nvmf.Controller[] = [];
  const pool = new BufferPool({ chunkSize: 64 * 1024 });
  let logs: LogEntry[];

  function startBackend(port = 0): number {
    backend = new Target();
    backend.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: 4 << 20 });
    backend.addSubsystem({ nqn: BACKEND_NQN, allowAnyHost: true }).addNamespace({ bdev: 'Malloc0', uuid: UUID });
    return backend.listen({ transport: 'tcp', address: '127.0.0.1', port }).port;
  }

  function stopBackend(): void {
    backend?.closeSync();
    backend = undefined;
  }

  async function gateway(): Promise<Gateway> {
    const g = new Gateway({ socketPath: null, configPath: join(dir, 'config.json'), log: (e) => logs.push(e) });
    await g.start();
    gateways.push(g);
    return g;
  }

  async function connectHost(subnqn: string): Promise<nvmf.Controller> {
    const h = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: frontPort, subnqn });
    hosts.push(h);
    return h;
  }

  async function controllerState(g: Gateway): Promise<string> {
    const [c] = await g.rpc('bdev_nvme_get_controllers', { name: 'Nvme0' }) as { ctrlrs: { state: string }[] }[];
    return c!.ctrlrs[0]!.state;
  }

  async function until(g: Gateway, state: string): Promise<void> {
    while (await controllerState(g) !== state) await new Promise((r) => setTimeout(r, 50));
  }

  /** A write through the export, read back from the backend's own bdev. */
  async function writeThrough(h: nvmf.Controller, seed: number): Promise<void> {
    const b = pool.acquire();
    try {
      b.fill(seed, 0, 4096);
      await h.queuePairs[0]!.write(1, 16, 8, b);
      b.fill(0, 0, 4096);
      await h.queuePairs[0]!.read(1, 16, 8, b);
      assert.equal(b[4095], seed);
    } finally {
      b.release();
    }
  }

  async function exportBackend(g: Gateway, extra: Record<string, number> = {}): Promise<void> {
    await g.rpc('bdev_nvme_attach_controller', { name: 'Nvme0', trtype: 'tcp', traddr: '127.0.0.1', trsvcid: backendPort,
      subnqn: BACKEND_NQN, ...extra });
    await g.rpc('nvmf_create_transport', { trtype: 'TCP' });
    await g.rpc('nvmf_create_subsystem', { nqn: FRONT_NQN, allow_any_host: true });
    await g.rpc('nvmf_subsystem_add_ns', { nqn: FRONT_NQN, namespace: { bdev_name: 'Nvme0n1', nsid: 1 } });
    await g.rpc('nvmf_subsystem_add_listener', { nqn: FRONT_NQN,
      listen_address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(frontPort) } });
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-recovery-'));
    logs = [];
    backendPort = startBackend();
    frontPort = 32000 - (process.pid % 2000);  // below Linux's ephemeral ports, apart from the other gateway tests'
  });

  afterEach(async () => {
    for (const h of hosts.splice(0)) await h.close().catch(() => undefined);
    for (const g of gateways.splice(0)) await g.close();
    stopBackend();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts while a saved backend is down, serves the other exports, and adds its namespace once it answers', async () => {
    let g = await gateway();
    await exportBackend(g);
    await g.rpc('bdev_malloc_create', { name: 'Local0', num_blocks: 8192, block_size: 512 });
    await g.rpc('nvmf_create_subsystem', { nqn: LOCAL_NQN, allow_any_host: true });
    await g.rpc('nvmf_subsystem_add_ns', { nqn: LOCAL_NQN, namespace: { bdev_name: 'Local0' } });
    await g.rpc('nvmf_subsystem_add_listener', { nqn: LOCAL_NQN,
      listen_address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(frontPort) } });
    const saved = sections(await g.rpc('save_config'));
    await g.close();
    gateways.length = 0;

    stopBackend();
    g = await gateway();
    assert.equal(await controllerState(g), 'resetting');
    const lost = logs.find((e) => e.msg === 'backend lost');
    assert.equal(lost?.backend, 'Nvme0');
    assert.equal(lost?.trsvcid, String(backendPort));
    // The healthy export is served; the waiting one is there without its namespace.
    await writeThrough(await connectHost(LOCAL_NQN), 0x11);
    const front = await connectHost(FRONT_NQN);
    assert.deepEqual(front.namespaces, []);
    // Nothing of the config is lost meanwhile.
    assert.deepEqual(sections(await g.rpc('save_config')), saved);

    startBackend(backendPort);
    await until(g, 'enabled');
    const ns = (await g.rpc('nvmf_get_subsystems') as { nqn: string; namespaces: { nsid: number; uuid: string }[] }[])
      .find((s) => s.nqn === FRONT_NQN)!.namespaces;
    assert.deepEqual(ns.map((n) => [n.nsid, n.uuid]), [[1, UUID]], 'the same namespace as before');
    // The host that connected meanwhile finds the namespace, with no reconnect.
    assert.deepEqual((await front.rescanNamespaces()).map((n) => n.nsid), [1]);
    await writeThrough(front, 0x22);
    assert.deepEqual(sections(await g.rpc('save_config')), saved);
    assert.ok(logs.some((e) => e.msg === 'backend reconnected' && e.backend === 'Nvme0'));
  });

  it('a backend given up after ctrlr_loss_timeout_sec comes back by itself; the frontend host stays connected', async () => {
    const g = await gateway();
    await exportBackend(g, { ctrlr_loss_timeout_sec: 1, reconnect_delay_sec: 1 });
    const h = await connectHost(FRONT_NQN);
    await writeThrough(h, 0x33);
    stopBackend();
    await until(g, 'failed');
    await assert.rejects(writeThrough(h, 0x44), 'I/O fails while the backend is failed');
    startBackend(backendPort);
    await until(g, 'enabled');
    await writeThrough(h, 0x55);
  });

  it('bdev_nvme_reset_controller brings a failed backend back at once, or says it could not', async () => {
    const g = await gateway();
    await exportBackend(g, { ctrlr_loss_timeout_sec: 1, reconnect_delay_sec: 1 });
    const h = await connectHost(FRONT_NQN);
    stopBackend();
    await until(g, 'failed');
    await assert.rejects(g.rpc('bdev_nvme_reset_controller', { name: 'Nvme0' }), (e: JsonRpcError) => e.rpcCode === -5);
    assert.equal(await controllerState(g), 'failed');
    startBackend(backendPort);
    assert.equal(await g.rpc('bdev_nvme_reset_controller', { name: 'Nvme0' }), true);
    assert.equal(await controllerState(g), 'enabled');
    await writeThrough(h, 0x66);
    // A live one is reset too: it drops its association and makes a new one.
    assert.equal(await g.rpc('bdev_nvme_reset_controller', { name: 'Nvme0' }), true);
    await writeThrough(h, 0x77);
    await assert.rejects(g.rpc('bdev_nvme_reset_controller', { name: 'Nvme9' }), (e: JsonRpcError) => e.rpcCode === -19);
  });
});
