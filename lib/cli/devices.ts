/** `rdmagate devices`: the RDMA devices of this machine, their ports and GIDs. */
import * as rdma from '../rdma';
import { isJson, OUTPUT_FORMAT_FLAG, type Command } from './command';

export const DEVICES_COMMAND: Command = {
  name: 'devices',
  description: 'the RDMA devices of this machine',
  flags: [OUTPUT_FORMAT_FLAG],
  async run(args) {
    const devs = rdma.devices();
    if (isJson(args)) console.log(JSON.stringify(devs, null, 2));
    else if (devs.length === 0) console.log('no RDMA devices');
    else for (const d of devs) {
      console.log(`${d.name}  guid ${d.guid}  ${d.transport}`);
      for (const p of d.ports) console.log(`  port ${p.number}: ${p.state}, ${p.linkLayer}, mtu ${p.activeMtu}, gids ${p.gids.join(' ')}`);
    }
    return 0;
  },
};
