/**
 * JSON-RPC over TLS 1.3 (issue 17: gateway group members on other machines): the gateway's
 * --rpc-listen serves only clients whose certificate its CA signed, and clients
 * (rdmagate rpc, group check, the CSI controller) verify the gateway's. Certificates:
 * test/fixtures/rpc-tls (test-only).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect } from 'node:tls';
import { Gateway } from '../../lib';
import { GatewayGroup, GroupExporter, socketGatewayRpc } from '../../lib/csi';
import { rpcCall, type RpcTransportError } from '../../lib/jsonrpc';
import type { RpcTlsCredentials } from '../../lib/jsonrpc/endpoint';
import { runCli as cli } from '../support/cli-run';
import { freePort } from '../support/free-port';

const FIXTURES = resolve(__dirname, '../../../test/fixtures/rpc-tls');
const pem = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');
const file = (name: string) => join(FIXTURES, name);

const CLIENT: RpcTlsCredentials = { cert: pem('client.crt'), key: pem('client.key'), ca: pem('ca.crt') };

describe('gateway JSON-RPC over TLS (remote members)', function () {
  this.timeout(30000);
  let gateway: Gateway;
  let endpoint: string;
  const refusals: string[] = [];

  before(async () => {
    gateway = new Gateway({ socketPath: null, configPath: null,
      log: (e) => { if (e.msg === 'rpc tls client refused') refusals.push(String(e.error)); },
      rpcTls: { address: '127.0.0.1', port: 0, cert: pem('gateway.crt'), key: pem('gateway.key'), ca: pem('ca.crt') } });
    await gateway.start();
    endpoint = `tls://127.0.0.1:${gateway.rpcTlsPort}`;
  });

  after(() => gateway.close());

  it('serves a client whose certificate its CA signed', async () => {
    const methods = await rpcCall(endpoint, 'rpc_get_methods', undefined, { tls: CLIENT }) as string[];
    assert.ok(methods.includes('bdev_nvme_attach_controller'));
    await rpcCall(endpoint, 'bdev_malloc_create', { name: 'Malloc0', num_blocks: 2048, block_size: 512 }, { tls: CLIENT });
    assert.equal((await gateway.rpc('bdev_get_bdevs', { name: 'Malloc0' }) as unknown as unknown[]).length, 1);
  });

  it('refuses a client with no certificate or another CA\'s, and a client refuses a gateway its CA did not sign', async () => {
    const before = refusals.length;
    const noCert = connect({ host: '127.0.0.1', port: gateway.rpcTlsPort!, ca: pem('ca.crt'), minVersion: 'TLSv1.3' });
    const ended = await new Promise<string>((res) => {
      noCert.on('error', (e) => res(e.message));
      noCert.on('secureConnect', () => noCert.write(JSON.stringify({ jsonrpc: '2.0', method: 'rpc_get_methods', id: 1 })));
      noCert.on('data', () => res('answered'));
      noCert.on('close', () => res('closed'));
    });
    noCert.destroy();
    assert.notEqual(ended, 'answered', 'no certificate: nothing answered');
    await assert.rejects(rpcCall(endpoint, 'rpc_get_methods', undefined,
      { tls: { cert: pem('rogue-client.crt'), key: pem('rogue-client.key'), ca: pem('ca.crt') } }),
    (e: RpcTransportError) => /^ERR_RPC_/.test(e.code), 'another CA\'s client certificate');
    await assert.rejects(rpcCall(endpoint, 'rpc_get_methods', undefined, { tls: { ...CLIENT, ca: pem('client.crt') } }),
      (e: RpcTransportError) => e.code === 'ERR_RPC_CONNECT', 'a gateway certificate that this CA did not sign');
    await assert.rejects(rpcCall(endpoint, 'rpc_get_methods'), { code: 'ERR_INVALID_ARG', message: /needs this client's certificate/ });
    for (let i = 0; refusals.length < before + 2 && i < 100; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(refusals.length >= before + 2, `the gateway logged the refused handshakes: ${refusals.slice(before).join('; ')}`);
  });

  it('a CSI gateway group with a member at tls://HOST:PORT exports through it', async () => {
    const exportPort = await freePort();
    const group = new GatewayGroup({ members: [{ name: 'remote', rpc: socketGatewayRpc(endpoint, 5000, CLIENT),
      tcp: { traddr: '127.0.0.1', trsvcid: exportPort } }] });
    const exporter = new GroupExporter({ group });
    const volume = 'tls-member-vol';
    const image = join(mkdtempSync(join(tmpdir(), 'rdmagate-rpc-tls-')), 'vol.img');
    writeFileSync(image, Buffer.alloc(1 << 20));
    const ctx = await exporter.publish({ volumeId: volume, uuid: '6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5',
      source: { kind: 'file', path: image, blockSize: 512 } }, 'nqn.2014-08.org.nvmexpress:uuid:4b1d2c3e-0000-4000-8000-000000000001', 'tcp');
    assert.equal(ctx.trsvcid, String(exportPort));
    const subs = await gateway.rpc('nvmf_get_subsystems') as unknown as { nqn: string }[];
    assert.ok(subs.some((s) => s.nqn.endsWith(volume)), 'the volume is exported on the remote member');
  });

  it('rdmagate rpc -s tls://… and group check take --rpc-tls-*; the gateway CLI refuses --rpc-listen without them', async () => {
    const tlsFlags = ['--rpc-tls-cert', file('client.crt'), '--rpc-tls-key', file('client.key'), '--rpc-tls-ca', file('ca.crt')];
    const r = await cli(['rpc', '-s', endpoint, ...tlsFlags, 'bdev_get_bdevs']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((JSON.parse(r.stdout) as { name: string }[]).some((b) => b.name === 'Malloc0'));
    const bare = await cli(['rpc', '-s', endpoint, 'bdev_get_bdevs']);
    assert.equal(bare.code, 1);
    assert.match(bare.stderr, /needs --rpc-tls-cert, --rpc-tls-key and --rpc-tls-ca/);
    const check = await cli(['group', 'check', '--gateway', `a=${endpoint}`, ...tlsFlags]);
    assert.match(check.stdout, new RegExp(`member a \\(${endpoint.replace(/[.]/g, '\\.')}\\)`), check.stderr);
    const gw = await cli(['gateway', '-s', '/tmp/rdmagate-unused.sock', '--config', '/tmp/rdmagate-unused.json', '--rpc-listen', '127.0.0.1:1']);
    assert.equal(gw.code, 1);
    assert.match(gw.stderr, /--rpc-listen needs --rpc-tls-cert/);
  });
});
