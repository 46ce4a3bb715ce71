import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufferPool, Gateway, Target, nvmf, rdma } from '../../lib';
import type { JsonRpcError } from '../../lib/jsonrpc/errors';

const BACKEND_NQN = 'nqn.2026-11.io.rdmagate:rpc-backend';
const FRONT_NQN = 'nqn.2026-11.io.rdmagate:rpc-front';

async function rpcRejects(p: Promise<unknown>, code: number): Promise<void> {
  await assert.rejects(p, (e: JsonRpcError) => {
    assert.equal(e.rpcCode, code, e.message);
    return true;
  });
}

describe('gateway JSON-RPC: bdev_nvme_* backends', function () {
  this.timeout(60000);
  let dir: string;
  let backend: Target;
  let backendPort: number;
  let frontPort: number;
  const gateways: Gateway[] = [];
  const pool = new BufferPool({ chunkSize: 64 * 1024 });

  async function gateway(): Promise<Gateway> {
    const g = new Gateway({ socketPath: null, configPath: join(dir, 'config.json'), log: () => undefined });
    await g.start();
    gateways.push(g);
    return g;
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-nvme-rpc-'));
    backend = new Target();
    backend.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: 4 << 20 });
    backend.addSubsystem({ nqn: BACKEND_NQN }).addNamespace({ bdev: 'Malloc0', uuid: '11111111-2222-4333-8444-555555555555' });
    backendPort = backend.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
    frontPort = 30000 + (process.pid % 2000); // below Linux's ephemeral ports (32768 on)
  });

  afterEach(async () => {
    for (const g of gateways.splice(0)) await g.close();
    backend.closeSync();
    rmSync(dir, { recursive: true, force: true });
  });

  async function exportBackend(g: Gateway): Promise<void> {
    assert.deepEqual(await g.rpc('bdev_nvme_attach_controller', { name: 'Nvme0', trtype: 'TCP', traddr: '127.0.0.1',
      adrfam: 'IPv4', trsvcid: String(backendPort), subnqn: BACKEND_NQN }), ['Nvme0n1']);
    await g.rpc('nvmf_create_transport', { trtype: 'TCP' });
    await g.rpc('nvmf_create_subsystem', { nqn: FRONT_NQN, allow_any_host: true });
    await g.rpc('nvmf_subsystem_add_ns', { nqn: FRONT_NQN, namespace: { bdev_name: 'Nvme0n1' } });
    await g.rpc('nvmf_subsystem_add_listener', { nqn: FRONT_NQN,
      listen_address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(frontPort) } });
  }

  it('attaches a backend, exports its namespace, and I/O through the export reaches the backend', async () => {
    const g = await gateway();
    await exportBackend(g);
    const bdevs = await g.rpc('bdev_get_bdevs', { name: 'Nvme0n1' }) as { product_name: string; uuid: string; claimed: boolean; num_blocks: number }[];
    assert.equal(bdevs[0].product_name, 'NVMe disk');
    assert.equal(bdevs[0].uuid, '11111111-2222-4333-8444-555555555555', 'the backend namespace UUID carries through');
    assert.equal(bdevs[0].claimed, true);
    assert.equal(bdevs[0].num_blocks, (4 << 20) / 512);
    const ctrls = await g.rpc('bdev_nvme_get_controllers', {}) as { name: string; ctrlrs: { state: string; trid: { subnqn: string } }[] }[];
    assert.deepEqual(ctrls.map((c) => [c.name, c.ctrlrs[0].state, c.ctrlrs[0].trid.subnqn]), [['Nvme0', 'enabled', BACKEND_NQN]]);

    const front = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: frontPort, subnqn: FRONT_NQN });
    const direct = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: backendPort, subnqn: BACKEND_NQN });
    const w = pool.acquire();
    w.fill(0x5a);
    await front.queuePairs[0].write(1, 40, 128, w);
    const r = pool.acquire();
    await direct.queuePairs[0].read(1, 40, 128, r);
    assert.ok(Buffer.from(r.buffer, r.byteOffset, 65536).equals(Buffer.from(w.buffer, w.byteOffset, 65536)));
    w.release();
    r.release();
    await front.close();
    await direct.close();

    await rpcRejects(g.rpc('bdev_nvme_detach_controller', { name: 'Nvme0' }), -16);
    const saved = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { subsystems: { subsystem: string; config: { method: string }[] }[] };
    const bdevSection = saved.subsystems.find((s) => s.subsystem === 'bdev')!;
    assert.deepEqual(bdevSection.config.map((c) => c.method), ['bdev_nvme_attach_controller']);
    // The attach named no host NQN: the one the backend saw is saved, so a restart on a
    // machine without /etc/nvme/hostnqn connects as the same host.
    const [seen] = backend.controllers().map((c) => c.hostnqn);
    assert.equal((bdevSection.config[0] as { params?: { hostnqn?: string } }).params?.hostnqn, seen);
  });

  it('a restarted gateway re-attaches the backend and serves the same export from its saved config', async () => {
    const g1 = await gateway();
    await exportBackend(g1);
    await g1.close();
    gateways.splice(0);
    const g2 = await gateway();
    const subsystems = await g2.rpc('nvmf_get_subsystems', { nqn: FRONT_NQN }) as { namespaces: { bdev_name: string }[] }[];
    assert.equal(subsystems[0].namespaces[0].bdev_name, 'Nvme0n1');
    const front = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: frontPort, subnqn: FRONT_NQN });
    assert.equal(front.namespaces[0].uuid, '11111111-2222-4333-8444-555555555555');
    await front.close();
  });

  it('serves Prometheus metrics: per-namespace and per-qpair counters, latency histograms, backend state', async () => {
    const g = new Gateway({ socketPath: null, configPath: null, log: () => undefined, metrics: { port: 0 } });
    await g.start();
    gateways.push(g);
    await exportBackend(g);
    const scrape = async () => (await fetch(`http://127.0.0.1:${g.metricsPort}/metrics`)).text();
    const b = pool.acquire();
    // A first host writes 3 times and goes away: its counts stay with the namespace.
    const first = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: frontPort, subnqn: FRONT_NQN });
    for (let i = 0; i < 3; i++) await first.queuePairs[0].write(1, i * 8, 8, b);
    await first.close();
    const front = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: frontPort, subnqn: FRONT_NQN });
    for (let i = 0; i < 10; i++) await front.queuePairs[0].read(1, i * 8, 8, b);
    await front.queuePairs[0].flush(1);
    b.release();
    const ns = `subnqn="${FRONT_NQN}",nsid="1",bdev="Nvme0n1"`;
    // A command's latency is recorded once its response is sent, which the host may see first.
    let text = await scrape();
    const line = (re: RegExp) => Number(text.match(re)?.[1] ?? NaN);
    const io = `subnqn="${FRONT_NQN}",cntlid="\\d+",qid="1",transport="tcp"`;
    const recorded = () => line(new RegExp(`rdmagate_namespace_latency_seconds_count\\{${ns}\\} (\\d+)`)) >= 14
      && line(new RegExp(`rdmagate_qpair_latency_seconds_count\\{${io}\\} (\\d+)`)) >= 12;
    for (let i = 0; i < 100 && !recorded(); i++) {
      await new Promise((r) => setTimeout(r, 20));
      text = await scrape();
    }
    await front.close();
    assert.equal(line(new RegExp(`rdmagate_namespace_reads_total\\{${ns}\\} (\\d+)`)), 10);
    assert.equal(line(new RegExp(`rdmagate_namespace_writes_total\\{${ns}\\} (\\d+)`)), 3);
    assert.equal(line(new RegExp(`rdmagate_namespace_read_bytes_total\\{${ns}\\} (\\d+)`)), 10 * 4096);
    assert.equal(line(new RegExp(`rdmagate_namespace_written_bytes_total\\{${ns}\\} (\\d+)`)), 3 * 4096);
    assert.equal(line(new RegExp(`rdmagate_namespace_other_ops_total\\{${ns}\\} (\\d+)`)), 1);
    assert.equal(line(new RegExp(`rdmagate_namespace_errors_total\\{${ns}\\} (\\d+)`)), 0);
    assert.equal(line(new RegExp(`rdmagate_namespace_latency_seconds_count\\{${ns}\\} (\\d+)`)), 14);
    // Ten reads, a flush, and the queue's own Connect.
    assert.equal(line(new RegExp(`rdmagate_qpair_commands_total\\{${io}\\} (\\d+)`)), 12);
    assert.equal(line(new RegExp(`rdmagate_qpair_read_bytes_total\\{${io}\\} (\\d+)`)), 10 * 4096);
    assert.equal(line(new RegExp(`rdmagate_qpair_latency_seconds_count\\{${io}\\} (\\d+)`)), 12);
    assert.equal(line(new RegExp(`rdmagate_qpair_latency_seconds_bucket\\{${io},le="\\+Inf"\\} (\\d+)`)), 12);
    assert.match(text, /rdmagate_backend_up\{name="Nvme0"\} 1/);
    assert.match(text, /rdmagate_backend_state\{name="Nvme0",state="enabled"\} 1/);
    // The backend host sent the ten reads, three writes and the flush, besides its admin commands.
    assert.ok(line(/rdmagate_backend_commands_total\{name="Nvme0"\} (\d+)/) >= 14);
    assert.ok(line(/rdmagate_backend_received_bytes_total\{name="Nvme0"\} (\d+)/) > 10 * 4096);
    assert.equal(line(/rdmagate_backend_timeouts_total\{name="Nvme0"\} (\d+)/), 0);
    assert.equal((await fetch(`http://127.0.0.1:${g.metricsPort}/nope`)).status, 404);
  });

  it('reconnect_delay_sec 0 alone means no reconnect (SPDK\'s reading), never a tight reconnect loop', async () => {
    const g = await gateway();
    await rpcRejects(g.rpc('bdev_nvme_attach_controller', { name: 'Nvme1', trtype: 'tcp', traddr: '127.0.0.1',
      trsvcid: String(backendPort), subnqn: BACKEND_NQN, ctrlr_loss_timeout_sec: 0, reconnect_delay_sec: 5 }), -32602);
    await rpcRejects(g.rpc('bdev_nvme_attach_controller', { name: 'Nvme1', trtype: 'tcp', traddr: '127.0.0.1',
      trsvcid: String(backendPort), subnqn: BACKEND_NQN, ctrlr_loss_timeout_sec: 3, reconnect_delay_sec: 5 }), -32602);
    await g.rpc('bdev_nvme_attach_controller', { name: 'Nvme1', trtype: 'tcp', traddr: '127.0.0.1',
      trsvcid: String(backendPort), subnqn: BACKEND_NQN, reconnect_delay_sec: 0 });
    // The backend goes; in its place, a listener that counts connections and drops them.
    backend.closeSync();
    let attempts = 0;
    const refuser = createServer((s) => { attempts++; s.destroy(); });
    await new Promise<void>((resolve) => refuser.listen(backendPort, '127.0.0.1', resolve));
    try {
      const state = async () => ((await g.rpc('bdev_nvme_get_controllers', { name: 'Nvme1' })) as { ctrlrs: { state: string }[] }[])[0]!.ctrlrs[0]!.state;
      while (await state() !== 'failed') await new Promise((r) => setTimeout(r, 50));
      assert.equal(attempts, 0, 'no reconnect attempt');
    } finally {
      refuser.close();
    }
  });

  it('detaches an unused backend, and answers bad calls with JSON-RPC error codes', async () => {
    const g = await gateway();
    await g.rpc('bdev_nvme_attach_controller', { name: 'Nvme1', trtype: 'tcp', traddr: '127.0.0.1', trsvcid: String(backendPort), subnqn: BACKEND_NQN });
    await rpcRejects(g.rpc('bdev_nvme_attach_controller', { name: 'Nvme1', trtype: 'tcp', traddr: '127.0.0.1', trsvcid: String(backendPort), subnqn: BACKEND_NQN }), -17);
    assert.equal(await g.rpc('bdev_nvme_detach_controller', { name: 'Nvme1' }), true);
    await rpcRejects(g.rpc('bdev_nvme_detach_controller', { name: 'Nvme1' }), -19);
    await rpcRejects(g.rpc('bdev_get_bdevs', { name: 'Nvme1n1' }), -19);
    await rpcRejects(g.rpc('bdev_nvme_attach_controller', { name: 'Nvme2', trtype: 'tcp', traddr: '127.0.0.1' }), -32602);
    await rpcRejects(g.rpc('bdev_nvme_attach_controller', { name: 'Nvme2', trtype: 'tcp', traddr: '127.0.0.1', subnqn: BACKEND_NQN, trsvcid: 'x' }), -32602);
    await rpcRejects(g.rpc('bdev_nvme_attach_controller', { name: 'Nvme2', trtype: 'tcp', traddr: '127.0.0.1', subnqn: BACKEND_NQN, bogus: 1 }), -32602);
    // NVMe/RDMA backends need an RDMA device (the lab attaches one): without rdma-core the
    // attach is not supported (-95); with it, there is no RDMA device on 127.0.0.1 here.
    const rdmaAttach = g.rpc('bdev_nvme_attach_controller', { name: 'Nvme2', trtype: 'RDMA', traddr: '127.0.0.1', subnqn: BACKEND_NQN });
    if (rdma.available().available) {
      await assert.rejects(rdmaAttach, /over NVMe\/RDMA/);
      await rpcRejects(rdmaAttach, -5);
    } else {
      await rpcRejects(rdmaAttach, -95);
    }
    await rpcRejects(g.rpc('bdev_nvme_attach_controller', { name: 'Nvme2', trtype: 'RDMA', traddr: '127.0.0.1', subnqn: BACKEND_NQN,
      hdgst: true }), -32602);
    await rpcRejects(g.rpc('bdev_nvme_attach_controller', { name: 'Nvme2', trtype: 'FC', traddr: '127.0.0.1', subnqn: BACKEND_NQN }), -32602);
    // Nothing listens on port 1: the connect fails, and SPDK's answer to that is -5 (EIO).
    await rpcRejects(g.rpc('bdev_nvme_attach_controller', { name: 'Nvme3', trtype: 'tcp', traddr: '127.0.0.1', trsvcid: '1',
      subnqn: BACKEND_NQN, ctrlr_loss_timeout_sec: 0 }), -5);
    await rpcRejects(g.rpc('bdev_nvme_attach_controller', { name: 'Nvme3', trtype: 'tcp', traddr: '127.0.0.1',
      trsvcid: String(backendPort), subnqn: `${BACKEND_NQN}-none` }), -5);
    assert.deepEqual(await g.rpc('bdev_nvme_get_controllers', {}), [], 'a failed attach leaves nothing');
  });
});
