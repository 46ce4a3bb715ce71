/**
 * `rdmagate rpc` on the shared flag table: rpc.py's options, short and long, before METHOD,
 * and the free-form params after it (JSON, --key value, --a.b nesting, bare boolean switches;
 * any other bare --flag is a value left out, refused).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Gateway, type JsonObject } from '../../lib';
import { booleanParamTable } from '../../lib/cli/rpc-boolean-params';
import { gatewayMethods } from '../../lib/gateway/rpc/methods';
import * as p from '../../lib/gateway/rpc/params';
import { dhchapSecret } from '../support/dhchap-secret';

const MAIN = resolve(__dirname, '../../lib/cli/main.js');
const NQN = 'nqn.2026-11.io.rdmagate:cli-rpc';

/** Spawned, not spawnSync: the gateway answering runs on this process's event loop. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [MAIN, 'rpc', ...args]);
    let stdout = '', stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    p.on('close', (code) => res({ code, stdout, stderr }));
  });
}

describe('rdmagate rpc (CLI)', function () {
  this.timeout(30000);
  let dir: string;
  let gateway: Gateway;
  let sock: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-cli-rpc-'));
    sock = join(dir, 'gw.sock');
    gateway = new Gateway({ socketPath: sock, configPath: null, log: () => undefined });
    await gateway.start();
  });

  afterEach(async () => {
    await gateway.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes -s/--server, -r/--conn-retries and -t/--timeout, short, long or with =', async () => {
    for (const options of [['-s', sock, '-r', '1', '-t', '5'], ['--server', sock, '--conn-retries', '1', '--timeout', '5'],
      [`--server=${sock}`, '--timeout=5']]) {
      const r = await cli([...options, 'bdev_get_bdevs']);
      assert.equal(r.code, 0, `${options.join(' ')}: ${r.stderr}`);
      assert.deepEqual(JSON.parse(r.stdout), []);
    }
    const bad = await cli(['-s', sock, '-t', '0', 'bdev_get_bdevs']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^rdmagate: -t must be a number of seconds above 0, got '0' \(ERR_INVALID_ARG\)\n$/);
  });

  it('keeps its params free-form: --key value, --key=value, JSON values, --a.b nesting, bare switches, a JSON object', async () => {
    const made = await cli(['-s', sock, 'bdev_malloc_create', '--name', 'Cli0', '--num_blocks', '64', '--block_size=4096']);
    assert.equal(made.code, 0, made.stderr);
    assert.equal(JSON.parse(made.stdout), 'Cli0');
    const created = await cli(['-s', sock, 'nvmf_create_subsystem', '--nqn', NQN, '--allow_any_host']);
    assert.equal(created.code, 0, created.stderr);
    const added = await cli(['-s', sock, 'nvmf_subsystem_add_ns', '--nqn', NQN, '--namespace.bdev_name', 'Cli0', '--namespace.nsid', '7']);
    assert.equal(added.code, 0, added.stderr);
    const [s] = await gateway.rpc('nvmf_get_subsystems', { nqn: NQN }) as JsonObject[];
    assert.equal(s.allow_any_host, true);
    assert.deepEqual((s.namespaces as JsonObject[]).map((n) => [n.nsid, n.bdev_name]), [[7, 'Cli0']]);
    const json = await cli(['-s', sock, 'bdev_get_bdevs', '{"name": "Cli0"}']);
    assert.equal(json.code, 0, json.stderr);
    assert.equal((JSON.parse(json.stdout) as JsonObject[])[0].block_size, 4096);
  });

  it('refuses a bare --flag that is not a boolean param, in one line, and sends nothing', async () => {
    for (const [args, message] of [
      [['nvmf_create_subsystem', '--nqn'],
        /^rdmagate: nvmf_create_subsystem: --nqn needs a value \(only a boolean param may stand alone: nvmf_create_subsystem's are --allow_any_host, --ana_reporting\) \(ERR_INVALID_ARG\)\n$/],
      [['nvmf_create_subsystem', '--nqn', '--serial_number', 'SN1'], /^rdmagate: nvmf_create_subsystem: --nqn needs a value /],
      [['nvmf_create_subsystem', '--nqn', NQN, '--serial_number'], /: --serial_number needs a value /],
      [['nvmf_subsystem_add_listener', '--nqn', NQN, '--listen_address.trtype'], /: --listen_address\.trtype needs a value /],
      [['bdev_get_bdevs', '--name'], /^rdmagate: bdev_get_bdevs: --name needs a value \(only a boolean param may stand alone: bdev_get_bdevs has none that rdmagate knows of \(write --name true\)\) \(ERR_INVALID_ARG\)\n$/],
      // rpc.py's form: an option's value is not the next option.
      [['nvmf_create_subsystem', NQN, '-s', '-a'], /^rdmagate: nvmf_create_subsystem: -s needs a value \(ERR_INVALID_ARG\)\n$/],
    ] as const) {
      const r = await cli(['-s', sock, ...args]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, message, args.join(' '));
    }
    await assert.rejects(gateway.rpc('nvmf_get_subsystems', { nqn: NQN }), /no subsystem/, 'no call was made');
  });

  it('takes a bare --flag as true for a boolean param, and a boolean\'s value as given', async () => {
    const created = await cli(['-s', sock, 'nvmf_create_subsystem', '--allow_any_host', '--nqn', NQN, '--ana_reporting']);
    assert.equal(created.code, 0, created.stderr);
    const [s] = await gateway.rpc('nvmf_get_subsystems', { nqn: NQN }) as JsonObject[];
    assert.equal(s.allow_any_host, true);
    assert.equal(s.ana_reporting, true);
    const off = await cli(['-s', sock, 'nvmf_subsystem_allow_any_host', '--nqn', NQN, '--allow_any_host', 'false']);
    assert.equal(off.code, 0, off.stderr);
    assert.equal((await gateway.rpc('nvmf_get_subsystems', { nqn: NQN }) as JsonObject[])[0].allow_any_host, false);
  });

  it('passes the keyring and DH-HMAC-CHAP params through, as --key value pairs and in rpc.py\'s form', async () => {
    const path = join(dir, 'key0');
    writeFileSync(path, `${dhchapSecret(1)}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
    const host = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-00000000c11a';
    for (const args of [['keyring_file_add_key', 'key0', path], ['nvmf_create_subsystem', '--nqn', NQN],
      ['nvmf_subsystem_add_host', NQN, host, '--dhchap-key', 'key0'],
      ['nvmf_subsystem_set_keys', '--nqn', NQN, '--host', host, '--dhchap_key', 'key0']]) {
      const r = await cli(['-s', sock, ...args]);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    const [s] = await gateway.rpc('nvmf_get_subsystems', { nqn: NQN }) as { hosts: JsonObject[] }[];
    assert.deepEqual(s!.hosts, [{ nqn: host, dhchap_key: 'key0' }]);
    const unknown = await cli(['-s', sock, 'nvmf_subsystem_set_keys', NQN, host, '--dhchap-key', 'nokey']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /dhchap_key: no key 'nokey' in the keyring.*\(code -32602\)\n$/);
  });

  it('knows the boolean params that the gateway\'s method table (its SPDK schema) declares, every one and no other', () => {
    const fromGateway: Record<string, string[]> = {};
    for (const [name, m] of Object.entries(gatewayMethods())) {
      const booleans = p.booleanParams(m.params);
      if (booleans.length > 0) fromGateway[name] = booleans;
    }
    assert.ok(Object.keys(fromGateway).length > 0, 'the method table declares boolean params');
    assert.deepEqual(booleanParamTable(), fromGateway);
    // The schema reader finds booleans inside object params (optional or not) by path.
    assert.deepEqual(p.booleanParams({ a: p.boolean(), b: p.optional(p.object({ c: p.optional(p.boolean()), d: p.string() })), e: p.integer(0, 1) }),
      ['a', 'b.c']);
  });
});
