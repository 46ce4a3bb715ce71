/**
 * Routes the native batches (completions, connection events, accepted connections) to
 * the JS objects they belong to. Native code calls in once per batch.
 */
import { native, type NativeRdmaConnection, type NativeRdmaEvent } from '../native';

export interface ConnectionSink {
  onCompletions(flat: number[]): void;
  onEstablished(privateData: Uint8Array): void;
  onFailed(status: number, message: string, privateData: Uint8Array): void;
  onDisconnected(): void;
}

export interface ListenerSink {
  onAccepted(connectionId: number, handle: NativeRdmaConnection): void;
}

const connections = new Map<number, ConnectionSink>();
const listeners = new Map<number, ListenerSink>();
let installed = false;

function dispatch(events: NativeRdmaEvent[]): void {
  for (const e of events) {
    if (e.type === 'accepted') {
      listeners.get(e.listener)?.onAccepted(e.connection, e.handle);
      continue;
    }
    const c = connections.get(e.connection);
    if (!c) continue;
    switch (e.type) {
      case 'completions':
        c.onCompletions(e.completions);
        break;
      case 'established':
        c.onEstablished(e.privateData);
        break;
      case 'failed':
        connections.delete(e.connection);
        c.onFailed(e.status, e.message, e.privateData);
        break;
      case 'disconnected':
        connections.delete(e.connection);
        c.onDisconnected();
        break;
    }
  }
}

function install(): void {
  if (!installed) native.setRdmaEventDispatcher(dispatch);
  installed = true;
}

export function registerConnection(id: number, sink: ConnectionSink): void {
  install();
  connections.set(id, sink);
}

export function registerListener(id: number, sink: ListenerSink): void {
  install();
  listeners.set(id, sink);
}

export function unregisterListener(id: number): void {
  listeners.delete(id);
}

/** Called before any native object is created, so no event can be missed. */
export function ensureDispatcher(): void {
  install();
}
