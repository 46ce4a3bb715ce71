/**
 * load_config opens listeners last (as SPDK starts its subsystems once the config is
 * loaded): a host that reconnects to a gateway restarting from its saved config, where each
 * subsystem's listener comes before its hosts and namespaces, must not find a namespace
 * missing (Invalid Namespace, with DNR: an error that reaches the application).
 */
import assert from 'node:assert/strict';
import { configMethods } from '../../lib/gateway/rpc/methods/config';
import type { RpcContext } from '../../lib/gateway/rpc/method';
import type { GatewayState } from '../../lib/gateway/state';

const NQN = 'nqn.2026-12.io.rdmagate:load-order';
const listen = (port: string) => ({ method: 'nvmf_subsystem_add_listener',
  params: { nqn: NQN, listen_address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: port } } });

function replayed(fail?: string): { ctx: RpcContext; order: string[] } {
  const order: string[] = [];
  const ctx: RpcContext = {
    state: {} as GatewayState,
    methodNames: () => [],
    replay: async (method: string, params: unknown) => {
      const port = (params as { listen_address?: { trsvcid: string } }).listen_address?.trsvcid;
      order.push(port ? `${method}:${port}` : method);
      if (method === fail) throw new Error(`${method} refused`);
      return true;
    },
  };
  return { ctx, order };
}

const config = {
  subsystems: [
    { subsystem: 'bdev', config: [{ method: 'bdev_malloc_create', params: { name: 'Malloc0', num_blocks: 8, block_size: 512 } }] },
    { subsystem: 'nvmf', config: [
      { method: 'nvmf_create_transport', params: { trtype: 'TCP' } },
      { method: 'nvmf_create_subsystem', params: { nqn: NQN } },
      listen('4420'),
      { method: 'nvmf_subsystem_add_host', params: { nqn: NQN, host: 'nqn.2014-08.org.nvmexpress:uuid:1' } },
      listen('4421'),
      { method: 'nvmf_subsystem_add_ns', params: { nqn: NQN, namespace: { bdev_name: 'Malloc0' } } },
      { method: 'nvmf_subsystem_listener_set_ana_state', params: { nqn: NQN, ana_state: 'inaccessible',
        listen_address: listen('4421').params.listen_address } },
      { method: 'nvmf_subsystem_add_ns', params: { nqn: NQN, namespace: { bdev_name: 'Malloc0', nsid: 2 } } },
    ] },
  ],
};

describe('gateway load_config order', () => {
  it('opens every listener after the rest of the config, in file order', async () => {
    const { ctx, order } = replayed();
    assert.equal(await configMethods.load_config!.invoke(config, ctx), true);
    assert.deepEqual(order, ['bdev_malloc_create', 'nvmf_create_transport', 'nvmf_create_subsystem', 'nvmf_subsystem_add_host',
      'nvmf_subsystem_add_ns', 'nvmf_subsystem_add_ns', 'nvmf_subsystem_add_listener:4420', 'nvmf_subsystem_add_listener:4421',
      'nvmf_subsystem_listener_set_ana_state:4421']);
  });

  it('on a failure, still opens the listeners the file had before it, and answers that failure', async () => {
    const { ctx, order } = replayed('nvmf_subsystem_add_ns');
    await assert.rejects(Promise.resolve(configMethods.load_config!.invoke(config, ctx)),
      /subsystems\[1\]\.config\[5\] \(nvmf_subsystem_add_ns\): .*nvmf_subsystem_add_ns refused/);
    assert.deepEqual(order.slice(-3), ['nvmf_subsystem_add_ns', 'nvmf_subsystem_add_listener:4420', 'nvmf_subsystem_add_listener:4421']);
    assert.equal(order.filter((m) => m === 'nvmf_subsystem_add_ns').length, 1, 'nothing after the failure runs');
  });
});
