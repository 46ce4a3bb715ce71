import assert from 'node:assert/strict';
import { BufferPool, Gateway, Target, nvmf } from '../../lib';
import type { LogEntry } from '../../lib/gateway';
import { BackendWatch } from '../../lib/gateway/backend-watch';
import { Logger } from '../../lib/log/logger';
import type { HostCounters } from '../../lib/nvmf/host';
import type { NvmeControllerInfo, NvmeControllerState } from '../../lib/nvmf/target';

const BACKEND_NQN = 'nqn.2026-11.io.rdmagate:events-backend';
const FRONT_NQN = 'nqn.2026-11.io.rdmagate:events-front';
const STATES = ['connecting', 'enabled', 'resetting', 'failed', 'deleting'];

/** The gateway's log entries, and a way to wait for the next one with a message. */
class LogCapture {
  readonly entries: LogEntry[] = [];
  readonly #waiters: { msg: string; from: number; resolve: (e: LogEntry) => void }[] = [];

  readonly sink = (e: LogEntry): void => {
    this.entries.push(e);
    for (const w of this.#waiters.splice(0)) {
      if (!this.#settle(w)) this.#waiters.push(w);
    }
  };

  /** The first entry with `msg` from index `from` on, once there is one. */
  next(msg: string, from = 0): Promise<LogEntry> {
    return new Promise((resolve) => {
      const w = { msg, from, resolve };
      if (!this.#settle(w)) this.#waiters.push(w);
    });
  }

  count(msg: string): number {
    return this.entries.filter((e) => e.msg === msg).length;
  }

  #settle(w: { msg: string; from: number; resolve: (e: LogEntry) => void }): boolean {
    const e = this.entries.slice(w.from).find((x) => x.msg === w.msg);
    if (e) w.resolve(e);
    return e !== undefined;
  }
}

describe('gateway: backend transitions in the log, backend state and namespace counters in the metrics', function () {
  this.timeout(60000);
  let backend: Target;
  let backendPort: number;
  let log: LogCapture;
  let g: Gateway;
  const pool = new BufferPool({ chunkSize: 64 * 1024 });

  function startBackend(port = 0): number {
    backend = new Target();
    backend.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: 4 << 20 });
    backend.addSubsystem({ nqn: BACKEND_NQN }).addNamespace({ bdev: 'Malloc0', nsid: 1 });
    return backend.listen({ transport: 'tcp', address: '127.0.0.1', port }).port;
  }

  beforeEach(async () => {
    backendPort = startBackend();
    log = new LogCapture();
    g = new Gateway({ socketPath: null, configPath: null, log: log.sink, metrics: { port: 0 } });
    await g.start();
  });

  afterEach(async () => {
    await g.close();
    backend.closeSync();
  });

  const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${g.metricsPort}/metrics`)).text();

  /** The rdmagate_backend_state series of `name`: state → value. */
  async function stateSeries(name: string): Promise<Record<string, number>> {
    const text = await scrape();
    const re = new RegExp(`^rdmagate_backend_state\\{name="${name}",state="([a-z]+)"\\} (\\d+)$`, 'gm');
    return Object.fromEntries([...text.matchAll(re)].map((m) => [m[1], Number(m[2])]));
  }

  function oneOf(state: string): Record<string, number> {
    return Object.fromEntries(STATES.map((s) => [s, s === state ? 1 : 0]));
  }

  function attach(extra: Record<string, number> = {}): Promise<unknown> {
    return g.rpc('bdev_nvme_attach_controller', { name: 'Nvme0', trtype: 'TCP', traddr: '127.0.0.1', trsvcid: String(backendPort),
      subnqn: BACKEND_NQN, reconnect_delay_sec: 1, ...extra });
  }

  function assertNames(e: LogEntry, from: string, to: string): void {
    assert.deepEqual({ backend: e.backend, trtype: e.trtype, traddr: e.traddr, trsvcid: e.trsvcid, subnqn: e.subnqn, from: e.from, to: e.to },
      { backend: 'Nvme0', trtype: 'TCP', traddr: '127.0.0.1', trsvcid: String(backendPort), subnqn: BACKEND_NQN, from, to });
  }

  it('logs a backend that drops and comes back once each, and exports its state as an enum', async () => {
    await attach();
    assert.deepEqual(await stateSeries('Nvme0'), oneOf('enabled'));
    assert.match(await scrape(), /^rdmagate_backend_up\{name="Nvme0"\} 1$/m, 'one series per backend, no state label');

    backend.closeSync();
    const lost = await log.next('backend lost');
    assert.equal(lost.level, 'warn');
    assertNames(lost, 'enabled', 'resetting');
    assert.equal(typeof lost.reason, 'string', 'the host\'s reason for the loss');
    assert.notEqual(lost.reason, '');
    // The backend is away until it is started again: resetting, and only that.
    assert.deepEqual(await stateSeries('Nvme0'), oneOf('resetting'));
    assert.match(await scrape(), /^rdmagate_backend_up\{name="Nvme0"\} 0$/m);

    startBackend(backendPort);
    const back = await log.next('backend reconnected');
    assert.equal(back.level, 'info');
    assertNames(back, 'resetting', 'enabled');
    assert.deepEqual(await stateSeries('Nvme0'), oneOf('enabled'));
    // Some more looks at a backend that stays up add no line.
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual([log.count('backend lost'), log.count('backend reconnected'), log.count('backend failed')], [1, 1, 0]);

    assert.equal(await g.rpc('bdev_nvme_detach_controller', { name: 'Nvme0' }), true);
    assert.deepEqual(await stateSeries('Nvme0'), {}, 'a detached backend has no series');
    assert.equal(log.count('backend failed'), 0, 'a detach is no failure');
  });

  it('logs a backend that stays away past ctrlr_loss_timeout_sec as failed', async () => {
    await attach({ ctrlr_loss_timeout_sec: 1 });
    backend.closeSync();
    const failed = await log.next('backend failed');
    assert.equal(failed.level, 'error');
    assert.equal(failed.to, 'failed');
    assert.equal(failed.backend, 'Nvme0');
    assert.equal(failed.traddr, '127.0.0.1');
    assert.equal(failed.trsvcid, String(backendPort));
    assert.deepEqual(await stateSeries('Nvme0'), oneOf('failed'));
    assert.match(await scrape(), /^rdmagate_backend_up\{name="Nvme0"\} 0$/m);
  });

  it('counts a namespace removed and added again with the same nsid from zero', async () => {
    await g.rpc('bdev_malloc_create', { name: 'Malloc0', num_blocks: 8192, block_size: 512 });
    // Offered on every listener, so that the one on port 0 below serves it.
    const createFront = async () => {
      await g.rpc('nvmf_create_subsystem', { nqn: FRONT_NQN, allow_any_host: true });
      g.target.subsystem(FRONT_NQN)!.allowAnyListener(true);
    };
    const addNs = () => g.rpc('nvmf_subsystem_add_ns', { nqn: FRONT_NQN, namespace: { bdev_name: 'Malloc0', nsid: 1 } });
    await createFront();
    await addNs();
    const port = g.target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
    const ns = `subnqn="${FRONT_NQN}",nsid="1",bdev="Malloc0"`;
    const value = (text: string, metric: string) => Number(text.match(new RegExp(`^${metric}\\{${ns}\\} (\\d+)$`, 'm'))?.[1] ?? NaN);
    // A command is counted once its response is sent, which the host may see first.
    async function counted(writes: number): Promise<string> {
      let text = await scrape();
      for (let i = 0; i < 100 && value(text, 'rdmagate_namespace_latency_seconds_count') < writes; i++) {
        await new Promise((r) => setTimeout(r, 20));
        text = await scrape();
      }
      return text;
    }
    const b = pool.acquire();
    let host = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: FRONT_NQN });
    try {
      for (let i = 0; i < 3; i++) await host.queuePairs[0].write(1, i * 8, 8, b);
      let text = await counted(3);
      assert.equal(value(text, 'rdmagate_namespace_writes_total'), 3);

      // Removed and added again under a live queue pair, which holds the old counts.
      await g.rpc('nvmf_subsystem_remove_ns', { nqn: FRONT_NQN, nsid: 1 });
      await addNs();
      text = await scrape();
      for (const m of ['writes_total', 'written_bytes_total', 'reads_total', 'latency_seconds_count', 'latency_seconds_sum']) {
        assert.equal(value(text, `rdmagate_namespace_${m}`), 0, m);
      }
      for (let i = 0; i < 2; i++) await host.queuePairs[0].write(1, i * 8, 8, b);
      text = await counted(2);
      assert.equal(value(text, 'rdmagate_namespace_writes_total'), 2);
      assert.equal(value(text, 'rdmagate_namespace_written_bytes_total'), 2 * 4096);
      await host.close();

      // Once more, with the queue pair gone: its counts are the subsystem's now.
      await g.rpc('nvmf_subsystem_remove_ns', { nqn: FRONT_NQN, nsid: 1 });
      await addNs();
      assert.equal(value(await scrape(), 'rdmagate_namespace_writes_total'), 0);

      // A subsystem made again starts from zero in the addon: nothing is taken off it.
      await g.rpc('nvmf_delete_subsystem', { nqn: FRONT_NQN });
      await createFront();
      await addNs();
      host = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: FRONT_NQN });
      await host.queuePairs[0].write(1, 0, 8, b);
      text = await counted(1);
      assert.equal(value(text, 'rdmagate_namespace_writes_total'), 1);
    } finally {
      b.release();
      await host.close();
    }
  });
});

describe('backend watch: what one look logs', () => {
  const params = { trtype: 'tcp', traddr: '10.0.0.5', trsvcid: 4421, subnqn: BACKEND_NQN };
  let now: NvmeControllerInfo[];
  let entries: LogEntry[];
  let watch: BackendWatch;

  function counters(reconnects: number): HostCounters {
    return { bytesSent: 0, bytesReceived: 0, bytesCopied: 0, pdusSent: 0, pdusReceived: 0, digestErrors: 0, commands: 0,
      completions: 0, r2ts: 0, timeouts: 0, retries: 0, reconnects, failovers: 0 };
  }

  /** Sets what the target reports, looks once, and returns the new lines as msg from→to. */
  function look(state: NvmeControllerState, reconnects: number, reason?: string): string[] {
    const controller = { state, counters: counters(reconnects), paths: [], anaStates: [], ...(reason ? { reason } : {}) };
    now = [{ name: 'Nvme0', ...controller, controllers: [controller] }];
    const before = entries.length;
    watch.poll();
    return entries.slice(before).map((e) => `${e.msg} ${String(e.from)}>${String(e.to)}`);
  }

  beforeEach(() => {
    now = [];
    entries = [];
    watch = new BackendWatch({
      target: { closed: false, nvmeControllers: () => now },
      backends: new Map([['Nvme0', params]]),
      log: new Logger((e) => entries.push(e)),
    });
  });

  it('logs each transition once, and nothing while the state stays', () => {
    assert.deepEqual(look('enabled', 0), []);
    assert.deepEqual(look('resetting', 0, 'connection refused'), ['backend lost enabled>resetting']);
    assert.deepEqual(look('resetting', 0), []);
    assert.deepEqual(look('enabled', 1), ['backend reconnected resetting>enabled']);
    assert.deepEqual(look('enabled', 1), []);
    assert.deepEqual(look('resetting', 1), ['backend lost enabled>resetting']);
    assert.deepEqual(look('failed', 1), ['backend failed resetting>failed']);
    assert.deepEqual(look('failed', 1), []);
    assert.deepEqual(look('deleting', 1), [], 'a detach is not logged here');
    const lost = entries[0];
    assert.deepEqual({ level: lost.level, backend: lost.backend, trtype: lost.trtype, traddr: lost.traddr, trsvcid: lost.trsvcid,
      subnqn: lost.subnqn, reason: lost.reason },
    { level: 'warn', backend: 'Nvme0', trtype: 'TCP', traddr: '10.0.0.5', trsvcid: '4421', subnqn: BACKEND_NQN, reason: 'connection refused' });
    assert.equal(entries[1].level, 'info');
    assert.equal(entries[2].level, 'warn');
    assert.equal(entries[3].level, 'error');
  });

  it('an outage shorter than a look shows in the reconnect count: one loss and one reconnect', () => {
    assert.deepEqual(look('enabled', 0), []);
    assert.deepEqual(look('enabled', 3), ['backend lost enabled>resetting', 'backend reconnected resetting>enabled']);
    assert.deepEqual(look('enabled', 3), []);
  });

  it('a reconnect counted before the state says enabled is logged once, when it does', () => {
    assert.deepEqual(look('enabled', 0), []);
    assert.deepEqual(look('resetting', 0), ['backend lost enabled>resetting']);
    assert.deepEqual(look('resetting', 1), []);
    assert.deepEqual(look('enabled', 1), ['backend reconnected resetting>enabled']);
    assert.deepEqual(look('enabled', 1), []);
  });

  it('a backend attached again under the same name starts afresh; one first seen down was up at its attach', () => {
    const backends = new Map([['Nvme0', params]]);
    watch = new BackendWatch({ target: { closed: false, nvmeControllers: () => now }, backends, log: new Logger((e) => entries.push(e)) });
    assert.deepEqual(look('resetting', 0), ['backend lost enabled>resetting']);
    backends.set('Nvme0', { ...params });
    assert.deepEqual(look('enabled', 0), [], 'a new attach is no reconnect');
    assert.deepEqual(look('connecting', 0), []);
    backends.delete('Nvme0');
    assert.deepEqual(look('failed', 0), [], 'an attach in flight is its caller\'s to report');
  });
});
