import { native } from '../../native';

/** Host sockets open in this process, for leak checks after close(). */
export function hostResources(): { sockets: number } {
  return native.nvmeResources();
}
