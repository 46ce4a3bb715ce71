/**
 * Routes the host's native batches (I/O completions, admin results, controller events,
 * discovery results) to the objects they belong to. Native code calls in once per batch.
 */
import { native, type NativeControllerInfo, type NativeFailure, type NativeHostEvent } from '../../native';

export interface ControllerSink {
  onConnected(info: NativeControllerInfo): void;
  onConnectFailed(failure: NativeFailure): void;
  onDisconnect(failure: NativeFailure, reconnecting: boolean): void;
  onReconnect(): void;
  onRemoved(failure: NativeFailure): void;
  onClosed(): void;
  onAdmin(opId: number, status: number, data: Buffer): void;
  onNamespacesChanged(nsids: number[]): void;
  onAnaChanged(): void;
  /** Flat [opId, status] pairs in completions[from, to). */
  onIo(completions: Uint32Array, from: number, to: number): void;
}

export type DiscoverySink = (event: Extract<NativeHostEvent, { type: 'discovered' }>) => void;

const controllers = new Map<number, ControllerSink>();
const discoveries = new Map<number, DiscoverySink>();
let installed = false;
let nextOpId = 1;

function dispatch(events: NativeHostEvent[]): void {
  for (const e of events) {
    if (e.type === 'discovered') {
      const d = discoveries.get(e.opId);
      discoveries.delete(e.opId);
      d?.(e);
      continue;
    }
    const c = controllers.get(e.id);
    if (!c) continue;
    switch (e.type) {
      case 'io':
        c.onIo(e.completions, 0, e.completions.length);
        break;
      case 'admin':
        c.onAdmin(e.opId, e.status, e.data);
        break;
      case 'connected':
        c.onConnected(e.info);
        break;
      case 'connectFailed':
        controllers.delete(e.id);
        c.onConnectFailed(e);
        break;
      case 'disconnect':
        c.onDisconnect(e, e.reconnecting);
        break;
      case 'reconnect':
        c.onReconnect();
        break;
      case 'removed':
        c.onRemoved(e);
        break;
      case 'closed':
        controllers.delete(e.id);
        c.onClosed();
        break;
      case 'namespacesChanged':
        c.onNamespacesChanged(e.nsids);
        break;
      case 'anaChanged':
        c.onAnaChanged();
        break;
    }
  }
}

/** Installs the dispatcher; called before any native host object exists, so no event is missed. */
export function ensureDispatcher(): void {
  if (!installed) native.setNvmeEventDispatcher(dispatch);
  installed = true;
}

export function registerController(id: number, sink: ControllerSink): void {
  controllers.set(id, sink);
}

export function controllerSink(id: number): ControllerSink | undefined {
  return controllers.get(id);
}

export function registerDiscovery(opId: number, sink: DiscoverySink): void {
  discoveries.set(opId, sink);
}

export function unregisterDiscovery(opId: number): void {
  discoveries.delete(opId);
}

/** Operation ids, unique among those outstanding: 1 .. 2^32-1, wrapping. */
export function allocateOpId(): number {
  const id = nextOpId;
  nextOpId = nextOpId >= 0xffffffff ? 1 : nextOpId + 1;
  return id;
}
