/**
 * NVMe/TCP TLS through the gateway, as SPDK has it: key files holding TLS PSKs in the
 * keyring (their form checked as they are added), nvmf_subsystem_add_listener's
 * secure_channel, nvmf_subsystem_add_host's psk and bdev_nvme_attach_controller's psk, each
 * a keyring key's name. End to end: our host connects with the PSK and moves data, a host
 * without it is refused; a backend behind a second Target's secure listener is attached
 * with its PSK; save_config names keys and never holds one, and a restarted gateway serves
 * the same. No PSK reaches a result, an error, a log line, a metric or the saved file.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BufferPool, Gateway, Target, nvmf, renderMetrics, type JsonObject, type RdmagateError, type SpdkConfig } from '../../lib';
import { Keyring } from '../../lib/gateway/keyring';
import { encodeTlsPsk } from '../../lib/nvmf';
import { dhchapSecret } from '../support/dhchap-secret';
import { freePort } from '../support/free-port';
import { gatewayKeysFixture, rpcRejects } from '../support/gateway-keys';
import { tlsPsk } from '../support/tls-psk';

const NQN = 'nqn.2026-12.io.rdmagate:gateway-tls';
const HOST = 'nqn.2014-08.org.nvmexpress:uuid:3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f';
const HOST2 = 'nqn.2014-08.org.nvmexpress:uuid:4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a';
const BACKEND_NQN = 'nqn.2026-12.io.rdmagate:gateway-tls-backend';

describe('gateway: NVMe/TCP TLS (secure_channel listeners, psk by keyring name)', function () {
  this.timeout(60000);
  const t = gatewayKeysFixture('rdmagate-gateway-tls-');
  const { gateway, keyFile, noSecretIn } = t;
  const pool = new BufferPool({ chunkSize: 128 * 1024 });

  /** Writes and reads back `blocks` blocks at `lba` through the first I/O queue. */
  async function roundTrip(c: nvmf.Controller, lba: number, blocks: number): Promise<void> {
    const w = pool.acquire();
    const r = pool.acquire();
    const len = blocks * 512;
    try {
      for (let i = 0; i < len; i++) w[i] = (i * 7 + lba) & 0xff;
      await c.queuePairs[0]!.write(1, BigInt(lba), blocks, w);
      r.fill(0);
      await c.queuePairs[0]!.read(1, BigInt(lba), blocks, r);
      assert.ok(Buffer.from(r.buffer, r.byteOffset, len).equals(Buffer.from(w.buffer, w.byteOffset, len)));
    } finally {
      w.release();
      r.release();
    }
  }

  const address = (port: number) => ({ trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(port) });

  /** A subsystem with a malloc namespace on a secure_channel listener, host HOST with `host`'s keys. */
  async function exportSecure(g: Gateway, port: number, host: JsonObject, bdev = 'M0'): Promise<void> {
    if (bdev === 'M0') await g.rpc('bdev_malloc_create', { name: 'M0', num_blocks: 8192, block_size: 512 });
    await g.rpc('nvmf_create_transport', { trtype: 'TCP' });
    await g.rpc('nvmf_create_subsystem', { nqn: NQN });
    await g.rpc('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: bdev } });
    assert.equal(await g.rpc('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: address(port), secure_channel: true }), true);
    await g.rpc('nvmf_subsystem_add_host', { nqn: NQN, host: HOST, ...host });
  }

  const connect = (port: number, o: Partial<nvmf.ConnectOptions> = {}) =>
    nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, hostnqn: HOST, ctrlLossTmo: 0, timeoutMs: 5000, ...o });

  describe('the keyring', () => {
    it('takes key files holding a TLS PSK (hash 01 and 02) beside DHHC-1 secrets, and lists neither\'s material', async () => {
      const g = await gateway();
      const p1 = keyFile('psk1', tlsPsk(1));
      const p2 = keyFile('psk2', tlsPsk(2), 0o400);
      const d = keyFile('dh', dhchapSecret(1));
      for (const [name, path] of [['psk1', p1], ['psk2', p2], ['dh', d]]) {
        assert.equal(await g.rpc('keyring_file_add_key', { name, path }), true);
      }
      const listed = await g.rpc('keyring_get_keys');
      assert.deepEqual(listed, [p1, p2, d].map((path, i) =>
        ({ name: ['psk1', 'psk2', 'dh'][i], module: 'keyring_file', removed: false, probed: false, refcnt: 1, path })));
      noSecretIn(JSON.stringify(listed), JSON.stringify(await g.rpc('save_config')), t.logs.join('\n'));
    });

    it('refuses a file that holds no valid PSK or secret, naming the key and its file, never what it holds', async () => {
      const g = await gateway();
      const good = tlsPsk(1);
      const body = good.split(':')[2]!;
      // A checksum that does not match its key: the last base64 digit of the CRC changed.
      const badCrc = good.replace(/(.)(=*):$/, (_m, c: string, pad: string) => `${c === 'A' ? 'B' : 'A'}${pad}:`);
      const wrongLength = encodeTlsPsk(randomBytes(48), 1);  // 01 takes 32 bytes
      const badHash = `NVMeTLSkey-1:03:${body}:`;
      const notBase64 = 'NVMeTLSkey-1:01:not*base64*at*all:';
      const cases: [string, string, RegExp][] = [
        ['crc', badCrc, /CRC-32 does not match/],
        ['len', wrongLength, /not an NVMe\/TCP TLS PSK/],
        ['hash', badHash, /not an NVMe\/TCP TLS PSK/],
        ['b64', notBase64, /not an NVMe\/TCP TLS PSK/],
        ['other', 'just some text', /holds neither a DH-HMAC-CHAP secret .* nor an NVMe\/TCP TLS PSK/],
      ];
      for (const [name, text, message] of cases) {
        const path = keyFile(name, text);
        const e = await rpcRejects(g.rpc('keyring_file_add_key', { name, path }), -32602, message);
        assert.ok(e.message.includes(`'${name}'`) && e.message.includes(path), e.message);
        assert.ok(!e.message.includes(text.split(':')[2] || text), e.message);
      }
      // The class beneath: a typed error, and the same owner and mode checks as for DHHC-1 secrets.
      assert.throws(() => new Keyring().addFileKey('x', keyFile('x', badHash)), { code: 'ERR_INVALID_ARG' });
      await rpcRejects(g.rpc('keyring_file_add_key', { name: 'open', path: keyFile('open', tlsPsk(1), 0o644) }), -1, /chmod 0600/);
      assert.deepEqual(await g.rpc('keyring_get_keys'), []);
      noSecretIn(t.logs.join('\n'));
    });

    it('uses each key only as what it holds: a PSK is no dhchap_key, a DHHC-1 secret no psk', async () => {
      const g = await gateway();
      await g.rpc('keyring_file_add_key', { name: 'psk0', path: keyFile('psk0', tlsPsk(1)) });
      await g.rpc('keyring_file_add_key', { name: 'dh0', path: keyFile('dh0', dhchapSecret(1)) });
      await g.rpc('nvmf_create_subsystem', { nqn: NQN });
      await rpcRejects(g.rpc('nvmf_subsystem_add_host', { nqn: NQN, host: HOST, psk: 'dh0' }), -32602,
        /psk: key 'dh0' .* holds a DH-HMAC-CHAP secret/);
      await rpcRejects(g.rpc('nvmf_subsystem_add_host', { nqn: NQN, host: HOST, dhchap_key: 'psk0' }), -32602,
        /dhchap_key: key 'psk0' .* holds an NVMe\/TCP TLS PSK/);
      await rpcRejects(g.rpc('nvmf_subsystem_add_host', { nqn: NQN, host: HOST, psk: 'nokey' }), -32602, /psk: no key 'nokey' in the keyring/);
      await g.rpc('nvmf_subsystem_add_host', { nqn: NQN, host: HOST });
      await rpcRejects(g.rpc('nvmf_subsystem_set_keys', { nqn: NQN, host: HOST, dhchap_key: 'psk0' }), -32602, /holds an NVMe\/TCP TLS PSK/);
      await rpcRejects(g.rpc('bdev_nvme_attach_controller', { name: 'Nvme0', trtype: 'tcp', traddr: '127.0.0.1', trsvcid: '1',
        subnqn: BACKEND_NQN, psk: 'dh0' }), -32602, /holds a DH-HMAC-CHAP secret/);
      await rpcRejects(g.rpc('bdev_nvme_attach_controller', { name: 'Nvme0', trtype: 'rdma', traddr: '127.0.0.1', trsvcid: '1',
        subnqn: BACKEND_NQN, psk: 'psk0' }), -32602, /psk is NVMe\/TCP's/);
      assert.deepEqual(await g.rpc('bdev_nvme_get_controllers'), []);
      const [s] = await g.rpc('nvmf_get_subsystems', { nqn: NQN }) as { hosts: JsonObject[] }[];
      assert.deepEqual(s!.hosts, [{ nqn: HOST }]);
    });
  });

  describe('a subsystem on a secure_channel listener', () => {
    it('admits the host with the psk named by nvmf_subsystem_add_host, which moves data; refuses one without it', async () => {
      const g = await gateway();
      const port = await freePort();
      const key = tlsPsk(1);
      await g.rpc('keyring_file_add_key', { name: 'psk0', path: keyFile('psk0', key) });
      await exportSecure(g, port, { psk: 'psk0' });
      await g.rpc('nvmf_subsystem_add_host', { nqn: NQN, host: HOST2 });

      const c = await connect(port, { psk: key, nrIoQueues: 1 });
      try {
        await roundTrip(c, 0, 8);
        await roundTrip(c, 64, 256);
        assert.equal((await g.rpc('nvmf_subsystem_get_controllers', { nqn: NQN }) as JsonObject[])[0]!.hostnqn, HOST);
      } finally {
        await c.close();
      }
      const refused = async (p: Promise<unknown>) => assert.rejects(p, (e: RdmagateError) => {
        assert.equal(e.code, 'ERR_NVME_CONNECT', e.message);
        noSecretIn(e.message);
        return true;
      });
      await refused(connect(port));                           // no TLS
      await refused(connect(port, { psk: tlsPsk(1) }));       // another PSK
      await refused(connect(port, { psk: key, hostnqn: HOST2 }));  // a host allowed, but with no PSK
      // Discovery through the same listener needs the PSK too (nvme discover --tls).
      const log = await nvmf.discover({ traddr: '127.0.0.1', trsvcid: port, hostnqn: HOST, psk: key });
      const entry = log.find((e) => e.subnqn === NQN)!;
      assert.equal(entry.treq & 3, 1, 'TREQ: secure channel required');
      assert.equal(entry.sectype, 2, 'SECTYPE: TLS 1.3');
      noSecretIn(t.logs.join('\n'), renderMetrics(g.target));
    });

    it('shows secure_channel and the psk\'s name in nvmf_get_subsystems, nvmf_subsystem_get_listeners, keyring_get_keys and save_config', async () => {
      const g = await gateway();
      const port = await freePort();
      const plainPort = await freePort();
      const key = tlsPsk(2);
      const path = keyFile('psk0', key);
      await g.rpc('keyring_file_add_key', { name: 'psk0', path });
      await exportSecure(g, port, { psk: 'psk0' });
      await g.rpc('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: address(plainPort) });
      const [s] = await g.rpc('nvmf_get_subsystems', { nqn: NQN }) as JsonObject[];
      assert.deepEqual(s!.listen_addresses, [{ ...address(port), secure_channel: true }, address(plainPort)]);
      assert.deepEqual(s!.hosts, [{ nqn: HOST, psk: 'psk0' }]);
      assert.deepEqual(await g.rpc('nvmf_subsystem_get_listeners', { nqn: NQN }),
        [{ address: address(port), secure_channel: true }, { address: address(plainPort) }]);
      assert.deepEqual((await g.rpc('keyring_get_keys') as JsonObject[]).map((k) => [k.name, k.refcnt]), [['psk0', 2]]);
      const config = await g.rpc('save_config') as SpdkConfig;
      assert.deepEqual(config.subsystems[0], { subsystem: 'keyring', config: [{ method: 'keyring_file_add_key', params: { name: 'psk0', path } }] });
      const nvmfSection = config.subsystems.find((x) => x.subsystem === 'nvmf')!.config;
      assert.deepEqual(nvmfSection.filter((e) => e.method === 'nvmf_subsystem_add_listener').map((e) => e.params), [
        { nqn: NQN, listen_address: address(port), secure_channel: true },
        { nqn: NQN, listen_address: address(plainPort) },
      ]);
      assert.deepEqual(nvmfSection.filter((e) => e.method === 'nvmf_subsystem_add_host').map((e) => e.params),
        [{ nqn: NQN, host: HOST, psk: 'psk0' }]);
      noSecretIn(JSON.stringify(config), readFileSync(join(t.dir, 'config.json'), 'utf8'), JSON.stringify(s), t.logs.join('\n'),
        renderMetrics(g.target));

      // The saved config, replayed by load_config into a gateway of its own, is the same config.
      const other = new Gateway({ socketPath: null, configPath: null, log: () => undefined });
      t.gateways.push(other);
      await other.start();
      await g.close();  // its listeners' ports are the other's now
      assert.equal(await other.rpc('load_config', config as unknown as JsonObject), true);
      assert.deepEqual(await other.rpc('save_config'), config);
      await other.close();

      // A restart from the saved file serves the same, and the host connects over TLS again.
      const again = await gateway();
      assert.deepEqual(await again.rpc('save_config'), config);
      const c = await connect(port, { psk: key });
      await roundTrip(c, 8, 8);
      await c.close();
      await assert.rejects(connect(port), { code: 'ERR_NVME_CONNECT' });
      noSecretIn(t.logs.join('\n'));
    });

    it('keeps secure_channel NVMe/TCP\'s and one setting per listener', async () => {
      const g = await gateway();
      const port = await freePort();
      await g.rpc('keyring_file_add_key', { name: 'psk0', path: keyFile('psk0', tlsPsk(1)) });
      await exportSecure(g, port, { psk: 'psk0' });
      await rpcRejects(g.rpc('nvmf_subsystem_add_listener', { nqn: NQN, secure_channel: true,
        listen_address: { trtype: 'RDMA', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(port) } }), -32602, /secure_channel is NVMe\/TCP's/);
      await rpcRejects(g.rpc('nvmf_subsystem_add_listener', { nqn: NQN, secure_channel: 'yes', listen_address: address(port) }), -32602);
      // Another subsystem on the same address must ask for the same: the listener is one.
      const nqn2 = `${NQN}-2`;
      await g.rpc('nvmf_create_subsystem', { nqn: nqn2 });
      await rpcRejects(g.rpc('nvmf_subsystem_add_listener', { nqn: nqn2, listen_address: address(port) }), -17, /with a secure channel/);
      assert.equal(await g.rpc('nvmf_subsystem_add_listener', { nqn: nqn2, listen_address: address(port), secure_channel: true }), true);
    });

    it('keeps the host\'s psk through nvmf_subsystem_set_keys, with DH-HMAC-CHAP over TLS', async () => {
      const g = await gateway();
      const port = await freePort();
      const key = tlsPsk(1);
      const dh = dhchapSecret(1);
      await g.rpc('keyring_file_add_key', { name: 'psk0', path: keyFile('psk0', key) });
      await g.rpc('keyring_file_add_key', { name: 'dh0', path: keyFile('dh0', dh) });
      await exportSecure(g, port, { psk: 'psk0', dhchap_key: 'dh0' });
      const c = await connect(port, { psk: key, dhchapKey: dh });
      await roundTrip(c, 16, 8);
      await c.close();
      await assert.rejects(connect(port, { psk: key }), { code: 'ERR_NVME_CONNECT' });
      // Clearing the DH-HMAC-CHAP keys leaves the PSK: TLS still, authentication no more.
      assert.equal(await g.rpc('nvmf_subsystem_set_keys', { nqn: NQN, host: HOST }), true);
      const [s] = await g.rpc('nvmf_get_subsystems', { nqn: NQN }) as { hosts: JsonObject[] }[];
      assert.deepEqual(s!.hosts, [{ nqn: HOST, psk: 'psk0' }]);
      const d = await connect(port, { psk: key });
      await d.close();
      await assert.rejects(connect(port), { code: 'ERR_NVME_CONNECT' });
      assert.deepEqual((await g.rpc('keyring_get_keys') as JsonObject[]).map((k) => [k.name, k.refcnt]), [['psk0', 2], ['dh0', 1]]);
      // Removing the host drops its use of the key.
      await g.rpc('nvmf_subsystem_remove_host', { nqn: NQN, host: HOST });
      assert.deepEqual((await g.rpc('keyring_get_keys') as JsonObject[]).map((k) => [k.name, k.refcnt]), [['psk0', 1], ['dh0', 1]]);
      noSecretIn(t.logs.join('\n'), JSON.stringify(await g.rpc('save_config')));
    });
  });

  describe('bdev_nvme_attach_controller with psk', () => {
    /** A second Target: the backend, on a secure listener, for HOST with `key`. */
    function secureBackend(key: string): number {
      const backend = new Target({ reactors: 1 });
      t.targets.push(backend);
      backend.createBdev({ type: 'malloc', name: 'B0', sizeBytes: 4 << 20 });
      backend.addSubsystem({ nqn: BACKEND_NQN, allowAnyHost: false, hosts: [{ nqn: HOST, psk: key }] }).addNamespace({ bdev: 'B0' });
      return backend.listen({ transport: 'tcp', address: '127.0.0.1', port: 0, secureChannel: true }).port;
    }

    it('attaches a backend over TLS with the PSK it names, and serves it over TLS after a restart too', async () => {
      const key = tlsPsk(1);
      const backendPort = secureBackend(key);
      const g = await gateway();
      await g.rpc('keyring_file_add_key', { name: 'backend', path: keyFile('backend', key) });
      await g.rpc('keyring_file_add_key', { name: 'wrong', path: keyFile('wrong', tlsPsk(1)) });
      const attach = { trtype: 'tcp', traddr: '127.0.0.1', adrfam: 'IPv4', trsvcid: String(backendPort), subnqn: BACKEND_NQN, hostnqn: HOST,
        ctrlr_loss_timeout_sec: 0, reconnect_delay_sec: 0 };
      let e = await rpcRejects(g.rpc('bdev_nvme_attach_controller', { name: 'NoKey', ...attach }), -5);
      noSecretIn(e.message);
      e = await rpcRejects(g.rpc('bdev_nvme_attach_controller', { name: 'Wrong', ...attach, psk: 'wrong' }), -5);
      noSecretIn(e.message);
      assert.deepEqual(await g.rpc('bdev_nvme_attach_controller', { name: 'Nvme0', ...attach, psk: 'backend' }), ['Nvme0n1']);
      assert.deepEqual((await g.rpc('bdev_nvme_get_controllers') as { ctrlrs: { state: string }[] }[])[0]!.ctrlrs[0]!.state, 'enabled');

      // The backend's namespace exported on the gateway's own secure listener: TLS on both legs.
      const port = await freePort();
      const frontKey = tlsPsk(2);
      await g.rpc('keyring_file_add_key', { name: 'front', path: keyFile('front', frontKey) });
      await exportSecure(g, port, { psk: 'front' }, 'Nvme0n1');
      const c = await connect(port, { psk: frontKey });
      await roundTrip(c, 32, 64);
      await c.close();

      const config = await g.rpc('save_config') as SpdkConfig;
      const entry = config.subsystems.find((x) => x.subsystem === 'bdev')!.config.find((x) => x.method === 'bdev_nvme_attach_controller')!;
      assert.equal(entry.params.psk, 'backend');
      assert.deepEqual((await g.rpc('keyring_get_keys') as JsonObject[]).map((k) => [k.name, k.refcnt]),
        [['backend', 2], ['wrong', 1], ['front', 2]]);
      noSecretIn(JSON.stringify(config), readFileSync(join(t.dir, 'config.json'), 'utf8'), t.logs.join('\n'), renderMetrics(g.target));

      await g.close();
      const again = await gateway();
      assert.deepEqual(await again.rpc('save_config'), config);
      const d = await connect(port, { psk: frontKey });
      const r = pool.acquire();
      try {
        await d.queuePairs[0]!.read(1, 32n, 1, r);
        assert.equal(r[0], (0 * 7 + 32) & 0xff, 'the data written before the restart, read through the re-attached backend');
      } finally {
        r.release();
        await d.close();
      }
      await again.rpc('nvmf_delete_subsystem', { nqn: NQN });
      await again.rpc('bdev_nvme_detach_controller', { name: 'Nvme0' });
      assert.deepEqual((await again.rpc('keyring_get_keys') as JsonObject[]).map((k) => k.refcnt), [1, 1, 1]);
      noSecretIn(t.logs.join('\n'));
    });
  });
});
