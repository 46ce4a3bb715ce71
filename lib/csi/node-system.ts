/**
 * What the node plugin does to the machine: mounts, file systems, block devices and the
 * host NQN. Thin wrappers over util-linux, e2fsprogs, xfsprogs and /proc, with their
 * failures turned into CSI errors that quote the tool's own words.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { failedPrecondition, internal } from './errors';
import { isHostNqn } from './nqn';
import type { FsType } from './parameters';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command without a shell; resolves with its exit code (never rejects for a non-zero one). */
export function exec(cmd: string, args: string[], timeoutMs = 120_000): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 16 << 20 }, (e, stdout, stderr) => {
      if (e && typeof e.code !== 'number') {
        reject(e.code === 'ENOENT' ? internal(`${cmd} is not installed on this node`) : e);
        return;
      }
      resolve({ code: e ? (e.code as number) : 0, stdout, stderr });
    });
  });
}

/** Runs a command that must succeed; its stderr becomes the error message. */
export async function mustExec(cmd: string, args: string[], timeoutMs?: number): Promise<string> {
  const r = await exec(cmd, args, timeoutMs);
  if (r.code !== 0) throw internal(`${cmd} ${args.join(' ')} failed (${r.code}): ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

export interface MountEntry {
  /** "major:minor" of the mounted device. */
  device: string;
  /** The path inside the source file system that is mounted (not "/" for bind mounts of a subtree). */
  root: string;
  mountPoint: string;
  fsType: string;
  source: string;
  options: string[];
}

/** /proc/self/mountinfo escapes space, tab, newline and backslash as octal. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parses /proc/self/mountinfo text (proc(5)). */
export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [left, right] = line.split(' - ');
    if (right === undefined) continue;
    const f = left.split(' ');
    const r = right.split(' ');
    out.push({ device: f[2], root: unescape(f[3]), mountPoint: unescape(f[4]), options: f[5].split(','), fsType: r[0], source: unescape(r[1]) });
  }
  return out;
}

/** The topmost mount at `path`, if it is a mount point. */
export async function mountAt(path: string): Promise<MountEntry | undefined> {
  const all = parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
  return all.filter((m) => m.mountPoint === path).pop();
}

/**
 * Every mount of a block device: its file system (by device number), and bind mounts of
 * its device node (devtmpfs entries whose root is the node's name).
 */
export async function mountsOf(device: string, devName: string): Promise<MountEntry[]> {
  const all = parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
  return all.filter((m) => m.device === device || (m.fsType === 'devtmpfs' && m.root === `/${devName}`));
}

/** "major:minor" of a block device node. */
export async function deviceNumber(devPath: string): Promise<string> {
  const rdev = (await stat(devPath)).rdev;
  // glibc's gnu_dev_major/minor, for the 32-bit dev_t numbers Linux hands out.
  const major = ((rdev >>> 8) & 0xfff) | Math.floor(rdev / 2 ** 32) & ~0xfff;
  const minor = (rdev & 0xff) | ((rdev >>> 12) & 0xfff00);
  return `${major}:${minor}`;
}

/** The file system blkid finds on the device, or undefined when it finds none. */
export async function probeFs(dev: string): Promise<string | undefined> {
  const r = await exec('blkid', ['-p', '-o', 'value', '-s', 'TYPE', dev]);
  if (r.code === 2) return undefined; // nothing identified
  if (r.code !== 0) throw internal(`blkid ${dev} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout.trim() || undefined;
}

export async function makeFs(fs: FsType, dev: string): Promise<void> {
  // -F/-f: blkid found nothing, but a stale partition table must not make mkfs ask.
  if (fs === 'ext4') await mustExec('mkfs.ext4', ['-F', '-q', dev], 600_000);
  else await mustExec('mkfs.xfs', ['-f', '-q', dev], 600_000);
}

export async function mount(source: string, target: string, options: { fsType?: string; bind?: boolean; flags?: string[] } = {}): Promise<void> {
  const args: string[] = [];
  if (options.bind) args.push('--bind');
  if (options.fsType) args.push('-t', options.fsType);
  if (options.flags?.length) args.push('-o', options.flags.join(','));
  await mustExec('mount', [...args, source, target]);
}

/** Makes a bind mount read-only: a bind mount takes `ro` only on a remount. */
export async function remountReadOnly(target: string): Promise<void> {
  await mustExec('mount', ['-o', 'remount,bind,ro', target]);
}

export async function umount(target: string): Promise<void> {
  await mustExec('umount', [target]);
}

/** Grows the file system on `dev`, mounted at `mountPoint`, to the device's size. */
export async function growFs(fs: string, dev: string, mountPoint: string): Promise<void> {
  if (fs === 'ext4' || fs === 'ext3' || fs === 'ext2') await mustExec('resize2fs', [dev], 600_000);
  else if (fs === 'xfs') await mustExec('xfs_growfs', [mountPoint], 600_000);
  else throw internal(`cannot grow a ${fs} file system`);
}

/** The size in bytes of a whole disk (sysfs counts 512-byte sectors whatever the block size). */
export async function blockDeviceBytes(dev: string, sysfsRoot = '/sys'): Promise<number> {
  const path = join(sysfsRoot, 'block', basename(dev), 'size');
  const sectors = Number((await readFile(path, 'utf8')).trim());
  if (!Number.isSafeInteger(sectors)) throw internal(`${path} does not hold a size`);
  return sectors * 512;
}

/**
 * This node's host NQN: nvme-cli's /etc/nvme/hostnqn, or one generated now and saved
 * there (with a matching hostid), so that the node keeps its identity across restarts
 * and the kernel host and this plugin agree on it.
 */
export async function hostNqn(path = '/etc/nvme/hostnqn'): Promise<string> {
  try {
    const nqn = (await readFile(path, 'utf8')).trim();
    if (nqn.startsWith('nqn.')) {
      // An NQN the controller would refuse as a node id: say so at NodeGetInfo, rather than
      // overwrite an identity nvme-cli and the kernel may share.
      if (!isHostNqn(nqn)) {
        throw failedPrecondition(`${path} holds "${nqn.slice(0, 240)}", which is not a host NQN ("nqn.yyyy-mm.<reverse domain>:<name>" ` +
          'or "nqn.2014-08.org.nvmexpress:uuid:<uuid>", at most 223 bytes): correct it, or remove it to have one generated');
      }
      return nqn;
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const uuid = randomUUID();
  const nqn = `nqn.2014-08.org.nvmexpress:uuid:${uuid}`;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, nqn + '\n', { mode: 0o644 });
  const hostid = `${dirname(path)}/hostid`;
  await writeFile(hostid, uuid + '\n', { mode: 0o644, flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  return nqn;
}
