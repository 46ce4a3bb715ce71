/**
 * Plain data the target reports: what `rdmagate rpc` and the CLI print. Most of it is the
 * addon's own data, defined with its interface in lib/native/target.ts; what the Target
 * turns into text (bdevs' and namespaces' identifiers) is defined here.
 */
import type { NativeBdevInfo, NativeSubsystemInfo } from '../../native';

export type {
  ConnectionDeadlines, ControllerInfo, ListenerInfo, ListenerState, MultipathInfo, MultipathPolicyName, MultipathSelector, NamespaceStats,
  NativeBdevInfo, NativeSubsystemInfo, NvmeControllerInfo, NvmeControllerMemberInfo, NvmeControllerState, QpairInfo, SubsystemListenerInfo, TransportType,
} from '../../native';

export interface BdevInfo extends Omit<NativeBdevInfo, 'nguid' | 'uuid'> {
  /** 32 hex digits. */
  nguid?: string;
  uuid?: string;
}

export interface NamespaceInfo {
  nsid: number;
  bdevName: string;
  /** 32 hex digits. */
  nguid: string;
  uuid: string;
  /** Its ANA group (the nsid unless set). */
  anagrpid: number;
}

export interface SubsystemInfo extends Omit<NativeSubsystemInfo, 'namespaces'> {
  namespaces: NamespaceInfo[];
}
