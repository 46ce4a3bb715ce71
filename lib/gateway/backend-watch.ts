/**
 * Logs what happens to the gateway's backends: each one that drops, reconnects or fails
 * gets one log line per transition, with its name, address and the addon's reason. The
 * addon reports no events for backends, so the watch polls their states.
 */
import type { JsonObject, JsonValue } from '../jsonrpc/json';
import { backendFields } from './backend-fields';
import { memberKey } from './backend-multipath';
import type { Logger } from '../log/logger';
import type { NvmeControllerMemberInfo, NvmeControllerState, Target } from '../nvmf/target';

/** Often enough that an outage is logged when it starts, rarely enough to cost nothing. */
const DEFAULT_INTERVAL_MS = 250;

/** One controller of a backend, with what its log lines say of its address. */
type Watched = NvmeControllerMemberInfo & { name: string; fields: JsonObject };

interface Seen {
  /**
   * The attach's params: a new object for each attach, so that a backend attached again
   * under the same name starts afresh.
   */
  params: JsonObject;
  state: NvmeControllerState;
  reconnects: number;
}

export interface BackendWatchOptions {
  target: Pick<Target, 'closed' | 'nvmeControllers'>;
  /**
   * The backends to watch: name → their bdev_nvme_attach_controller params (GatewayState's
   * nvmeControllers). A backend is watched from its successful attach to its detach; one
   * still attaching is not, as its attach call reports how that ends.
   */
  backends: ReadonlyMap<string, JsonObject>;
  log: Logger;
  intervalMs?: number;
}

export class BackendWatch {
  readonly #target: Pick<Target, 'closed' | 'nvmeControllers'>;
  readonly #backends: ReadonlyMap<string, JsonObject>;
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #seen = new Map<string, Seen>();
  #timer: NodeJS.Timeout | undefined;
  #failing = false;

  constructor(options: BackendWatchOptions) {
    this.#target = options.target;
    this.#backends = options.backends;
    this.#log = options.log;
    this.#intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  }

  start(): void {
    if (this.#timer) return;
    // unref'd: watching backends is no reason for the process to stay.
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  // A throw in a timer would end the process; a failing look is logged once, not 4 times a second.
  #tick(): void {
    try {
      this.poll();
      this.#failing = false;
    } catch (e) {
      if (!this.#failing) this.#log.error('backend watch failed', { error: (e as Error).message });
      this.#failing = true;
    }
  }

  /**
   * Compares every backend with what the last look found, and logs what changed: each of its
   * controllers (more than one with multipath mode "multipath") on its own, a further one
   * named "<name> via <address>".
   */
  poll(): void {
    if (this.#target.closed) return;
    const live = new Set<string>();
    for (const c of this.#target.nvmeControllers()) {
      const params = this.#backends.get(c.name);
      if (params === undefined) continue;
      c.controllers.forEach((m, i) => {
        const at = m.paths[0];
        const further = i > 0 && at !== undefined;
        const w: Watched = { ...m, name: further ? memberKey(c.name, at) : c.name,
          fields: further ? { ...params, traddr: at.traddr, trsvcid: String(at.trsvcid) } : params };
        live.add(w.name);
        let seen = this.#seen.get(w.name);
        // An attach returns once the backend is connected, and its host counts reconnects from 0.
        if (seen?.params !== params) seen = { params, state: 'enabled', reconnects: 0 };
        const reconnects = this.#compare(w, seen);
        this.#seen.set(w.name, { params, state: w.state, reconnects });
      });
    }
    for (const name of this.#seen.keys()) if (!live.has(name)) this.#seen.delete(name);
  }

  /**
   * Logs the transitions from `seen` to `c`; returns the reconnect count to remember.
   * A poll can miss an outage shorter than its interval (resetting and back to enabled in
   * between two looks), but the host's reconnect count shows it: such outages are logged as
   * one loss and one reconnect, however many there were. The host counts a reconnect just
   * before the backend's state says enabled, so a count is only taken in a settled state;
   * while resetting, the count waits for the next look.
   */
  #compare(c: Watched, seen: Seen): number {
    let from = seen.state;
    if (c.state === 'resetting' || c.state === 'connecting') {
      if (c.state !== from) this.#transition(c, from, c.state);
      return seen.reconnects;
    }
    let missed = c.counters.reconnects - seen.reconnects;
    if (missed > 0 && from !== 'enabled') {
      from = this.#transition(c, from, 'enabled');  // the reconnect this look sees
      missed--;
    }
    if (missed > 0) {
      from = this.#transition(c, from, 'resetting');
      from = this.#transition(c, from, 'enabled');
    }
    if (c.state !== from) this.#transition(c, from, c.state);
    return c.counters.reconnects;
  }

  /** Logs the transition once, if it is one that an operator needs to see; returns `to`. */
  #transition(c: Watched, from: NvmeControllerState, to: NvmeControllerState): NvmeControllerState {
    // With failover paths, which one it is on now (the params name its first).
    const active = c.paths.length > 1 ? c.paths.find((x) => x.active) : undefined;
    const fields = (): Record<string, JsonValue> => ({ ...backendFields(c.name, c.fields, c.reason), from, to,
      ...(active ? { path: `${active.traddr}:${active.trsvcid}` } : {}) });
    // connecting and deleting are an attach and a detach, which their RPCs report.
    if (to === 'resetting' && from !== 'connecting') this.#log.warn('backend lost', fields());
    else if (to === 'enabled' && (from === 'resetting' || from === 'failed')) this.#log.info('backend reconnected', fields());
    else if (to === 'failed' && from !== 'connecting' && from !== 'deleting') this.#log.error('backend failed', fields());
    return to;
  }
}
