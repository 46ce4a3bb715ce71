/**
 * The size of a block device (or of a file standing in for one), in bytes. Node cannot
 * ask the kernel (BLKGETSIZE64) for a device's size, but sysfs shows it, in 512-byte
 * sectors whatever the block size, under the device's major:minor.
 */
import { readFile, stat } from 'node:fs/promises';
import { RdmagateError } from '../errors';

/** glibc's major() and minor() of a dev_t. */
function majorMinor(rdev: bigint): string {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

export async function deviceSize(path: string): Promise<number> {
  const st = await stat(path, { bigint: true });
  if (st.isFile()) return Number(st.size);
  if (!st.isBlockDevice()) throw new RdmagateError('ERR_DEVICE', `${path} is neither a block device nor a file`);
  const sysfs = `/sys/dev/block/${majorMinor(st.rdev)}/size`;
  const sectors = (await readFile(sysfs, 'utf8')).trim();
  if (!/^\d+$/.test(sectors)) throw new RdmagateError('ERR_DEVICE', `${sysfs} holds '${sectors}', not a sector count`);
  return Number(sectors) * 512;
}
