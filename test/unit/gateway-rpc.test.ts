import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { connect as netConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ClosedError, Gateway, JsonRpcError, RpcClient, rdma, type GatewayOptions, type JsonObject, type JsonValue,
  type LogEntry } from '../../lib';
import { JsonStreamParser } from '../../lib/jsonrpc/json-stream';
import { HOSTNQN, WireClient, rw, setSgl, sqe } from '../support/nvme-tcp-wire';
import { runCli } from '../support/cli-run';

const NQN = 'nqn.2026-11.io.rdmagate:gw-test';
const NQN2 = 'nqn.2026-11.io.rdmagate:gw-test-2';
const OTHER_HOST = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000000aa';
const MAIN = resolve(__dirname, '../../lib/cli/main.js');

// Subsystem listeners need a real port (0 is refused); start somewhere random so that
// concurrent runs on this machine do not collide, and below Linux's ephemeral range
// (32768-60999), where the tests' own outgoing connections take their ports.
let nextPort = 20000 + Math.floor(Math.random() * 10000);
const port = () => nextPort++;

const tcp = (p: number): JsonObject => ({ trtype: 'tcp', traddr: '127.0.0.1', trsvcid: String(p) });

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed * 13) & 0xff;
  return b;
}

async function rejects(p: Promise<unknown>, code: number, message?: RegExp): Promise<JsonRpcError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof JsonRpcError, `expected a JsonRpcError, got ${String(e)}`);
    assert.equal(e.rpcCode, code, e.message);
    if (message) assert.match(e.message, message);
    return e;
  }
  return assert.fail(`expected error ${code}`);
}

/**
 * Writes `pieces` to the socket one read at a time (a pause between them), then collects
 * the JSON values answered until the server closes the connection, or `count` arrived.
 */
async function exchange(socketPath: string, pieces: (string | Buffer)[], opts: { end?: boolean; count?: number } = {}):
  Promise<{ values: unknown[]; closed: boolean }> {
  const s = netConnect(socketPath);
  await new Promise<void>((res, rej) => { s.once('connect', res); s.once('error', rej); });
  const parser = new JsonStreamParser();
  const values: unknown[] = [];
  const done = new Promise<{ values: unknown[]; closed: boolean }>((res, rej) => {
    const t = setTimeout(() => { s.destroy(); rej(new Error(`timeout; got ${JSON.stringify(values)}`)); }, 5000);
    const finish = (closed: boolean) => { clearTimeout(t); res({ values, closed }); };
    s.on('data', (d: Buffer) => {
      for (const item of parser.push(d)) {
        assert.ok(item.ok, 'the server answers valid JSON');
        values.push(item.value);
      }
      if (opts.count !== undefined && values.length >= opts.count) { s.destroy(); finish(false); }
    });
    s.on('close', () => finish(true));
  });
  for (const p of pieces) {
    s.write(p);
    await new Promise((r) => setTimeout(r, 3));
  }
  if (opts.end ?? true) s.end();
  return done;
}

/**
 * Resolves once nothing listens on `p` any more. The Target closes a listener's socket on
 * its reactor, just after the RPC that removed it returns, so give it a moment.
 */
async function portClosed(p: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      (await WireClient.open(p)).close();
    } catch (e) {
      // Reset: the kernel took the connection into the backlog as the listener closed.
      if (!/ECONNRESET/.test(String(e))) {
        assert.match(String(e), /ECONNREFUSED/);
        return;
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`port ${p} still accepts connections`);
}

const req = (method: string, id?: JsonValue, params?: JsonValue) =>
  JSON.stringify({ jsonrpc: '2.0', method, ...(id === undefined ? {} : { id }), ...(params === undefined ? {} : { params }) });

describe('gateway JSON-RPC', function () {
  this.timeout(20000);
  let dir: string;
  let sockets = 0;
  let logs: LogEntry[];
  const gateways: Gateway[] = [];
  const closers: { close(): void }[] = [];

  async function gateway(opts: GatewayOptions = {}): Promise<Gateway> {
    const g = new Gateway({ socketPath: join(dir, `rpc${sockets++}.sock`), configPath: null, log: (e) => logs.push(e), ...opts });
    gateways.push(g);
    await g.start();
    return g;
  }

  async function client(g: Gateway): Promise<RpcClient> {
    const c = await RpcClient.connect(g.socketPath!, { timeoutMs: 10000 });
    closers.push(c);
    return c;
  }

  async function wire(p: number): Promise<WireClient> {
    const c = await WireClient.open(p);
    closers.push(c);
    return c;
  }

  /** A gateway with a client, a TCP transport, and a subsystem exporting a 1 MiB malloc bdev on a fresh port. */
  async function exported(opts: { allowAnyHost?: boolean } = {}) {
    const g = await gateway();
    const c = await client(g);
    const rpc = (m: string, p?: JsonObject) => c.call(m, p);
    const listenPort = port();
    assert.equal(await rpc('bdev_malloc_create', { num_blocks: 2048, block_size: 512 }), 'Malloc0');
    assert.equal(await rpc('nvmf_create_transport', { trtype: 'TCP' }), true);
    assert.equal(await rpc('nvmf_create_subsystem', { nqn: NQN, allow_any_host: opts.allowAnyHost ?? true }), true);
    assert.equal(await rpc('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'Malloc0' } }), 1);
    assert.equal(await rpc('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: tcp(listenPort) }), true);
    return { g, c, rpc, listenPort };
  }

  /** An admin and an I/O queue of one controller of NQN, through the listener on `p`. */
  async function controller(p: number) {
    const admin = await wire(p);
    const a = await admin.connectQueue({ subnqn: NQN });
    assert.equal(a.sc, 0, 'admin connect');
    const io = await wire(p);
    assert.equal((await io.connectQueue({ subnqn: NQN, qid: 1, cntlid: a.dw0 & 0xffff })).sc, 0, 'io connect');
    return { admin, io, cntlid: a.dw0 & 0xffff };
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-gw-'));
    logs = [];
  });

  afterEach(async () => {
    for (const c of closers.splice(0)) c.close();
    for (const g of gateways.splice(0)) await g.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('protocol', () => {
    it('answers requests written back to back in one write, in order', async () => {
      const g = await gateway();
      const { values } = await exchange(g.socketPath!, [
        req('rpc_get_methods', 1) + req('bdev_get_bdevs', 2) + '\n  ' + req('nvmf_get_transports', 'three'),
      ]);
      assert.deepEqual(values.map((v) => (v as { id: JsonValue }).id), [1, 2, 'three']);
      assert.deepEqual(values[1], { jsonrpc: '2.0', id: 2, result: [] });
    });

    it('parses requests split over many reads, inside strings and multi-byte characters', async () => {
      const g = await gateway();
      const text = req('no_such_méthod_}✓"', 7) + req('bdev_malloc_create', 8, { name: 'Ünï}{"code', num_blocks: 8, block_size: 512 });
      const bytes = Buffer.from(text);
      const pieces = Array.from({ length: Math.ceil(bytes.length / 5) }, (_, i) => bytes.subarray(i * 5, i * 5 + 5));
      const { values } = await exchange(g.socketPath!, pieces);
      assert.deepEqual(values, [
        { jsonrpc: '2.0', id: 7, error: { code: -32601, message: 'Method not found: no_such_méthod_}✓"' } },
        { jsonrpc: '2.0', id: 8, result: 'Ünï}{"code' },
      ]);
    });

    it('answers malformed JSON with -32700 and closes the connection', async () => {
      const g = await gateway();
      const { values, closed } = await exchange(g.socketPath!, [req('bdev_get_bdevs', 1), '{"jsonrpc": "2.0", "method": ]', req('bdev_get_bdevs', 3)],
        { end: false });
      assert.ok(closed, 'the server closed the connection');
      assert.equal(values.length, 2);
      assert.deepEqual(values[0], { jsonrpc: '2.0', id: 1, result: [] });
      const e = values[1] as { id: null; error: { code: number; message: string } };
      assert.equal(e.id, null);
      assert.equal(e.error.code, -32700);
      assert.match(e.error.message, /^Parse error/);
    });

    it('answers -32600 to invalid requests, with the id when it is usable', async () => {
      const g = await gateway();
      const { values } = await exchange(g.socketPath!, [[
        '{"method":"rpc_get_methods","id":1}',
        '{"jsonrpc":"2.0","id":2}',
        '{"jsonrpc":"2.0","method":5,"id":3}',
        '{"jsonrpc":"2.0","method":"rpc_get_methods","params":"x","id":4}',
        '{"jsonrpc":"2.0","method":"rpc_get_methods","id":{"a":1}}',
        '42 "text" []',
      ].join('')]);
      const got = values.map((v) => { const r = v as { id: JsonValue; error: { code: number } }; return [r.id, r.error.code]; });
      assert.deepEqual(got, [[1, -32600], [2, -32600], [3, -32600], [4, -32600], [null, -32600], [null, -32600], [null, -32600], [null, -32600]]);
    });

    it('answers -32601 for an unknown method and -32602 for by-position params', async () => {
      const g = await gateway();
      const c = await client(g);
      await rejects(c.call('no_such_method'), -32601, /no_such_method/);
      await rejects(c.call('hasOwnProperty'), -32601);
      const { values } = await exchange(g.socketPath!, [req('bdev_get_bdevs', 1, ['Malloc0'])]);
      assert.equal((values[0] as { error: { code: number } }).error.code, -32602);
    });

    it('runs batches: one answer per request, in order, none for notifications or an all-notification batch', async () => {
      const g = await gateway();
      const batch = `[${req('bdev_malloc_create', 1, { name: 'B0', num_blocks: 8, block_size: 512 })},` +
        `${req('bdev_malloc_create', undefined, { name: 'B1', num_blocks: 8, block_size: 512 })},` +
        `{"jsonrpc":"2.0"},${req('bdev_malloc_create', 'dup', { name: 'B0', num_blocks: 8, block_size: 512 })}]`;
      const quiet = `[${req('bdev_malloc_delete', undefined, { name: 'B1' })}]`;
      const { values } = await exchange(g.socketPath!, [batch, quiet, '[]', req('bdev_get_bdevs', 'last')]);
      assert.equal(values.length, 3);
      const [first, empty, last] = values as [{ id: JsonValue; result?: JsonValue; error?: { code: number } }[], { error: { code: number } },
        { id: JsonValue; result: { name: string }[] }];
      assert.deepEqual(first.map((r) => [r.id, r.result ?? r.error!.code]), [[1, 'B0'], [null, -32600], ['dup', -17]]);
      assert.equal(empty.error.code, -32600, 'an empty batch is an invalid request');
      assert.equal(last.id, 'last');
      assert.deepEqual(last.result.map((b) => b.name), ['B0'], 'the notifications ran: B1 made, then deleted');
    });

    it('runs notifications without answering, even when they fail', async () => {
      const g = await gateway();
      const { values } = await exchange(g.socketPath!, [
        req('bdev_null_create', undefined, { name: 'N0', num_blocks: 8, block_size: 512 }),
        req('bdev_null_create', undefined, { bad: 1 }),
        req('no_such_method'),
        req('bdev_get_bdevs', 1),
      ]);
      assert.equal(values.length, 1);
      assert.deepEqual((values[0] as { result: { name: string }[] }).result.map((b) => b.name), ['N0']);
    });

    it('serves concurrent clients', async () => {
      const g = await gateway();
      const clients = await Promise.all(Array.from({ length: 6 }, () => client(g)));
      const names = await Promise.all(clients.flatMap((c) =>
        Array.from({ length: 5 }, () => c.call('bdev_malloc_create', { num_blocks: 16, block_size: 512 }))));
      assert.deepEqual([...names].sort(), Array.from({ length: 30 }, (_, i) => `Malloc${i}`).sort());
      assert.equal((await clients[0].call('bdev_get_bdevs') as JsonValue[]).length, 30);
    });

    it('logs each change as a structured entry', async () => {
      const g = await gateway();
      await g.rpc('bdev_malloc_create', { num_blocks: 8, block_size: 512 });
      await rejects(g.rpc('bdev_malloc_delete', { name: 'nope' }), -19);
      const made = logs.find((e) => e.method === 'bdev_malloc_create');
      assert.equal(made?.level, 'info');
      assert.equal(typeof made?.ts, 'string');
      assert.equal(logs.find((e) => e.method === 'bdev_malloc_delete')?.level, 'warn');
    });
  });

  describe('bdev methods', () => {
    it('bdev_malloc_create names bdevs as SPDK does and bdev_get_bdevs reports them', async () => {
      const g = await gateway();
      const c = await client(g);
      assert.equal(await c.call('bdev_malloc_create', { num_blocks: 64, block_size: 4096 }), 'Malloc0');
      assert.equal(await c.call('bdev_malloc_create', { name: 'Mine', num_blocks: 8, block_size: 512,
        uuid: 'CECCF520-691E-4B46-9546-34AF789907C5' }), 'Mine');
      assert.equal(await c.call('bdev_malloc_create', { num_blocks: 8, block_size: 512 }), 'Malloc2', 'the count includes named ones');
      const [mine] = await c.call('bdev_get_bdevs', { name: 'Mine' }) as JsonObject[];
      assert.deepEqual(mine, {
        name: 'Mine', aliases: [], product_name: 'Malloc disk', block_size: 512, num_blocks: 8,
        uuid: 'ceccf520-691e-4b46-9546-34af789907c5', claimed: false, zoned: false,
        supported_io_types: { read: true, write: true, unmap: true, flush: true, reset: false, nvme_admin: false, nvme_io: false,
          compare: false, compare_and_write: false, write_zeroes: true, abort: false, zcopy: false },
        driver_specific: {},
      });
      assert.deepEqual(await c.call('bdev_get_bdevs', { name: 'ceccf520-691e-4b46-9546-34af789907c5' }), [mine], 'found by UUID');
      const all = await c.call('bdev_get_bdevs') as JsonObject[];
      assert.deepEqual(all.map((b) => [b.name, b.block_size, b.num_blocks]), [['Malloc0', 4096, 64], ['Malloc2', 512, 8], ['Mine', 512, 8]]);
      assert.notEqual(all[0].uuid, all[1].uuid, 'each bdev gets its own UUID');
      await rejects(c.call('bdev_get_bdevs', { name: 'nope' }), -19, /nope/);
    });

    it('bdev_null_create and bdev_null_delete; a module deletes only its own bdevs', async () => {
      const g = await gateway();
      const c = await client(g);
      assert.equal(await c.call('bdev_null_create', { name: 'Null0', num_blocks: 1 << 20, block_size: 512 }), 'Null0');
      const [b] = await c.call('bdev_get_bdevs', { name: 'Null0' }) as JsonObject[];
      assert.equal(b.product_name, 'Null disk');
      assert.equal(b.num_blocks, 1 << 20);
      await rejects(c.call('bdev_malloc_delete', { name: 'Null0' }), -19, /no malloc bdev Null0/);
      assert.equal(await c.call('bdev_null_delete', { name: 'Null0' }), true);
      await rejects(c.call('bdev_null_delete', { name: 'Null0' }), -19, /Null0/);
    });

    it('bdev_null_resize and bdev_uring_rescan: a served bdev grows, never shrinks, and save_config keeps the new size', async () => {
      const g = await gateway();
      const c = await client(g);
      const blocks = async (name: string) => ((await c.call('bdev_get_bdevs', { name })) as JsonObject[])[0].num_blocks;
      await c.call('bdev_null_create', { name: 'Null0', num_blocks: 2048, block_size: 512 });
      await c.call('nvmf_create_subsystem', { nqn: 'nqn.2026-11.io.rdmagate:resize' });
      await c.call('nvmf_subsystem_add_ns', { nqn: 'nqn.2026-11.io.rdmagate:resize', namespace: { bdev_name: 'Null0' } });
      assert.equal(await c.call('bdev_null_resize', { name: 'Null0', new_size: 4 }), true);
      assert.equal(await blocks('Null0'), 8192);
      await rejects(c.call('bdev_null_resize', { name: 'Null0', new_size: 2 }), -16, /cannot shrink/);
      await rejects(c.call('bdev_null_resize', { name: 'Nope', new_size: 2 }), -19);
      const config = JSON.stringify(await c.call('save_config'));
      assert.match(config, /"method":"bdev_null_create","params":\{"name":"Null0","num_blocks":8192/);

      const dir = mkdtempSync(join(tmpdir(), 'rdmagate-rescan-'));
      try {
        const file = join(dir, 'disk');
        writeFileSync(file, Buffer.alloc(1 << 20));
        await c.call('bdev_uring_create', { name: 'File0', filename: file, block_size: 512 });
        writeFileSync(file, Buffer.alloc(1 << 20), { flag: 'a' });
        assert.equal(await c.call('bdev_uring_rescan', { name: 'File0' }), true);
        assert.equal(await blocks('File0'), 4096);
        await rejects(c.call('bdev_uring_rescan', { name: 'Null0' }), -19, /no uring bdev Null0/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('refuses duplicates with -17, and the same delete twice with -19', async () => {
      const g = await gateway();
      const c = await client(g);
      await c.call('bdev_malloc_create', { name: 'D', num_blocks: 8, block_size: 512, uuid: '11111111-2222-3333-4444-555555555555' });
      await rejects(c.call('bdev_malloc_create', { name: 'D', num_blocks: 8, block_size: 512 }), -17, /D/);
      await rejects(c.call('bdev_null_create', { name: 'D', num_blocks: 8, block_size: 512 }), -17);
      await rejects(c.call('bdev_malloc_create', { name: 'E', num_blocks: 8, block_size: 512, uuid: '11111111-2222-3333-4444-555555555555' }),
        -17, /uuid/);
      assert.equal(await c.call('bdev_malloc_delete', { name: 'D' }), true);
      await rejects(c.call('bdev_malloc_delete', { name: 'D' }), -19);
    });

    const invalid: [string, JsonObject, RegExp][] = [
      ['bdev_malloc_create', {}, /missing required param 'num_blocks'/],
      ['bdev_malloc_create', { num_blocks: '8', block_size: 512 }, /num_blocks must be an integer/],
      ['bdev_malloc_create', { num_blocks: 8.5, block_size: 512 }, /num_blocks must be an integer/],
      ['bdev_malloc_create', { num_blocks: 8, block_size: 512, md_size: 0 }, /unknown param 'md_size'/],
      ['bdev_malloc_create', { num_blocks: 8, block_size: 1000 }, /block size must be a power of two/],
      ['bdev_malloc_create', { num_blocks: 8, block_size: 512, uuid: 'nope' }, /uuid must be a UUID/],
      ['bdev_malloc_create', { name: '', num_blocks: 8, block_size: 512 }, /name must be a non-empty string/],
      ['bdev_null_create', { num_blocks: 8, block_size: 512 }, /missing required param 'name'/],
      ['bdev_malloc_delete', {}, /missing required param 'name'/],
      ['bdev_null_delete', { name: 'x', force: true }, /unknown param 'force'/],
      ['bdev_get_bdevs', { name: 5 }, /name must be a non-empty string, got 5/],
    ];
    for (const [m, params, message] of invalid) {
      it(`${m} ${JSON.stringify(params)} → -32602 ${message}`, async () => {
        const g = await gateway();
        await rejects((await client(g)).call(m, params), -32602, message);
      });
    }
  });

  describe('nvmf methods', () => {
    it('exports a namespace: a host connects to the listener, writes and reads blocks', async () => {
      const { rpc, listenPort } = await exported();
      const { io, cntlid } = await controller(listenPort);
      const small = pattern(4096, 1);
      assert.equal((await io.execute(rw(0x01, 1, 8, 8), { writeData: small, inCapsule: true })).cqe.sc, 0);
      const big = pattern(64 * 1024, 2);
      assert.equal((await io.execute(rw(0x01, 1, 100, 128), { writeData: big })).cqe.sc, 0);
      assert.ok((await io.execute(rw(0x02, 1, 8, 8))).data.equals(small));
      assert.ok((await io.execute(rw(0x02, 1, 100, 128))).data.equals(big));

      assert.deepEqual(await rpc('nvmf_subsystem_get_controllers', { nqn: NQN }), [{ cntlid, hostnqn: HOSTNQN, num_io_qpairs: 1 }]);
      const qpairs = await rpc('nvmf_subsystem_get_qpairs', { nqn: NQN }) as JsonObject[];
      assert.deepEqual(qpairs.map((q) => [q.cntlid, q.qid, q.state, q.hostnqn]).sort(),
        [[cntlid, 0, 'active', HOSTNQN], [cntlid, 1, 'active', HOSTNQN]]);
      for (const q of qpairs) {
        const peer = q.peer_address as JsonObject;
        assert.deepEqual([peer.trtype, peer.adrfam, peer.traddr], ['TCP', 'IPv4', '127.0.0.1']);
        assert.match(String(peer.trsvcid), /^\d+$/);
      }
      const stats = await rpc('nvmf_get_stats') as { poll_groups: JsonObject[] };
      assert.equal(stats.poll_groups.length, 1);
      const pg = stats.poll_groups[0];
      assert.deepEqual([pg.current_admin_qpairs, pg.current_io_qpairs], [1, 1]);
      const [t] = pg.transports as JsonObject[];
      assert.equal(t.trtype, 'TCP');
      assert.equal(t.bytes_written, 4096 + 64 * 1024);
      assert.equal(t.bytes_read, 4096 + 64 * 1024);
      assert.equal(t.in_capsule_bytes as number >= 4096, true);
      assert.equal(t.errors, 0);
      assert.equal(t.pool_exhausted, 0);
    });

    it('offers a subsystem made by RPC only on its own listeners', async () => {
      const { g } = await exported();
      const shared = g.target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
      const c = await wire(shared.port);
      assert.equal((await c.connectQueue({ subnqn: NQN })).sc, 0x84);
    });

    it('nvmf_get_subsystems reports subsystems in SPDK\'s shape', async () => {
      const g = await gateway();
      const c = await client(g);
      const p = port();
      await c.call('nvmf_create_transport', { trtype: 'tcp' });
      await c.call('bdev_malloc_create', { name: 'M', num_blocks: 8, block_size: 512, uuid: '0a0b0c0d-0e0f-4011-8213-141516171819' });
      await c.call('bdev_null_create', { name: 'N', num_blocks: 8, block_size: 512 });
      await c.call('nvmf_create_subsystem', { nqn: NQN, serial_number: 'SN0001', model_number: 'gateway test', max_namespaces: 8 });
      await c.call('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: { ...tcp(p), adrfam: 'ipv4' } });
      await c.call('nvmf_subsystem_add_host', { nqn: NQN, host: HOSTNQN });
      assert.equal(await c.call('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'M' } }), 1);
      assert.equal(await c.call('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'N', nsid: 5,
        nguid: '00112233445566778899aabbccddeeff', uuid: 'ceccf520-691e-4b46-9546-34af789907c5' } }), 5);
      const list = await c.call('nvmf_get_subsystems') as JsonObject[];
      assert.deepEqual(list[0], { nqn: 'nqn.2014-08.org.nvmexpress.discovery', subtype: 'Discovery', listen_addresses: [],
        allow_any_host: true, hosts: [] });
      assert.deepEqual(list[1], {
        nqn: NQN, subtype: 'NVMe',
        listen_addresses: [{ trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(p) }],
        allow_any_host: false, hosts: [{ nqn: HOSTNQN }],
        serial_number: 'SN0001', model_number: 'gateway test', max_namespaces: 8,
        min_cntlid: 1, max_cntlid: 65519, ana_reporting: false,
        namespaces: [
          // As in SPDK, a namespace takes its bdev's UUID, and the same bytes as NGUID, by default,
          // and its nsid as its ANA group.
          { nsid: 1, bdev_name: 'M', name: 'M', nguid: '0A0B0C0D0E0F40118213141516171819', uuid: '0a0b0c0d-0e0f-4011-8213-141516171819',
            anagrpid: 1 },
          { nsid: 5, bdev_name: 'N', name: 'N', nguid: '00112233445566778899AABBCCDDEEFF', uuid: 'ceccf520-691e-4b46-9546-34af789907c5',
            anagrpid: 5 },
        ],
      });
      assert.deepEqual(await c.call('nvmf_get_subsystems', { nqn: NQN }), [list[1]]);
      await rejects(c.call('nvmf_get_subsystems', { nqn: NQN2 }), -19, /no subsystem/);
    });

    it('nvmf_create_transport checks its params against the Target and nvmf_get_transports reports them', async () => {
      const g = await gateway({ target: { maxIoSize: 64 * 1024, bufferPoolBytes: 4 << 20 } });
      const c = await client(g);
      assert.deepEqual(await c.call('nvmf_get_transports'), []);
      await c.call('nvmf_create_subsystem', { nqn: NQN });
      await rejects(c.call('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: tcp(port()) }), -32602, /create it first/);
      await rejects(c.call('nvmf_create_transport', { trtype: 'tcp', max_io_size: 128 * 1024 }), -32602, /max_io_size 131072 cannot be honoured: this target serves 65536/);
      await rejects(c.call('nvmf_create_transport', { trtype: 'tcp', max_queue_depth: 64 }), -32602, /max_queue_depth/);
      await rejects(c.call('nvmf_create_transport', { trtype: 'tcp', io_unit_size: 128 * 1024 }), -32602, /io_unit_size/);
      await rejects(c.call('nvmf_create_transport', { trtype: 'tcp', num_shared_buffers: 511 }), -32602,
        /num_shared_buffers 511 cannot be honoured: this target's pool holds 64 buffers of 65536 bytes/);
      // Counted in SPDK's io_unit_size when given: 4095 x 8 KiB is 32 MiB, over the 4 MiB here.
      await rejects(c.call('nvmf_create_transport', { trtype: 'tcp', num_shared_buffers: 4095, io_unit_size: 8192 }), -32602,
        /num_shared_buffers 4095 cannot be honoured/);
      await rejects(c.call('nvmf_create_transport', { trtype: 'tcp', buf_cache_size: 32 }), -32602, /unknown param 'buf_cache_size'/);
      await rejects(c.call('nvmf_create_transport', { trtype: 'FC' }), -32602, /trtype must be one of TCP, RDMA/);
      await rejects(c.call('nvmf_create_transport', {}), -32602, /missing required param 'trtype'/);
      assert.equal(await c.call('nvmf_create_transport', { trtype: 'tcp', max_io_size: 65536, max_queue_depth: 128,
        max_io_qpairs_per_ctrlr: 64, in_capsule_data_size: 8192, io_unit_size: 8192, num_shared_buffers: 511 }), true);
      const tcpTransport = { trtype: 'TCP', max_queue_depth: 128, max_io_qpairs_per_ctrlr: 64, in_capsule_data_size: 8192,
        max_io_size: 65536, io_unit_size: 65536, num_shared_buffers: 64 };
      assert.deepEqual(await c.call('nvmf_get_transports'), [tcpTransport]);
      assert.deepEqual(await c.call('nvmf_get_transports', { trtype: 'tcp' }), [tcpTransport]);
      await rejects(c.call('nvmf_create_transport', { trtype: 'TCP' }), -17, /already exists/);
      if (rdma.available().available) {
        assert.equal(await c.call('nvmf_create_transport', { trtype: 'rdma' }), true);
      } else {
        await rejects(c.call('nvmf_create_transport', { trtype: 'rdma' }), -95, /RDMA is unavailable/);
        await rejects(c.call('nvmf_get_transports', { trtype: 'RDMA' }), -19);
      }
    });

    it('subsystems: a duplicate is -17, the same delete twice is ok then -19, and a delete frees its port', async () => {
      const { rpc, listenPort } = await exported();
      await rejects(rpc('nvmf_create_subsystem', { nqn: NQN }), -17, /exists/);
      await rejects(rpc('nvmf_create_subsystem', { nqn: 'not an nqn' }), -32602, /NQN/);
      await rejects(rpc('nvmf_create_subsystem', { nqn: NQN2, serial_number: 'x'.repeat(21) }), -32602, /serial_number must be at most 20/);
      await rejects(rpc('nvmf_create_subsystem', { nqn: NQN2, passthrough: true }), -32602, /unknown param 'passthrough'/);
      await rejects(rpc('nvmf_create_subsystem', { nqn: NQN2, allow_any_host: 'yes' }), -32602, /allow_any_host must be true or false/);
      assert.equal(await rpc('nvmf_delete_subsystem', { nqn: NQN }), true);
      await rejects(rpc('nvmf_delete_subsystem', { nqn: NQN }), -19);
      await portClosed(listenPort); // no subsystem uses the listener any more
      const bdevs = await rpc('bdev_get_bdevs') as JsonObject[];
      assert.equal(bdevs[0].claimed, false, 'the namespace went with the subsystem');
    });

    it('listeners: a duplicate is -17, removal twice is ok then -19; a port shared by two subsystems stays open for the other', async () => {
      const { rpc, listenPort } = await exported();
      await rejects(rpc('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: tcp(listenPort) }), -17, /already has listener/);
      await rpc('nvmf_create_subsystem', { nqn: NQN2, allow_any_host: true });
      assert.equal(await rpc('nvmf_subsystem_add_listener', { nqn: NQN2, listen_address: tcp(listenPort) }), true);
      assert.equal(await rpc('nvmf_subsystem_remove_listener', { nqn: NQN, listen_address: tcp(listenPort) }), true);
      await rejects(rpc('nvmf_subsystem_remove_listener', { nqn: NQN, listen_address: tcp(listenPort) }), -19);
      const c = await wire(listenPort);
      assert.equal((await c.connectQueue({ subnqn: NQN2 })).sc, 0, 'still listening for the other subsystem');
      const d = await wire(listenPort);
      assert.equal((await d.connectQueue({ subnqn: NQN })).sc, 0x84, 'no longer offered there');
      assert.equal(await rpc('nvmf_subsystem_remove_listener', { nqn: NQN2, listen_address: tcp(listenPort) }), true);
      await portClosed(listenPort);
      await rejects(rpc('nvmf_subsystem_add_listener', { nqn: 'nqn.2026-11.io.rdmagate:none', listen_address: tcp(port()) }), -19);
      // A port another process holds.
      const taken = port();
      const busy = createServer().listen(taken, '127.0.0.1');
      await once(busy, 'listening');
      try {
        await rejects(rpc('nvmf_subsystem_add_listener', { nqn: NQN2, listen_address: tcp(taken) }), -98, /in use/);
      } finally {
        busy.close();
      }
      assert.deepEqual(((await rpc('nvmf_get_subsystems', { nqn: NQN2 })) as JsonObject[])[0].listen_addresses, []);
    });

    const badAddress: [JsonObject, RegExp][] = [
      [{ trtype: 'tcp', traddr: '127.0.0.1' }, /missing required param 'listen_address.trsvcid'/],
      [{ trtype: 'tcp', traddr: '127.0.0.1', trsvcid: '0' }, /listen_address.trsvcid must be a port/],
      [{ trtype: 'tcp', traddr: '127.0.0.1', trsvcid: 'http' }, /listen_address.trsvcid must be a port/],
      [{ trtype: 'tcp', traddr: 'localhost', trsvcid: '4420' }, /traddr must be an IPv4 or IPv6 address/],
      [{ trtype: 'tcp', traddr: '127.0.0.1', trsvcid: '4420', adrfam: 'ipv6' }, /adrfam is IPv6/],
      [{ trtype: 'tcp', traddr: '127.0.0.1', trsvcid: '4420', secure: true }, /unknown param 'listen_address.secure'/],
      [{ trtype: 'fc', traddr: '127.0.0.1', trsvcid: '4420' }, /listen_address.trtype must be one of/],
    ];
    for (const [la, message] of badAddress) {
      it(`nvmf_subsystem_add_listener ${JSON.stringify(la)} → -32602 ${message}`, async () => {
        const g = await gateway();
        const c = await client(g);
        await c.call('nvmf_create_transport', { trtype: 'tcp' });
        await c.call('nvmf_create_subsystem', { nqn: NQN });
        await rejects(c.call('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: la }), -32602, message);
      });
    }

    it('namespaces: the lowest free nsid, -17 for a used one, -16 for a claimed bdev, removal twice', async () => {
      const { rpc, listenPort } = await exported();
      await rpc('bdev_malloc_create', { name: 'Second', num_blocks: 64, block_size: 512 });
      await rejects(rpc('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'Malloc0' } }), -16, /already claimed by .* nsid 1/);
      await rejects(rpc('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'Second', nsid: 1 } }), -17, /nsid 1 is in use/);
      await rejects(rpc('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'Nope' } }), -19, /no bdev Nope/);
      await rejects(rpc('nvmf_subsystem_add_ns', { nqn: NQN2, namespace: { bdev_name: 'Second' } }), -19, /no subsystem/);
      await rejects(rpc('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'Second', nguid: 'xyz' } }), -32602, /NGUID/);
      await rejects(rpc('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'Second', eui64: '0011223344556677' } }),
        -32602, /unknown param 'namespace.eui64'/);
      await rejects(rpc('nvmf_subsystem_add_ns', { nqn: NQN, bdev_name: 'Second' }), -32602, /unknown param 'bdev_name'/);
      await rejects(rpc('bdev_malloc_delete', { name: 'Malloc0' }), -16, /used by a namespace/);
      assert.equal(await rpc('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'Second', nsid: 0 } }), 2);
      const { io } = await controller(listenPort);
      assert.equal((await io.execute(rw(0x01, 2, 0, 1), { writeData: pattern(512, 3), inCapsule: true })).cqe.sc, 0);
      assert.equal(await rpc('nvmf_subsystem_remove_ns', { nqn: NQN, nsid: 2 }), true);
      await rejects(rpc('nvmf_subsystem_remove_ns', { nqn: NQN, nsid: 2 }), -19);
      await rejects(rpc('nvmf_subsystem_remove_ns', { nqn: NQN, nsid: 0 }), -32602, /nsid must be an integer in \[1, 4294967294\]/);
      const bad = await io.execute(rw(0x02, 2, 0, 1));
      assert.deepEqual([bad.cqe.sct, bad.cqe.sc], [0, 0x0b], 'the namespace is gone');
      assert.equal(await rpc('bdev_malloc_delete', { name: 'Second' }), true, 'and its bdev is free');
    });

    it('a removed namespace\'s bdev can go while the host that used it stays connected and sends nothing more', async () => {
      const { rpc, listenPort } = await exported();
      await rpc('bdev_malloc_create', { name: 'Second', num_blocks: 64, block_size: 512 });
      assert.equal(await rpc('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'Second' } }), 2);
      const { io } = await controller(listenPort);
      assert.equal((await io.execute(rw(0x01, 2, 0, 1), { writeData: pattern(512, 4), inCapsule: true })).cqe.sc, 0);
      assert.equal(await rpc('nvmf_subsystem_remove_ns', { nqn: NQN, nsid: 2 }), true);
      // The I/O queue that used it stays idle: its reactor drops the old namespace table by itself.
      assert.equal(await rpc('bdev_malloc_delete', { name: 'Second' }), true);
      assert.equal((await io.execute(rw(0x02, 1, 0, 1))).cqe.sc, 0, 'the other namespace still serves');
    });

    it('hosts: only listed hosts by default; a duplicate is -17; removal twice; allow_any_host', async () => {
      const { rpc, listenPort } = await exported({ allowAnyHost: false });
      const denied = await wire(listenPort);
      const refused = await denied.connectQueue({ subnqn: NQN });
      assert.deepEqual([refused.sct, refused.sc], [1, 0x84]);
      assert.equal(await rpc('nvmf_subsystem_add_host', { nqn: NQN, host: HOSTNQN }), true);
      await rejects(rpc('nvmf_subsystem_add_host', { nqn: NQN, host: HOSTNQN }), -17, /already allowed/);
      const allowed = await wire(listenPort);
      assert.equal((await allowed.connectQueue({ subnqn: NQN })).sc, 0);
      const other = await wire(listenPort);
      assert.equal((await other.connectQueue({ subnqn: NQN, hostnqn: OTHER_HOST })).sc, 0x84);
      assert.equal(await rpc('nvmf_subsystem_remove_host', { nqn: NQN, host: HOSTNQN }), true);
      await rejects(rpc('nvmf_subsystem_remove_host', { nqn: NQN, host: HOSTNQN }), -19, /not on the host list/);
      await rejects(rpc('nvmf_subsystem_allow_any_host', { nqn: NQN }), -32602, /missing required param 'allow_any_host'/);
      assert.equal(await rpc('nvmf_subsystem_allow_any_host', { nqn: NQN, allow_any_host: true }), true);
      const anyone = await wire(listenPort);
      assert.equal((await anyone.connectQueue({ subnqn: NQN, hostnqn: OTHER_HOST })).sc, 0);
      assert.equal(((await rpc('nvmf_get_subsystems', { nqn: NQN })) as JsonObject[])[0].allow_any_host, true);
      await rejects(rpc('nvmf_subsystem_add_host', { nqn: NQN2, host: HOSTNQN }), -19);
    });

    it('per-subsystem queries answer -19 for a missing subsystem and [] before any host', async () => {
      const g = await gateway();
      const c = await client(g);
      for (const m of ['nvmf_subsystem_get_controllers', 'nvmf_subsystem_get_qpairs']) {
        await rejects(c.call(m, { nqn: NQN }), -19);
        await rejects(c.call(m, {}), -32602);
      }
      await c.call('nvmf_create_subsystem', { nqn: NQN });
      assert.deepEqual(await c.call('nvmf_subsystem_get_controllers', { nqn: NQN }), []);
      assert.deepEqual(await c.call('nvmf_subsystem_get_qpairs', { nqn: NQN }), []);
      assert.deepEqual(await c.call('nvmf_get_stats'), { poll_groups: [{ name: 'all_reactors', current_admin_qpairs: 0,
        current_io_qpairs: 0, transports: [] }] });
      await rejects(c.call('nvmf_get_stats', { tgt_name: 'x' }), -32602, /unknown param 'tgt_name'/);
    });
  });

  describe('config', () => {
    /** Builds a varied config through RPCs; returns what the queries report. */
    async function populate(rpc: (m: string, p?: JsonObject) => Promise<JsonValue>, p1: number, p2: number) {
      await rpc('bdev_malloc_create', { num_blocks: 2048, block_size: 512 });
      await rpc('bdev_malloc_create', { name: 'Big', num_blocks: 256, block_size: 4096 });
      await rpc('bdev_null_create', { name: 'Null0', num_blocks: 4096, block_size: 512 });
      await rpc('nvmf_create_transport', { trtype: 'tcp' });
      await rpc('nvmf_create_subsystem', { nqn: NQN, allow_any_host: true, serial_number: 'CFG1' });
      await rpc('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'Malloc0' } });
      await rpc('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'Null0', nsid: 3 } });
      await rpc('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: tcp(p1) });
      await rpc('nvmf_create_subsystem', { nqn: NQN2, model_number: 'second', max_namespaces: 4 });
      await rpc('nvmf_subsystem_add_host', { nqn: NQN2, host: HOSTNQN });
      await rpc('nvmf_subsystem_add_host', { nqn: NQN2, host: OTHER_HOST });
      await rpc('nvmf_subsystem_add_ns', { nqn: NQN2, namespace: { bdev_name: 'Big', nguid: '0123456789abcdef0123456789abcdef' } });
      await rpc('nvmf_subsystem_add_listener', { nqn: NQN2, listen_address: tcp(p1) });
      await rpc('nvmf_subsystem_add_listener', { nqn: NQN2, listen_address: tcp(p2) });
    }

    async function snapshot(rpc: (m: string, p?: JsonObject) => Promise<JsonValue>) {
      return {
        subsystems: await rpc('nvmf_get_subsystems'),
        bdevs: await rpc('bdev_get_bdevs'),
        transports: await rpc('nvmf_get_transports'),
      };
    }

    it('load_config of save_config output onto a fresh gateway reproduces the same state', async () => {
      const a = await gateway();
      const p1 = port(), p2 = port();
      await populate((m, p) => a.rpc(m, p), p1, p2);
      const config = await a.rpc('save_config') as JsonObject;
      const before = await snapshot((m, p) => a.rpc(m, p));
      await a.close(); // frees the listener ports for the new gateway
      // A smaller request pool is no reason to refuse the config: its size is not saved.
      const b = await gateway({ target: { bufferPoolBytes: 4 << 20 } });
      const c = await client(b);
      assert.equal(await c.call('load_config', config), true);
      const after = await snapshot((m, p) => c.call(m, p));
      assert.deepEqual((after.transports as JsonObject[]).map((t) => t.num_shared_buffers), [32]);
      const sameButPool = (t: JsonValue) => (t as JsonObject[]).map(({ num_shared_buffers: _n, ...rest }) => rest);
      assert.deepEqual({ ...after, transports: sameButPool(after.transports) }, { ...before, transports: sameButPool(before.transports) });
      assert.deepEqual(await c.call('save_config'), config);
      // The export works on the new gateway.
      const w = await wire(p2);
      assert.equal((await w.connectQueue({ subnqn: NQN2 })).sc, 0);
      // Replaying it again collides at the first entry.
      await rejects(c.call('load_config', config), -17, /subsystems\[0\]\.config\[0\] \(bdev_malloc_create\)/);
    });

    it('framework_get_subsystems and framework_get_config give save_config by section, as rpc.py uses them', async () => {
      const g = await gateway();
      const c = await client(g);
      await populate((m, p) => c.call(m, p), port(), port());
      const config = await c.call('save_config') as { subsystems: { subsystem: string; config: JsonValue }[] };
      // The keyring's section is in save_config only while it has keys: this config has none.
      assert.deepEqual(await c.call('framework_get_subsystems'), [{ subsystem: 'keyring', depends_on: [] },
        { subsystem: 'bdev', depends_on: ['keyring'] }, { subsystem: 'nvmf', depends_on: ['bdev', 'keyring'] }]);
      assert.deepEqual(config.subsystems.map((s) => s.subsystem), ['bdev', 'nvmf']);
      assert.deepEqual(await c.call('framework_get_config', { name: 'keyring' }), []);
      for (const s of config.subsystems) {
        assert.deepEqual(await c.call('framework_get_config', { name: s.subsystem }), s.config);
      }
      assert.deepEqual(config.subsystems[0].config, [
        { method: 'bdev_malloc_create', params: { name: 'Malloc0', num_blocks: 2048, block_size: 512,
          uuid: ((await c.call('bdev_get_bdevs', { name: 'Malloc0' })) as JsonObject[])[0].uuid } },
        { method: 'bdev_malloc_create', params: { name: 'Big', num_blocks: 256, block_size: 4096,
          uuid: ((await c.call('bdev_get_bdevs', { name: 'Big' })) as JsonObject[])[0].uuid } },
        { method: 'bdev_null_create', params: { name: 'Null0', num_blocks: 4096, block_size: 512,
          uuid: ((await c.call('bdev_get_bdevs', { name: 'Null0' })) as JsonObject[])[0].uuid } },
      ]);
      assert.deepEqual((config.subsystems[1].config as { method: string }[]).map((e) => e.method), [
        'nvmf_create_transport',
        'nvmf_create_subsystem', 'nvmf_subsystem_add_listener', 'nvmf_subsystem_add_ns', 'nvmf_subsystem_add_ns',
        'nvmf_create_subsystem', 'nvmf_subsystem_add_listener', 'nvmf_subsystem_add_listener',
        'nvmf_subsystem_add_host', 'nvmf_subsystem_add_host', 'nvmf_subsystem_add_ns',
      ]);
      await rejects(c.call('framework_get_config', { name: 'iscsi' }), -32602, /Subsystem 'iscsi' not found/);
    });

    it('load_config checks its shape, allows only config methods, and stops at the first failure', async () => {
      const g = await gateway();
      const c = await client(g);
      await rejects(c.call('load_config', {}), -32602, /missing required param 'subsystems'/);
      await rejects(c.call('load_config', { subsystems: [{ subsystem: 'bdev', config: [{ params: {} }] }] }), -32602,
        /missing required param 'subsystems\[0\].config\[0\].method'/);
      await rejects(c.call('load_config', { subsystems: [{ subsystem: 'bdev', config: [{ method: 'bdev_get_bdevs' }] }] }), -32602,
        /bdev_get_bdevs.*not a method that a config may contain/);
      await rejects(c.call('load_config', { subsystems: [{ subsystem: 'bdev', config: [
        { method: 'bdev_malloc_create', params: { name: 'L0', num_blocks: 8, block_size: 512 } },
        { method: 'nvmf_subsystem_add_ns', params: { nqn: NQN, namespace: { bdev_name: 'L0' } } },
        { method: 'bdev_malloc_create', params: { name: 'L1', num_blocks: 8, block_size: 512 } },
      ] }] }), -19, /subsystems\[0\]\.config\[1\] \(nvmf_subsystem_add_ns\): .*no subsystem/);
      assert.deepEqual(((await c.call('bdev_get_bdevs')) as JsonObject[]).map((b) => b.name), ['L0'], 'entries before the failure stay');
    });

    it('rpc_get_methods lists every method', async () => {
      const g = await gateway();
      const c = await client(g);
      const names = await c.call('rpc_get_methods') as string[];
      for (const m of ['bdev_malloc_create', 'bdev_malloc_delete', 'bdev_null_create', 'bdev_null_delete', 'bdev_null_resize',
        'bdev_uring_create', 'bdev_uring_rescan', 'bdev_uring_delete', 'bdev_get_bdevs',
        'nvmf_create_transport', 'nvmf_get_transports', 'nvmf_create_subsystem', 'nvmf_delete_subsystem', 'nvmf_get_subsystems',
        'nvmf_subsystem_add_listener', 'nvmf_subsystem_remove_listener', 'nvmf_subsystem_add_ns', 'nvmf_subsystem_remove_ns',
        'nvmf_subsystem_add_host', 'nvmf_subsystem_remove_host', 'nvmf_subsystem_allow_any_host', 'nvmf_subsystem_get_controllers',
        'nvmf_subsystem_get_qpairs', 'nvmf_get_stats', 'save_config', 'load_config', 'rpc_get_methods',
        'framework_get_subsystems', 'framework_get_config']) {
        assert.ok(names.includes(m), m);
      }
      assert.deepEqual(await c.call('rpc_get_methods', { current: true, include_aliases: true }), names);
      await rejects(c.call('rpc_get_methods', { current: 1 }), -32602, /current must be true or false/);
    });

    it('removes at start the temporary config files a killed gateway left, and keeps those of a live one', async () => {
      const configPath = join(dir, 'state', 'config.json');
      mkdirSync(join(dir, 'state'), { recursive: true });
      const dead = spawnSync(process.execPath, ['-e', '0']).pid!;  // exited: its pid names no process now
      const left = `.config.json.${dead}.0a1b2c3d.tmp`;
      const live = `.config.json.${process.pid}.0a1b2c3d.tmp`;
      for (const f of [left, live, 'other.tmp']) writeFileSync(join(dir, 'state', f), '{');
      await gateway({ configPath });
      assert.deepEqual(readdirSync(join(dir, 'state')).sort(), [live, 'other.tmp'].sort());
    });

    it('saves after each change, atomically, and a restarted gateway serves the same exports', async () => {
      const configPath = join(dir, 'state', 'nested', 'config.json'); // the directories do not exist yet
      const a = await gateway({ configPath });
      const c = await client(a);
      const p1 = port(), p2 = port();
      await populate((m, p) => c.call(m, p), p1, p2);
      const saved = JSON.parse(readFileSync(configPath, 'utf8')) as JsonValue;
      assert.deepEqual(saved, await c.call('save_config'));
      assert.deepEqual(readdirSync(join(dir, 'state', 'nested')), ['config.json'], 'no temporary files left');
      assert.equal(statSync(configPath).mode & 0o777, 0o600);
      const before = await snapshot((m, p) => c.call(m, p));
      const { io } = await controller(p1);
      assert.equal((await io.execute(rw(0x01, 1, 16, 8), { writeData: pattern(4096, 9) })).cqe.sc, 0);
      for (const x of closers.splice(0)) x.close();
      await a.close();

      const b = await gateway({ configPath });
      const d = await client(b);
      assert.deepEqual(await snapshot((m, p) => d.call(m, p)), before);
      // The export is back, with its geometry. Malloc bdevs live in RAM, so the data written
      // before the restart is gone: the block reads back as zeros, by design.
      const { admin, io: io2 } = await controller(p1);
      const idns = sqe(0x06, { nsid: 1, cdw10: 0 });
      setSgl(idns, 'transport', 4096);
      const ns = (await admin.execute(idns)).data;
      assert.equal(Number(ns.readBigUInt64LE(0)), 2048, 'namespace size');
      assert.equal(ns[128 + 2], 9, '512-byte blocks');
      const r = await io2.execute(rw(0x02, 1, 16, 8));
      assert.equal(r.cqe.sc, 0);
      assert.ok(r.data.equals(Buffer.alloc(4096)));
      // And it keeps saving.
      await d.call('nvmf_delete_subsystem', { nqn: NQN2 });
      const after = JSON.parse(readFileSync(configPath, 'utf8')) as { subsystems: { config: { params: { nqn?: string } }[] }[] };
      assert.ok(!after.subsystems[1].config.some((e) => e.params.nqn === NQN2));
    });

    it('a config that cannot be loaded fails start, naming the file, and closes the gateway', async () => {
      const configPath = join(dir, 'config.json');
      writeFileSync(configPath, '{"subsystems": [');
      const g = new Gateway({ socketPath: join(dir, 'x.sock'), configPath, log: () => undefined });
      await assert.rejects(g.start(), /not valid JSON/);
      await assert.rejects(g.rpc('bdev_get_bdevs'), ClosedError);
      writeFileSync(configPath, JSON.stringify({ subsystems: [{ subsystem: 'nvmf', config: [
        { method: 'nvmf_subsystem_add_ns', params: { nqn: NQN, namespace: { bdev_name: 'Malloc0' } } }] }] }));
      const h = new Gateway({ socketPath: join(dir, 'y.sock'), configPath, log: () => undefined });
      const e = await rejects(h.start(), -19, /config\.json: subsystems\[0\]\.config\[0\] \(nvmf_subsystem_add_ns\)/);
      assert.ok(e.message.includes(configPath));
      assert.ok(h.target.closed);
    });
  });

  describe('socket and lifecycle', () => {
    it('creates the socket with mode 0600, refuses a live one, replaces a stale one, keeps other files', async () => {
      const g = await gateway();
      const path = g.socketPath!;
      assert.equal(statSync(path).mode & 0o777, 0o600);
      const second = new Gateway({ socketPath: path, configPath: null, log: () => undefined });
      await assert.rejects(second.start(), (e: Error & { code?: string }) => e.code === 'ERR_ADDRESS_IN_USE');
      await g.close();
      assert.throws(() => statSync(path), /ENOENT/, 'close removes the socket');

      const stale = join(dir, 'stale.sock');
      const r = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`]);
      assert.equal(r.signal, 'SIGKILL');
      assert.ok(statSync(stale).isSocket(), 'a socket file left behind');
      const h = await gateway({ socketPath: stale });
      assert.equal(await (await client(h)).call('nvmf_get_transports').then((t) => (t as JsonValue[]).length), 0);

      const file = join(dir, 'plain');
      writeFileSync(file, 'keep me');
      await assert.rejects(new Gateway({ socketPath: file, configPath: null, log: () => undefined }).start(), /not a socket/);
      assert.equal(readFileSync(file, 'utf8'), 'keep me');
    });

    it('rpc() runs in process; after close (or asyncDispose) calls fail with ClosedError', async () => {
      const g = await gateway({ socketPath: null });
      assert.equal(g.socketPath, undefined);
      assert.equal(await g.rpc('bdev_malloc_create', { num_blocks: 8, block_size: 512 }), 'Malloc0');
      await rejects(g.rpc('nope'), -32601);
      await g[Symbol.asyncDispose]();
      assert.ok(g.target.closed);
      await assert.rejects(g.rpc('bdev_get_bdevs'), ClosedError);
      await assert.rejects(g.start(), ClosedError);
    });

    it('the client reports a missing gateway, a timeout and a dropped connection as typed errors', async () => {
      await assert.rejects(RpcClient.connect(join(dir, 'none.sock'), { retries: 1 }),
        (e: Error & { code?: string }) => e.code === 'ERR_RPC_CONNECT' && /is the gateway running/.test(e.message));
      const silentPath = join(dir, 'silent.sock');
      const silent = createServer(() => undefined).listen(silentPath);
      await once(silent, 'listening');
      const s = await RpcClient.connect(silentPath, { timeoutMs: 100 });
      await assert.rejects(s.call('bdev_get_bdevs'), (e: Error & { code?: string }) => e.code === 'ERR_RPC_TIMEOUT');
      s.close();
      silent.close();
      const g = await gateway();
      const c = await RpcClient.connect(g.socketPath!, { timeoutMs: 10000 });
      await g.close();
      await assert.rejects(c.call('bdev_get_bdevs'), (e: Error & { code?: string }) => e.code === 'ERR_RPC_CLOSED');
    });
  });

  describe('CLI', () => {
    const cli = runCli;

    it('rdmagate rpc: JSON or --key value params, JSON output, errors with their code and exit status 1', async () => {
      const g = await gateway();
      const sock = g.socketPath!;
      await g.rpc('bdev_malloc_create', { num_blocks: 8, block_size: 512 });
      const list = await cli(['rpc', '-s', sock, 'bdev_get_bdevs']);
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual(JSON.parse(list.stdout), await g.rpc('bdev_get_bdevs'));

      const made = await cli(['rpc', '-s', sock, 'bdev_malloc_create', '--name', 'Cli0', '--num_blocks', '64', '--block_size=4096']);
      assert.equal(made.code, 0, made.stderr);
      assert.equal(JSON.parse(made.stdout), 'Cli0');
      assert.equal((await cli(['rpc', '-s', sock, '-t', '5', 'nvmf_create_transport', '{"trtype": "tcp"}'])).code, 0);
      assert.equal((await cli(['rpc', '-s', sock, 'nvmf_create_subsystem', '--nqn', NQN, '--allow_any_host'])).code, 0);
      const p = port();
      const listen = await cli(['rpc', '-s', sock, 'nvmf_subsystem_add_listener', '--nqn', NQN,
        '--listen_address.trtype', 'tcp', '--listen_address.traddr', '127.0.0.1', '--listen_address.trsvcid', String(p)]);
      assert.equal(listen.code, 0, listen.stderr);
      assert.equal(listen.stdout.trim(), 'true');
      const [s] = await g.rpc('nvmf_get_subsystems', { nqn: NQN }) as JsonObject[];
      assert.equal(s.allow_any_host, true);
      assert.deepEqual(s.listen_addresses, [{ trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(p) }]);

      const missing = await cli(['rpc', '-s', sock, 'bdev_malloc_delete', '--name', 'nope']);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /bdev_malloc_delete: .*nope.* \(code -19\)/);
      const unknown = await cli(['rpc', '-s', sock, 'no_such_method']);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /\(code -32601\)/);
      const noServer = await cli(['rpc', '-s', join(dir, 'none.sock'), 'bdev_get_bdevs']);
      assert.equal(noServer.code, 1);
      assert.match(noServer.stderr, /ERR_RPC_CONNECT/);
      const usage = await cli(['rpc', '-s', sock]);
      assert.equal(usage.code, 1);
      assert.match(usage.stderr, /needs a METHOD/);
    });

    it('rdmagate gateway runs until SIGTERM, saving its config', async () => {
      const sock = join(dir, 'cli-gw.sock');
      const configPath = join(dir, 'cli-gw.json');
      const p = spawn(process.execPath, [MAIN, 'gateway', '-s', sock, '--config', configPath, '--reactors', '1']);
      let stderr = '';
      p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      const exited = new Promise<number | null>((res) => p.on('close', res));
      try {
        const c = await RpcClient.connect(sock, { retries: 50, timeoutMs: 10000 });
        closers.push(c);
        assert.equal(await c.call('bdev_null_create', { name: 'N', num_blocks: 8, block_size: 512 }), 'N');
        const saved = JSON.parse(readFileSync(configPath, 'utf8')) as { subsystems: { config: JsonValue[] }[] };
        assert.equal(saved.subsystems[0].config.length, 1);
      } finally {
        p.kill('SIGTERM');
      }
      assert.equal(await exited, 0, stderr);
      const lines = stderr.trim().split('\n').map((l) => JSON.parse(l) as LogEntry);
      assert.ok(lines.some((l) => l.msg === 'gateway started'), stderr);
      assert.ok(lines.some((l) => l.msg === 'gateway closed'), stderr);
    });
  });
});
