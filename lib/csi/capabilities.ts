/**
 * Volume capabilities: which ones this driver can honour, checked the same way by
 * CreateVolume, ValidateVolumeCapabilities, ControllerPublishVolume and the node.
 */
import { invalidArgument } from './errors';
import { FS_TYPES } from './parameters';
import type { AccessModeName, VolumeCapability } from './types';

/**
 * One writer node at a time for file systems: ext4 and XFS are not cluster file systems,
 * so two nodes mounting one would corrupt it. A raw block volume may also be shared
 * read-only, or read-write by applications that coordinate themselves (the subsystem
 * simply allows each node's host NQN).
 */
const MOUNT_MODES: readonly AccessModeName[] = [
  'SINGLE_NODE_WRITER', 'SINGLE_NODE_READER_ONLY', 'SINGLE_NODE_SINGLE_WRITER', 'SINGLE_NODE_MULTI_WRITER',
];
const BLOCK_MODES: readonly AccessModeName[] = [...MOUNT_MODES, 'MULTI_NODE_READER_ONLY', 'MULTI_NODE_MULTI_WRITER'];

export function isMultiNode(mode: AccessModeName | undefined): boolean {
  return mode !== undefined && mode.startsWith('MULTI_NODE');
}

/** Why this capability cannot be honoured, or undefined when it can. */
export function unsupportedReason(c: VolumeCapability): string | undefined {
  const mode = c.access_mode?.mode;
  if (!mode || mode === 'UNKNOWN') return 'access_mode.mode is missing';
  if (c.block) {
    return BLOCK_MODES.includes(mode) ? undefined : `access mode ${mode} is not supported for block volumes`;
  }
  if (c.mount) {
    const fs = c.mount.fs_type ?? '';
    if (fs !== '' && !(FS_TYPES as readonly string[]).includes(fs)) return `fs_type "${fs}" is not supported (${FS_TYPES.join(', ')})`;
    if (c.mount.volume_mount_group) return 'volume_mount_group is not supported';
    return MOUNT_MODES.includes(mode) ? undefined : `access mode ${mode} needs a cluster file system; use a block volume`;
  }
  return 'access_type is missing: give block or mount';
}

/** Throws INVALID_ARGUMENT for a missing or unsupported capability. */
export function requireCapability(c: VolumeCapability | null | undefined, what = 'volume_capability'): VolumeCapability {
  if (!c) throw invalidArgument(`${what} is required`);
  const why = unsupportedReason(c);
  if (why) throw invalidArgument(`${what}: ${why}`);
  return c;
}

export function requireCapabilities(list: VolumeCapability[] | undefined): VolumeCapability[] {
  if (!list || list.length === 0) throw invalidArgument('volume_capabilities is required');
  list.forEach((c, i) => requireCapability(c, `volume_capabilities[${i}]`));
  return list;
}
