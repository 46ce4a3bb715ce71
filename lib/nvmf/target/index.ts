export { ANA_STATES, Listener, Namespace, Subsystem, Target, type AnaState,
  type BdevOptions, type DhchapConfig, type SubsystemHost, type NvmeAttachOptions, type ListenOptions, type NamespaceOptions, type SubsystemOptions, type TargetOptions } from './target';
export type { BdevInfo, MultipathInfo, MultipathPolicyName, MultipathSelector, NvmeControllerInfo, NvmeControllerMemberInfo, NvmeControllerState, ConnectionDeadlines, ControllerInfo, ListenerInfo, ListenerState, SubsystemListenerInfo, NamespaceInfo, NamespaceStats, QpairInfo, SubsystemInfo, TransportType } from './types';
export const DISCOVERY_NQN = 'nqn.2014-08.org.nvmexpress.discovery';
export { DEFAULT_NQN, defaultTargetConfig, targetFromConfig, type TargetConfig } from './config';
