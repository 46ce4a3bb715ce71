/**
 * Backends that the saved config names but that did not answer when the gateway started.
 * SPDK's load_config would stop there, and every other export with it; the gateway
 * serves the rest, keeps the backend resetting, and attaches it in the background, with
 * the saved reconnect_delay_sec and ctrlr_loss_timeout_sec, as it treats a backend lost
 * while running. The namespaces that use its bdevs wait here and are added once it is
 * attached; save_config keeps writing both, so nothing of the config is lost meanwhile.
 */
import type { JsonObject } from '../jsonrpc/json';
import type { Logger } from '../log/logger';
import { backendFields } from './backend-fields';
import type { ConfigEntry } from './config-entry';

/** As a backend given up while running (host::Controller's revive): one try this often, or every reconnect_delay_sec if longer. */
const REVIVE_INTERVAL_MS = 10_000;
/** The first retry comes after this, each next one after twice as long, up to reconnect_delay_sec. */
const FIRST_RETRY_MS = 100;

export interface RetryPolicy {
  /** ctrlr_loss_timeout_sec: -1 forever, 0 no retry (only bdev_nvme_reset_controller). */
  ctrlLossSec: number;
  reconnectDelaySec: number;
}

interface Pending {
  readonly params: JsonObject;
  readonly policy: RetryPolicy;
  readonly since: number;
  /** nvmf_subsystem_add_ns entries that name its bdevs. */
  readonly namespaces: ConfigEntry[];
  state: 'resetting' | 'failed';
  reason: string;
  tries: number;
  timer: NodeJS.Timeout | undefined;
  trying: Promise<boolean> | undefined;
}

/** Tries one attach with the saved params; throws what the attach throws. */
export type AttachRetry = (params: JsonObject) => Promise<unknown>;

export class PendingBackends {
  readonly #pending = new Map<string, Pending>();
  #retry: AttachRetry | undefined;
  #log: Logger | undefined;

  /** Retries go through `retry` (the gateway's own bdev_nvme_attach_controller) from now on. */
  start(retry: AttachRetry, log: Logger): void {
    this.#retry = retry;
    this.#log = log;
  }

  stop(): void {
    this.#retry = undefined;
    for (const p of this.#pending.values()) clearTimeout(p.timer);
  }

  /** Backend `name` did not answer its replayed attach (`reason`): it is retried from now on. */
  add(name: string, params: JsonObject, reason: string, policy: RetryPolicy): void {
    const p: Pending = { params, policy, since: Date.now(), namespaces: [], state: 'resetting', reason, tries: 0, timer: undefined,
      trying: undefined };
    this.#pending.set(name, p);
    this.#log?.warn('backend lost', { ...backendFields(name, p.params, p.reason), from: 'connecting', to: 'resetting',
      detail: 'not answering at start: the rest of the config is served, and it is attached in the background' });
    this.#schedule(name, p);
  }

  has(name: string): boolean {
    return this.#pending.has(name);
  }

  /** resetting, or failed once ctrlr_loss_timeout_sec has passed; undefined when not pending. */
  state(name: string): 'resetting' | 'failed' | undefined {
    return this.#pending.get(name)?.state;
  }

  /** The pending backend that bdev `bdevName` (`<name>n<nsid>`, as SPDK names them) will belong to. */
  ownerOf(bdevName: string): string | undefined {
    const m = /^(.+)n\d+$/.exec(bdevName);
    return m && this.#pending.has(m[1]!) ? m[1] : undefined;
  }

  /** Holds `entry` (an nvmf_subsystem_add_ns of backend `name`'s bdev) until the backend is attached. */
  defer(name: string, entry: ConfigEntry): void {
    this.#pending.get(name)?.namespaces.push(entry);
  }

  /** The attaches still pending, for save_config. */
  attachEntries(): ConfigEntry[] {
    return [...this.#pending.values()].map((p) => ({ method: 'bdev_nvme_attach_controller', params: p.params }));
  }

  /** The namespaces of subsystem `nqn` still waiting for their backend, for save_config. */
  namespaceEntries(nqn: string): ConfigEntry[] {
    return [...this.#pending.values()].flatMap((p) => p.namespaces.filter((e) => e.params.nqn === nqn));
  }

  /**
   * Backend `name` is attached (by a retry, or by an operator's attach): it is no longer
   * pending, and its waiting namespaces are added through `replay`. One that cannot be
   * added (its nsid taken meanwhile) is logged and left out.
   */
  async attached(name: string, replay: (entry: ConfigEntry) => Promise<unknown>): Promise<void> {
    const p = this.#pending.get(name);
    if (!p) return;
    this.#drop(name, p);
    this.#log?.info('backend reconnected', { ...backendFields(name, p.params, p.reason), from: p.state, to: 'enabled', tries: p.tries });
    for (const entry of p.namespaces) {
      await replay(entry).catch((e: unknown) =>
        this.#log?.error('namespace not added', { backend: name, entry, error: (e as Error).message }));
    }
  }

  /** Detached while pending: its waiting namespaces go with it. */
  remove(name: string): void {
    const p = this.#pending.get(name);
    if (!p) return;
    this.#drop(name, p);
    if (p.namespaces.length) {
      this.#log?.warn('namespaces dropped with their backend', { backend: name, namespaces: p.namespaces.map((e) => e.params) });
    }
  }

  /** One attempt now (bdev_nvme_reset_controller); true once attached. */
  retryNow(name: string): Promise<boolean> {
    const p = this.#pending.get(name);
    if (!p) return Promise.resolve(true);
    clearTimeout(p.timer);
    return this.#try(name, p);
  }

  #drop(name: string, p: Pending): void {
    clearTimeout(p.timer);
    this.#pending.delete(name);
  }

  #schedule(name: string, p: Pending): void {
    const { ctrlLossSec, reconnectDelaySec } = p.policy;
    const delayMs = reconnectDelaySec * 1000;
    if (p.state === 'resetting' && ctrlLossSec !== -1 && Date.now() - p.since >= ctrlLossSec * 1000) {
      p.state = 'failed';
      this.#log?.error('backend failed', { ...backendFields(name, p.params, p.reason), from: 'resetting', to: 'failed' });
    }
    if (p.state === 'failed' && ctrlLossSec === 0) return;  // no reconnect: only a reset tries again
    const wait = p.state === 'failed' ? Math.max(REVIVE_INTERVAL_MS, delayMs) : Math.min(FIRST_RETRY_MS * 2 ** p.tries, delayMs);
    p.timer = setTimeout(() => void this.#try(name, p), wait);
    p.timer.unref();
  }

  #try(name: string, p: Pending): Promise<boolean> {
    const retry = this.#retry;
    if (!retry) return Promise.resolve(false);
    p.trying ??= (async () => {
      p.tries++;
      try {
        await retry(p.params);
        return true;
      } catch (e) {
        p.reason = (e as Error).message;
        if (this.#pending.get(name) === p) this.#schedule(name, p);
        return false;
      } finally {
        p.trying = undefined;
      }
    })();
    return p.trying;
  }
}
