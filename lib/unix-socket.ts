/** Unix socket paths of the servers (the gateway's JSON-RPC, the CSI driver). */
import { lstat, unlink } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { ConflictError, RdmagateError } from './errors';

/**
 * Clears `path` for a server to listen on. A socket file left by a process that died is
 * removed; one that answers belongs to a live server and is left alone (ERR_ADDRESS_IN_USE),
 * as is any file that is not a socket (ERR_ALREADY_EXISTS): neither is ours to delete.
 */
export async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch {
    return;
  }
  if (!isSocket) throw new ConflictError('ERR_ALREADY_EXISTS', `${path} exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
  if (live) throw new RdmagateError('ERR_ADDRESS_IN_USE', `another process serves ${path}`);
  await unlink(path).catch(() => undefined);  // gone meanwhile is as good
}
