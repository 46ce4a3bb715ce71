/**
 * Where the gateway's sockets go by default: a directory of its own, made 0750, not
 * world-writable /var/tmp (where SPDK has spdk.sock), in which another user could take
 * the name first. Here, not in gateway/, so that clients (`rdmagate rpc`, the CSI driver)
 * know the default without loading the gateway, and with it the addon.
 */
export const DEFAULT_SOCKET_DIR = '/var/run/rdmagate';
export const DEFAULT_SOCKET_PATH = `${DEFAULT_SOCKET_DIR}/rdmagate.sock`;
