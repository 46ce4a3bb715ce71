/**
 * What every attacher is (lib/csi/attachers/) and the node roles they serve: attach.ts
 * picks one per role, and the attachers implement this without importing attach.ts.
 */
import type { DhchapSecrets } from './dhchap-secrets';
import type { ConnectionMode, ConnectTuning, PublishContext } from './parameters';

export type NodeRole = 'default' | 'host' | 'dpu';
export const NODE_ROLES: readonly NodeRole[] = ['default', 'host', 'dpu'];

/** What NodeStageVolume knows of the volume beyond where it is published (its volume_context). */
export interface AttachOptions {
  /** The StorageClass's connectionMode; unset: the attacher's default. Only the dpu role uses it. */
  connectionMode?: ConnectionMode;
  /**
   * The volume requires DH-HMAC-CHAP: the host's secrets for it. An attacher that connects
   * connects with them, or refuses (FAILED_PRECONDITION) where it cannot: never without them.
   */
  dhchap?: DhchapSecrets;
  /**
   * The volume requires NVMe/TCP TLS: the host's PSK for it, in the interchange form. An
   * attacher that connects connects over TLS with it, or refuses (FAILED_PRECONDITION) where it
   * cannot: never without it.
   */
  psk?: string;
}

export interface VolumeAttacher {
  readonly role: NodeRole;
  /**
   * True when the device is handed on to another machine (a DPU's host) rather than used
   * here: the node service then makes no file system, mounts nothing and publishes nothing.
   */
  readonly exposesToHost?: boolean;
  /** Throws (a CsiError) when this node cannot attach volumes at all: Probe's answer. */
  probe(): Promise<void>;
  /**
   * Connects to the volume unless connected already; resolves with its block device
   * (/dev/...). An attacher that exposes to a host may have no local device (the DPU's own
   * storage stack connecting): then it resolves with the volume's subsystem NQN, for the log.
   */
  attach(ctx: PublishContext, tuning: ConnectTuning, hostnqn: string, options?: AttachOptions): Promise<string>;
  /** The block device of an attached volume, or undefined. */
  device(volumeId: string): Promise<string | undefined>;
  /** Disconnects the volume (and takes back what was exposed); nothing to do when it is not attached. */
  detach(volumeId: string): Promise<void>;
  /**
   * Has the host re-read the namespace's size (after the volume grew); resolves with the
   * device's size in bytes. The kernel takes a new size in the background: with `minBytes`
   * (NodeExpandVolume's capacity_range) this resolves once the device holds at least that
   * many, DEADLINE_EXCEEDED when it does not in time.
   */
  rescan(volumeId: string, minBytes?: number): Promise<number>;
}
