/**
 * Volume and snapshot ids for Mayastor, which takes only UUIDs: a name-based UUID
 * (RFC 9562 version 5, SHA-1) of the CO's name. The same name always gives the same id,
 * so a CreateVolume or CreateSnapshot cut off by a crash, before the plugin recorded
 * what it made, is finished by the CO's retry (which finds the resource under the same
 * id) instead of leaving an orphan that no record names. Volumes and snapshots hash in
 * separate namespaces, so a volume and a snapshot may share a name.
 */
import { createHash } from 'node:crypto';

/** Namespaces of this driver's ids (random UUIDs, fixed forever: changing one renames every volume). */
export const VOLUME_ID_NAMESPACE = '7b0f4c52-2f0e-4d8a-9c55-3f1d6b2a9e41';
export const SNAPSHOT_ID_NAMESPACE = 'c3a91e07-58d4-4b6f-a2e0-6d9b18f4c7a3';

export function uuidV5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  if (ns.length !== 16) throw new TypeError(`namespace ${namespace} is not a UUID`);
  const h = createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16);
  h[6] = (h[6] & 0x0f) | 0x50; // version 5
  h[8] = (h[8] & 0x3f) | 0x80; // RFC variant
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export const volumeIdFor = (name: string): string => uuidV5(VOLUME_ID_NAMESPACE, name);
export const snapshotIdFor = (name: string): string => uuidV5(SNAPSHOT_ID_NAMESPACE, name);
