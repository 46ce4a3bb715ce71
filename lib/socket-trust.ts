/**
 * Who a unix socket can be trusted from. A server binds only in a directory where no other
 * user can put a socket of theirs in its place; a client talks only to a socket that root
 * or its own user made. Together they keep another local user from serving in the
 * gateway's place, or from reading what its clients send.
 */
import type { Stats } from 'node:fs';
import { chmod, lstat, mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SocketPathError } from './errors';

const STICKY = 0o1000;
const GROUP_OTHER_WRITE = 0o022;
/** What a server makes its own directory with: a group of operators may be let in, never to write. */
export const SOCKET_DIR_MODE = 0o750;

/** This process's uid; -1 where there is none, so that only root's files pass. */
function ownUid(): number {
  return process.getuid?.() ?? -1;
}

function trustedOwner(uid: number): boolean {
  return uid === 0 || uid === ownUid();
}

function errnoCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8)}`;
}

/**
 * Throws SocketPathError unless `dir` is a directory of root or this user that nobody else
 * can write to: group or others may only where the sticky bit keeps them from removing or
 * renaming our socket. `strict` (a directory the server owns) allows them no write at all.
 * Errors other than a missing directory (EACCES) are thrown as they come.
 */
export async function checkSocketDir(dir: string, strict = false): Promise<void> {
  let st: Stats;
  try {
    st = await stat(dir);
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new SocketPathError('ERR_SOCKET_DIR_MISSING', `the socket directory ${dir} does not exist`);
    }
    throw e;
  }
  if (!st.isDirectory()) throw new SocketPathError('ERR_SOCKET_DIR_MISSING', `${dir} is not a directory`);
  if (!trustedOwner(st.uid)) {
    throw new SocketPathError('ERR_SOCKET_DIR_UNSAFE',
      `the socket directory ${dir} belongs to uid ${st.uid}, neither root nor this user: its owner could replace the socket`);
  }
  const writable = (st.mode & GROUP_OTHER_WRITE) !== 0;
  if (writable && (strict || (st.mode & STICKY) === 0)) {
    throw new SocketPathError('ERR_SOCKET_DIR_UNSAFE',
      `the socket directory ${dir} (mode ${octal(st.mode)}) is writable by other users${strict ? '' : ' without the sticky bit'}: ` +
      `they could replace the socket (chmod go-w ${dir}, or choose another directory)`);
  }
}

/**
 * The directory a server's socket goes in, checked; with `create`, made with mode 0750 when
 * missing and then held to the strict rule (it is the server's own).
 */
export async function prepareSocketDir(dir: string, create: boolean): Promise<void> {
  if (create) {
    try {
      await mkdir(dir, { mode: SOCKET_DIR_MODE });
      // The umask may have narrowed mkdir's mode; group read is meant.
      await chmod(dir, SOCKET_DIR_MODE);
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') {
        throw new SocketPathError('ERR_SOCKET_DIR_MISSING', `cannot create the socket directory ${dir}: ${(e as Error).message}`);
      }
    }
  }
  await checkSocketDir(dir, create);
}

/**
 * Before a client connects to `path`: throws SocketPathError unless it is a socket owned by
 * root or this user, in a directory checkSocketDir allows (so that it cannot be swapped
 * between this check and the connect). A missing path is thrown as lstat's ENOENT.
 */
export async function checkServerSocket(path: string): Promise<void> {
  await checkSocketDir(dirname(path));
  // lstat: a symbolic link is not followed to whatever socket it names.
  const st = await lstat(path);
  if (!st.isSocket()) throw new SocketPathError('ERR_NOT_A_SOCKET', `${path} is not a socket`);
  if (!trustedOwner(st.uid)) {
    throw new SocketPathError('ERR_SOCKET_OWNER',
      `${path} belongs to uid ${st.uid}, neither root nor this user (uid ${ownUid()}): not talking to it`);
  }
}
