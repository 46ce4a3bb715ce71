/**
 * The gateway's JSON-RPC socket against other local users: the directory it binds in
 * (made 0750 when it is the gateway's own, refused when others may write to it), clients
 * that talk only to a socket of root or their own user, and the deadlines that close a
 * connection idle or slow to send its request. The server runs a stub method table, so
 * no Target is needed but where the Gateway itself is under test.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_SOCKET_DIR, DEFAULT_SOCKET_PATH, Gateway, InvalidArgumentError, RpcClient, rpcCall, SocketPathError,
  type LogEntry } from '../../lib';
import { socketGatewayRpc } from '../../lib/csi/export';
import { DEFAULT_DPU_GATEWAY_SOCKET } from '../../lib/dpu';
import { Logger } from '../../lib/log/logger';
import { RpcDispatcher } from '../../lib/gateway/rpc/dispatcher';
import { JsonStreamParser } from '../../lib/jsonrpc/json-stream';
import { RpcServer, type RpcServerOptions } from '../../lib/gateway/rpc/server';
import type { GatewayState } from '../../lib/gateway/state';
import { needs } from '../support/facility';

const MAIN = resolve(__dirname, '../../lib/cli/main.js');
const OTHER_UID = 12345;
const SLOW_MS = 600;
const isRoot = process.getuid?.() === 0;

const req = (method: string, id: number) => JSON.stringify({ jsonrpc: '2.0', method, id });

function refusal(code: string, message?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof SocketPathError, `expected a SocketPathError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  };
}

/** A raw connection, its answers as they come, and when the server closed it (performance.now()). */
async function raw(path: string): Promise<{ s: Socket; values: unknown[]; opened: number; closed: Promise<number> }> {
  const s = netConnect(path);
  await once(s, 'connect');
  const opened = performance.now();
  const parser = new JsonStreamParser();
  const values: unknown[] = [];
  s.on('data', (d: Buffer) => {
    for (const item of parser.push(d)) if (item.ok) values.push(item.value);
  });
  s.on('error', () => undefined);
  const closed = new Promise<number>((res, rej) => {
    const guard = setTimeout(() => { s.destroy(); rej(new Error('the server did not close the connection within 5 s')); }, 5000);
    s.on('close', () => { clearTimeout(guard); res(performance.now()); });
  });
  return { s, values, opened, closed };
}

describe('gateway JSON-RPC socket', function () {
  this.timeout(20000);
  let dir: string;
  let logs: LogEntry[];
  const servers: (RpcServer | Server)[] = [];
  const gateways: Gateway[] = [];
  const log = new Logger((e) => logs.push(e));
  const dispatcher = new RpcDispatcher({
    // The stub methods touch no state.
    state: {} as GatewayState,
    methods: {
      ping: { params: {}, mutates: false, invoke: () => 'pong' },
      slow: { params: {}, mutates: false, invoke: () => new Promise((r) => setTimeout(() => r('done'), SLOW_MS)) },
    },
    save: () => Promise.resolve(),
    log,
  });

  async function serve(socketPath: string, o: Partial<RpcServerOptions> = {}): Promise<RpcServer> {
    const s = await RpcServer.listen({ socketPath, mode: 0o600, dispatcher, log, ...o });
    servers.push(s);
    return s;
  }

  /** A plain socket server at `path` that counts its connections. */
  async function listener(path: string): Promise<{ connections: () => number }> {
    let n = 0;
    const s = createServer((c) => { n++; c.destroy(); }).listen(path);
    servers.push(s);
    await once(s, 'listening');
    return { connections: () => n };
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-sock-'));
    logs = [];
  });

  afterEach(async () => {
    for (const s of servers.splice(0)) {
      if (s instanceof RpcServer) await s.close();
      else await new Promise((r) => s.close(r));
    }
    for (const g of gateways.splice(0)) await g.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('its directory', () => {
    it('by default /var/run/rdmagate, for the gateway and the DPU', () => {
      assert.equal(DEFAULT_SOCKET_PATH, '/var/run/rdmagate/rdmagate.sock');
      assert.equal(DEFAULT_DPU_GATEWAY_SOCKET, `${DEFAULT_SOCKET_DIR}/rdmagate-dpu.sock`);
    });

    it('its own is made 0750 whatever the umask, and refused once others may write to it, sticky or not', async () => {
      const own = join(dir, 'run');
      const umask = process.umask(0o077);
      try {
        await serve(join(own, 'r.sock'), { createDir: true });
      } finally {
        process.umask(umask);
      }
      assert.equal(statSync(own).mode & 0o7777, 0o750);
      assert.equal(statSync(join(own, 'r.sock')).mode & 0o777, 0o600);
      assert.equal(await rpcCall(join(own, 'r.sock'), 'ping'), 'pong');

      const shared = join(dir, 'shared');
      mkdirSync(shared);
      chmodSync(shared, 0o1777);
      await assert.rejects(serve(join(shared, 'r.sock'), { createDir: true }), refusal('ERR_SOCKET_DIR_UNSAFE', /writable by other users/));
      assert.ok(!existsSync(join(shared, 'r.sock')));
    });

    it('is refused when others may write to it without the sticky bit; a sticky one such as /tmp will do', async () => {
      const open = join(dir, 'open');
      mkdirSync(open);
      for (const mode of [0o777, 0o770, 0o757]) {
        chmodSync(open, mode);
        await assert.rejects(serve(join(open, 'r.sock')), refusal('ERR_SOCKET_DIR_UNSAFE', /without the sticky bit/));
        assert.ok(!existsSync(join(open, 'r.sock')), 'no socket is made');
      }
      chmodSync(open, 0o1777);
      await serve(join(open, 'r.sock'));
      assert.equal(await rpcCall(join(open, 'r.sock'), 'ping'), 'pong');
    });

    it('is refused when another user owns it', async function () {
      needs(this, isRoot, 'root (to chown to another user)');
      const theirs = join(dir, 'theirs');
      mkdirSync(theirs, { mode: 0o755 });
      chownSync(theirs, OTHER_UID, OTHER_UID);
      await assert.rejects(serve(join(theirs, 'r.sock')), refusal('ERR_SOCKET_DIR_UNSAFE', new RegExp(`uid ${OTHER_UID}`)));
    });

    it('missing, other than its own, is named as missing', async () => {
      await assert.rejects(serve(join(dir, 'nope', 'r.sock')), refusal('ERR_SOCKET_DIR_MISSING', /nope does not exist/));
      const g = new Gateway({ socketPath: join(dir, 'nope', 'g.sock'), configPath: null, log: () => undefined });
      await assert.rejects(g.start(), refusal('ERR_SOCKET_DIR_MISSING', /does not exist/));
      assert.ok(!existsSync(join(dir, 'nope')));
    });

    it('the default is made 0750 by the gateway at its first start', async function () {
      // Only where it can be made, and removed after, without touching a gateway's.
      needs(this, isRoot && !existsSync(DEFAULT_SOCKET_DIR), `root, and no ${DEFAULT_SOCKET_DIR} yet`);
      const g = new Gateway({ configPath: null, log: () => undefined });
      try {
        await g.start();
        assert.equal(g.socketPath, DEFAULT_SOCKET_PATH);
        assert.equal(statSync(DEFAULT_SOCKET_DIR).mode & 0o7777, 0o750);
        assert.equal(statSync(DEFAULT_SOCKET_PATH).mode & 0o777, 0o600);
        assert.ok(Array.isArray(await rpcCall(DEFAULT_SOCKET_PATH, 'rpc_get_methods')));
      } finally {
        await g.close();
        rmSync(DEFAULT_SOCKET_DIR, { recursive: true, force: true });
      }
    });
  });

  describe('its clients', () => {
    it('talk only to a socket of root or their own user, at once and without connecting', async function () {
      needs(this, isRoot, 'root (to chown to another user)');
      const path = join(dir, 'r.sock');
      const l = await listener(path);
      chownSync(path, OTHER_UID, OTHER_UID);
      const owner = refusal('ERR_SOCKET_OWNER', new RegExp(`uid ${OTHER_UID}`));
      const t0 = performance.now();
      await assert.rejects(RpcClient.connect(path, { retries: 5 }), owner);
      assert.ok(performance.now() - t0 < 200, 'not retried: waiting does not make the socket ours');
      await assert.rejects(rpcCall(path, 'ping'), owner);
      await assert.rejects(socketGatewayRpc(path).call('ping'), owner);
      const cli = spawn(process.execPath, [MAIN, 'rpc', '-s', path, 'ping']);
      let stderr = '';
      cli.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      const [code] = await once(cli, 'close') as [number | null];
      assert.equal(code, 1);
      assert.match(stderr, /ERR_SOCKET_OWNER/);
      assert.equal(l.connections(), 0, 'no client connected');

      chownSync(path, 0, 0);
      (await RpcClient.connect(path)).close();
      for (let i = 0; i < 100 && l.connections() === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(l.connections(), 1);
    });

    it('nor to a link, a file that is not a socket, or a socket in a directory others may write to', async () => {
      const path = join(dir, 'r.sock');
      await serve(path);
      symlinkSync(path, join(dir, 'link.sock'));
      await assert.rejects(RpcClient.connect(join(dir, 'link.sock')), refusal('ERR_NOT_A_SOCKET'));
      writeFileSync(join(dir, 'file.sock'), '');
      await assert.rejects(RpcClient.connect(join(dir, 'file.sock')), refusal('ERR_NOT_A_SOCKET'));
      chmodSync(dir, 0o777);
      await assert.rejects(RpcClient.connect(path), refusal('ERR_SOCKET_DIR_UNSAFE'));
      chmodSync(dir, 0o700);
      assert.equal(await rpcCall(path, 'ping'), 'pong');
    });

    it('report a missing socket or directory as a connect error, retried', async () => {
      for (const path of [join(dir, 'none.sock'), join(dir, 'none', 'r.sock')]) {
        const t0 = performance.now();
        await assert.rejects(RpcClient.connect(path, { retries: 1 }),
          (e: Error & { code?: string }) => e.code === 'ERR_RPC_CONNECT' && /is the gateway running/.test(e.message));
        assert.ok(performance.now() - t0 >= 150, 'retried');
      }
    });
  });

  describe('its deadlines', () => {
    it('close a connection that sends nothing', async () => {
      const path = join(dir, 'r.sock');
      await serve(path, { deadlines: { idleMs: 200, requestMs: 5000 } });
      const c = await raw(path);
      const ms = await c.closed - c.opened;
      assert.ok(ms >= 150, `closed after ${ms} ms`);
    });

    it('close a connection whose request has not arrived whole in time, though bytes keep coming', async () => {
      const path = join(dir, 'r.sock');
      await serve(path, { deadlines: { idleMs: 5000, requestMs: 200 } });
      const c = await raw(path);
      c.s.write('{"jsonrpc": "2.0", "method": "ping", ');
      const start = performance.now();
      const trickle = setInterval(() => { if (c.s.writable) c.s.write(' '); }, 20);
      try {
        const ms = await c.closed - start;
        assert.ok(ms >= 150 && ms < 2000, `closed after ${ms} ms`);
      } finally {
        clearInterval(trickle);
      }
      assert.deepEqual(c.values, []);
      assert.ok(logs.some((e) => e.level === 'warn' && /not received whole/.test(e.msg)));
    });

    it('keep a connection whose requests keep coming, or whose method runs longer than the idle limit', async () => {
      const path = join(dir, 'r.sock');
      await serve(path, { deadlines: { idleMs: 250, requestMs: 5000 } });
      const c = await raw(path);
      // Complete requests, each before the idle limit, for longer than the limit.
      for (let i = 1; i <= 5; i++) {
        c.s.write(req('ping', i));
        await new Promise((r) => setTimeout(r, 120));
      }
      assert.equal(c.values.length, 5);
      // A request split over two reads, inside the request limit.
      c.s.write('{"jsonrpc": "2.0", "method": "sl');
      await new Promise((r) => setTimeout(r, 100));
      c.s.write(`ow", "id": 6}`);
      while (c.values.length < 6) {
        assert.ok(!c.s.destroyed, 'not closed while the method runs');
        await new Promise((r) => setTimeout(r, 10));
      }
      const answered = performance.now();
      assert.deepEqual(c.values[5], { jsonrpc: '2.0', id: 6, result: 'done' });
      // Idle from the answer on.
      const ms = await c.closed - answered;
      assert.ok(ms >= 200, `closed ${ms} ms after the answer`);
    });

    it('are the gateway\'s rpcDeadlines option, checked', async () => {
      const path = join(dir, 'g.sock');
      const g = new Gateway({ socketPath: path, configPath: null, log: () => undefined, rpcDeadlines: { idleMs: 200 } });
      gateways.push(g);
      await g.start();
      const c = await raw(path);
      const ms = await c.closed - c.opened;
      assert.ok(ms >= 150, `closed after ${ms} ms`);
      assert.throws(() => new Gateway({ socketPath: null, configPath: null, rpcDeadlines: { requestMs: -1 } }), InvalidArgumentError);
    });
  });
});
