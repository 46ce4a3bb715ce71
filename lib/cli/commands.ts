/** Every `rdmagate` subcommand, in the order `rdmagate --help` lists them. */
import type { Command } from './command';
import { CSI_COMMAND } from './csi';
import { DEMO_COMMAND } from './demo';
import { DEVICES_COMMAND } from './devices';
import { DPU_COMMAND } from './dpu';
import { GATEWAY_COMMAND } from './gateway';
import { DISCOVER_COMMAND, ID_CTRL_COMMAND, ID_NS_COMMAND } from './nvme';
import { OPI_BRIDGE_COMMAND } from './opi-bridge';
import { PERF_COMMAND } from './perf';
import { RPC_COMMAND } from './rpc';
import { TARGET_COMMAND } from './target';

export const COMMANDS: readonly Command[] = [DEMO_COMMAND, DEVICES_COMMAND, TARGET_COMMAND, DISCOVER_COMMAND, ID_CTRL_COMMAND,
  ID_NS_COMMAND, GATEWAY_COMMAND, RPC_COMMAND, PERF_COMMAND, CSI_COMMAND, OPI_BRIDGE_COMMAND, DPU_COMMAND];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
