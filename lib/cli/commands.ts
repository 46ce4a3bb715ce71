/**
 * Every `rdmagate` subcommand, in the order `rdmagate --help` lists them. A command's
 * module is loaded when the command is looked up, and only its own: most of them load the
 * addon with their module, and `rdmagate csi` (a CSI driver's container) must not.
 */
import type { Command } from './command';

interface CommandModule {
  name: string;
  load(): Promise<Command>;
}

const MODULES: readonly CommandModule[] = [
  { name: 'demo', load: async () => (await import('./demo')).DEMO_COMMAND },
  { name: 'devices', load: async () => (await import('./devices')).DEVICES_COMMAND },
  { name: 'target', load: async () => (await import('./target')).TARGET_COMMAND },
  { name: 'discover', load: async () => (await import('./nvme')).DISCOVER_COMMAND },
  { name: 'id-ctrl', load: async () => (await import('./nvme')).ID_CTRL_COMMAND },
  { name: 'id-ns', load: async () => (await import('./nvme')).ID_NS_COMMAND },
  { name: 'gen-tls-key', load: async () => (await import('./gen-tls-key')).GEN_TLS_KEY_COMMAND },
  { name: 'gateway', load: async () => (await import('./gateway')).GATEWAY_COMMAND },
  { name: 'rpc', load: async () => (await import('./rpc')).RPC_COMMAND },
  { name: 'perf', load: async () => (await import('./perf')).PERF_COMMAND },
  { name: 'csi', load: async () => (await import('./csi')).CSI_COMMAND },
  { name: 'group', load: async () => (await import('./group')).GROUP_COMMAND },
  { name: 'opi-bridge', load: async () => (await import('./opi-bridge')).OPI_BRIDGE_COMMAND },
  { name: 'dpu', load: async () => (await import('./dpu')).DPU_COMMAND },
];

/** The commands' names, without loading any. */
export const COMMAND_NAMES: readonly string[] = MODULES.map((m) => m.name);

/** Every command, each module loaded: for `rdmagate --help`. */
export function allCommands(): Promise<Command[]> {
  return Promise.all(MODULES.map((m) => m.load()));
}

/** The command named `name`, with its module alone loaded; undefined when there is none. */
export async function findCommand(name: string): Promise<Command | undefined> {
  return MODULES.find((m) => m.name === name)?.load();
}
