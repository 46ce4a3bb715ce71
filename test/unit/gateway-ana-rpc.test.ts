/**
 * The gateway's ANA RPCs, as SPDK names them: nvmf_create_subsystem's ana_reporting and
 * cntlid range, a listener's ANA states, a namespace's group, all kept by save_config.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway } from '../../lib';
import { renderMetrics } from '../../lib/gateway/metrics';
import type { JsonRpcError } from '../../lib/jsonrpc/errors';

const NQN = 'nqn.2026-12.io.rdmagate:ana-rpc';

async function rpcRejects(p: Promise<unknown>, code: number): Promise<void> {
  await assert.rejects(p, (e: JsonRpcError) => {
    assert.equal(e.rpcCode, code, e.message);
    return true;
  });
}

describe('gateway JSON-RPC: ANA', function () {
  this.timeout(20000);
  let dir: string;
  const gateways: Gateway[] = [];
  const port = String(19000 + (process.pid % 1000));  // below Linux's ephemeral ports (32768 on)
  const address = { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: port };

  async function gateway(): Promise<Gateway> {
    const g = new Gateway({ socketPath: null, configPath: join(dir, 'config.json'), log: () => undefined });
    await g.start();
    gateways.push(g);
    return g;
  }

  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'rdmagate-ana-rpc-')); });
  afterEach(async () => {
    for (const g of gateways.splice(0)) await g.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sets up an ANA subsystem, reports its listeners\' states, and keeps them across a restart', async () => {
    let g = await gateway();
    await g.rpc('nvmf_create_transport', { trtype: 'TCP' });
    await g.rpc('bdev_malloc_create', { name: 'Malloc0', num_blocks: 2048, block_size: 512 });
    await g.rpc('bdev_malloc_create', { name: 'Malloc1', num_blocks: 2048, block_size: 512 });
    await g.rpc('nvmf_create_subsystem', { nqn: NQN, allow_any_host: true, ana_reporting: true, min_cntlid: 1000, max_cntlid: 1999 });
    await g.rpc('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'Malloc0', nsid: 1 } });
    await g.rpc('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'Malloc1', nsid: 2, anagrpid: 3 } });
    await g.rpc('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: address, ana_state: 'non_optimized' });
    await g.rpc('nvmf_subsystem_listener_set_ana_state', { nqn: NQN, listen_address: address, ana_state: 'inaccessible', anagrpid: 3 });
    await g.rpc('nvmf_subsystem_set_ns_ana_group', { nqn: NQN, nsid: 1, anagrpid: 2 });

    const view = async (gw: Gateway) => ({
      listeners: await gw.rpc('nvmf_subsystem_get_listeners', { nqn: NQN }),
      subsystem: ((await gw.rpc('nvmf_get_subsystems', { nqn: NQN })) as Record<string, unknown>[])[0],
    });
    const before = await view(g);
    assert.deepEqual(before.listeners, [{ address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: port },
      ana_states: [{ ana_group: 2, ana_state: 'non_optimized' }, { ana_group: 3, ana_state: 'inaccessible' }] }]);
    const s = before.subsystem as { ana_reporting: boolean; min_cntlid: number; max_cntlid: number; namespaces: { nsid: number; anagrpid: number }[] };
    assert.deepEqual([s.ana_reporting, s.min_cntlid, s.max_cntlid], [true, 1000, 1999]);
    assert.deepEqual(s.namespaces.map((n) => [n.nsid, n.anagrpid]), [[1, 2], [2, 3]]);
    // In the metrics: each group's state through each listener, as an enum.
    const metrics = renderMetrics(g.target);
    const where = `subnqn="${NQN}",trtype="tcp",traddr="127.0.0.1",trsvcid="${port}"`;
    for (const [grp, state] of [[2, 'non_optimized'], [3, 'inaccessible']] as const) {
      for (const st of ['optimized', 'non_optimized', 'inaccessible']) {
        assert.ok(metrics.includes(`rdmagate_listener_ana_state{${where},anagrpid="${grp}",state="${st}"} ${st === state ? 1 : 0}\n`), `${grp} ${st}`);
      }
    }
    assert.match(metrics, new RegExp(`^rdmagate_listener_connections\\{trtype="tcp",traddr="127.0.0.1",trsvcid="${port}"\\} 0$`, 'm'));

    await g.close();
    gateways.length = 0;
    g = await gateway();
    assert.deepEqual(await view(g), before, 'save_config kept every ANA setting');
  });

  it('refuses bad ANA calls with JSON-RPC errors, and changes nothing', async () => {
    const g = await gateway();
    await g.rpc('nvmf_create_transport', { trtype: 'TCP' });
    await g.rpc('nvmf_create_subsystem', { nqn: NQN, ana_reporting: true, max_namespaces: 4 });
    await g.rpc('nvmf_create_subsystem', { nqn: `${NQN}-plain` });
    await g.rpc('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: address });
    await g.rpc('nvmf_subsystem_add_listener', { nqn: `${NQN}-plain`, listen_address: address });
    const set = (params: Record<string, unknown>) => g.rpc('nvmf_subsystem_listener_set_ana_state',
      { nqn: NQN, listen_address: address, ana_state: 'inaccessible', ...params } as never);
    await rpcRejects(set({ anagrpid: 5 }), -32602);  // over max_namespaces
    await rpcRejects(set({ ana_state: 'sideways' }), -32602);
    await rpcRejects(set({ listen_address: { ...address, trsvcid: '1' } }), -19);
    await rpcRejects(set({ nqn: `${NQN}-plain` }), -32602);  // made without ana_reporting
    await rpcRejects(set({ nqn: `${NQN}-none` }), -19);
    await rpcRejects(g.rpc('nvmf_create_subsystem', { nqn: `${NQN}-range`, min_cntlid: 10, max_cntlid: 9 }), -32602);
    await rpcRejects(g.rpc('nvmf_create_subsystem', { nqn: `${NQN}-range`, min_cntlid: 0 }), -32602);
    await rpcRejects(g.rpc('nvmf_subsystem_set_ns_ana_group', { nqn: NQN, nsid: 1, anagrpid: 1 }), -19);
    await rpcRejects(g.rpc('nvmf_subsystem_add_listener', { nqn: `${NQN}-plain`, listen_address: { ...address, trsvcid: '2' },
      ana_state: 'optimized' }), -32602);
    assert.deepEqual(await g.rpc('nvmf_subsystem_get_listeners', { nqn: NQN }), [{ address, ana_states: [] }]);
    assert.equal(((await g.rpc('nvmf_get_subsystems')) as unknown[]).length, 3, 'discovery and the two made');
  });
});
