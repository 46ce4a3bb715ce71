/**
 * Finding a disk by what identifies the volume on it, through sysfs: the namespace's
 * NGUID and UUID (NVMe: `nguid`, `uuid`, `wwid` as eui.<32 hex> or uuid.<uuid>) or, for a
 * disk that reports neither (virtio-blk), its serial number. A host behind a DPU has no
 * NQN or controller of its own to look for: the ids are all it can go by.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What the volume is known by; each id in lower-case hex without dashes, the serial as is. */
export interface VolumeIds {
  nguid: string;
  uuid: string;
  serial: string;
}

export interface DiskIds {
  name: string;
  /** The namespace ids the disk reports (NGUID, UUID), as 32 lower-case hex digits. */
  ids: string[];
  serial?: string;
}

const ZERO = /^0+$/;

async function readText(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined; // not this kind of disk, or gone while we looked
  }
}

/** 32 hex digits from an NGUID or UUID as sysfs shows it, or undefined for none (all zeros). */
function hexId(text: string | undefined): string | undefined {
  const hex = text?.replace(/-/g, '').toLowerCase();
  return hex && /^[0-9a-f]{32}$/.test(hex) && !ZERO.test(hex) ? hex : undefined;
}

/** The ids sysfs shows for block device `name`. */
export async function diskIds(sysfsRoot: string, name: string): Promise<DiskIds> {
  const dir = join(sysfsRoot, 'block', name);
  const ids = new Set<string>();
  for (const f of ['nguid', 'uuid']) {
    const id = hexId(await readText(join(dir, f)));
    if (id) ids.add(id);
  }
  // The kernel's wwid carries the NGUID as eui.<32 hex> or the UUID as uuid.<uuid>, when it has them.
  const wwid = /^(?:eui|uuid)\.([0-9a-f-]+)$/i.exec((await readText(join(dir, 'wwid'))) ?? '');
  const fromWwid = hexId(wwid?.[1]);
  if (fromWwid) ids.add(fromWwid);
  // virtio-blk shows its serial on the disk; NVMe and SCSI on the device (the controller) below it.
  const serial = (await readText(join(dir, 'serial'))) || (await readText(join(dir, 'device', 'serial'))) || undefined;
  return { name, ids: [...ids], ...(serial ? { serial } : {}) };
}

/**
 * Whether the disk is the volume's. A disk that reports namespace ids is judged by them
 * alone: an NVMe controller's serial is shared by all its namespaces, so it tells nothing
 * where ids exist. Only a disk without ids is matched by serial.
 */
export function matches(disk: DiskIds, want: VolumeIds): boolean {
  if (disk.ids.length > 0) return disk.ids.includes(want.nguid) || disk.ids.includes(want.uuid);
  return disk.serial !== undefined && disk.serial === want.serial;
}

/** The volume's disk, as `${devRoot}/<name>`, once its device node exists; else undefined. */
export async function findDisk(sysfsRoot: string, devRoot: string, want: VolumeIds): Promise<string | undefined> {
  const names = await readdir(join(sysfsRoot, 'block')).catch(() => [] as string[]);
  // nvmeXcYnZ are the hidden per-path devices under a multipath head nvmeXnY: use the head.
  for (const name of names.filter((n) => !/^nvme\d+c\d+n\d+$/.test(n)).sort()) {
    if (!matches(await diskIds(sysfsRoot, name), want)) continue;
    const dev = join(devRoot, name);
    // udev may not have made the node yet: the caller's next look finds it.
    if (existsSync(dev)) return dev;
  }
  return undefined;
}

/** Lower-case hex of an NGUID or UUID, dashes dropped. */
export function idHex(id: string): string {
  return id.replace(/-/g, '').toLowerCase();
}

/**
 * The NGUID and UUID (lower-case hex, dashes dropped) a DPU gives its host a volume of
 * connection mode aio under: ids of its own, derived from the volume's. That namespace is
 * the DPU's block device behind another subsystem, not the storage's namespace re-exported,
 * and the DPU's kernel already holds a namespace with the volume's ids: Linux refuses a
 * namespace whose ids one of another subsystem has, wherever the two meet (a host that also
 * reaches the volume directly, or the lab's one kernel for DPU and host). Derived, not
 * random, so that a retried stage and a restarted node plugin find the same disk.
 */
export function aioFunctionIds(volume: Pick<VolumeIds, 'nguid'>): { nguid: string; uuid: string } {
  const b = createHash('sha256').update(`rdmagate dpu aio namespace ${volume.nguid}`).digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80;  // UUID version 8: RFC 9562's custom layout
  b[8] = (b[8]! & 0x3f) | 0x80;  // the RFC 9562 variant
  const hex = b.toString('hex');
  return { nguid: hex, uuid: hex };
}
