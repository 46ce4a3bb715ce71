/**
 * A gateway group for the lab's CSI tests: gateways in this process, each on its JSON-RPC
 * socket (so that one closed is down to the controller, as a crashed one is), and a CSI
 * controller over them as a group, serving on a socket of its own.
 */
import { join } from 'node:path';
import { Gateway } from '../../lib';
import { ControllerService, CsiClient, CsiLogger, CsiServer, GatewayGroup, GroupExporter, LocalPlugin, socketGatewayRpc } from '../../lib/csi';

export interface LabMember {
  name: string;
  tcp: number;
  /** With an rdma port, the member also listens over NVMe/RDMA on `rdmaAddress`. */
  rdma?: number;
}

export interface LabGroup {
  members: LabMember[];
  gateways: Gateway[];
  /** The group's CSI controller. */
  ctl: CsiClient;
  close(): Promise<void>;
}

export async function startLabGroup(dir: string, members: LabMember[], rdmaAddress?: string): Promise<LabGroup> {
  const sock = (m: LabMember) => join(dir, `${m.name}.sock`);
  const gateways = await Promise.all(members.map(async (m) => {
    const g = new Gateway({ socketPath: sock(m), configPath: null, log: () => undefined, target: { reactors: 1 } });
    await g.start();
    return g;
  }));
  const log = new CsiLogger(() => undefined);
  const group = new GatewayGroup({ members: members.map((m) => ({ name: m.name, rpc: socketGatewayRpc(sock(m), 2000),
    tcp: { traddr: '127.0.0.1', trsvcid: m.tcp }, ...(m.rdma && rdmaAddress ? { rdma: { traddr: rdmaAddress, trsvcid: m.rdma } } : {}) })) });
  const plugin = new LocalPlugin({ poolDir: join(dir, 'group-pool'), log });
  await plugin.open();
  const endpoint = `unix://${join(dir, 'group-controller.sock')}`;
  const server = await CsiServer.start({ endpoint, log, services: {
    Controller: new ControllerService({ plugins: [plugin], exporter: new GroupExporter({ group, log }), log }).handlers() } });
  const ctl = new CsiClient(endpoint);
  return {
    members, gateways, ctl,
    close: async () => {
      ctl.close();
      await server.close();
      for (const g of gateways) await g.close();
    },
  };
}
