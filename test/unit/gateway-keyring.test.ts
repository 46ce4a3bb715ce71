/**
 * The gateway's keyring (SPDK's keyring_file_*) and the RPCs that name its keys: hosts'
 * dhchap_key and dhchap_ctrlr_key, nvmf_subsystem_set_keys, nvmf_set_config and a backend's
 * keys. A key file must be its owner's alone; names are checked before anything changes;
 * save_config writes the keys (name and path) first and the hosts by key name, and no
 * secret reaches a result, an error, a log line, a metric or the saved file.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Target, nvmf, renderMetrics, type Gateway, type JsonObject, type SpdkConfig } from '../../lib';
import { Keyring } from '../../lib/gateway/keyring';
import { dhchapSecret } from '../support/dhchap-secret';
import { gatewayKeysFixture, rpcRejects } from '../support/gateway-keys';

const NQN = 'nqn.2026-11.io.rdmagate:keyring';
const HOST = 'nqn.2014-08.org.nvmexpress:uuid:6e7f8a9b-0c1d-4e2f-8a3b-4c5d6e7f8a9b';
const HOST2 = 'nqn.2014-08.org.nvmexpress:uuid:7f8a9b0c-1d2e-4f3a-9b4c-5d6e7f8a9b0c';
const BACKEND_NQN = 'nqn.2026-11.io.rdmagate:keyring-backend';

describe('gateway keyring and DH-HMAC-CHAP key names', function () {
  this.timeout(30000);
  const t = gatewayKeysFixture('rdmagate-keyring-');
  const { gateway, noSecretIn } = t;

  /** A key file holding `secret` (a new one by default), as nvme gen-dhchap-key's output is saved: with a newline. */
  const keyFile = (name: string, mode = 0o600, secret = dhchapSecret(1)): string => t.keyFile(name, secret, mode);

  describe('the keyring', () => {
    it('adds, lists and removes file keys, in SPDK\'s shape', async () => {
      const g = await gateway();
      const path = keyFile('key0');
      assert.equal(await g.rpc('keyring_file_add_key', { name: 'key0', path }), true);
      const listed = await g.rpc('keyring_get_keys');
      assert.deepEqual(listed, [{ name: 'key0', module: 'keyring_file', removed: false, probed: false, refcnt: 1, path }]);
      assert.equal(await g.rpc('keyring_file_remove_key', { name: 'key0' }), true);
      assert.deepEqual(await g.rpc('keyring_get_keys'), []);
      await rpcRejects(g.rpc('keyring_file_remove_key', { name: 'key0' }), -19, /no key 'key0'/);
      noSecretIn(JSON.stringify(listed), t.logs.join('\n'));
    });

    it('refuses a key file that its group or others may read (-EPERM), and says how to fix it', async () => {
      const g = await gateway();
      for (const mode of [0o644, 0o640, 0o604, 0o660]) {
        const path = keyFile(`open-${mode.toString(8)}`, mode);
        const e = await rpcRejects(g.rpc('keyring_file_add_key', { name: 'k', path }), -1, /chmod 0600/);
        assert.ok(e.message.includes(`mode 0${mode.toString(8)}`), e.message);
      }
      // The class beneath the RPC: the code says what it is.
      assert.throws(() => new Keyring().addFileKey('k', keyFile('open', 0o644)), { code: 'ERR_PERMISSION_DENIED' });
      assert.deepEqual(await g.rpc('keyring_get_keys'), []);
      noSecretIn(t.logs.join('\n'));
    });

    it('refuses a missing file, a relative path, a directory, an empty file and a name taken', async () => {
      const g = await gateway();
      await rpcRejects(g.rpc('keyring_file_add_key', { name: 'k', path: join(t.dir, 'none') }), -19, /no file/);
      assert.throws(() => new Keyring().addFileKey('k', join(t.dir, 'none')), { code: 'ERR_NOT_FOUND' });
      await rpcRejects(g.rpc('keyring_file_add_key', { name: 'k', path: 'relative/key' }), -32602, /absolute/);
      const sub = join(t.dir, 'sub');
      mkdirSync(sub, { mode: 0o700 });
      await rpcRejects(g.rpc('keyring_file_add_key', { name: 'k', path: sub }), -32602, /not a regular file/);
      const empty = join(t.dir, 'empty');
      writeFileSync(empty, '\n', { mode: 0o600 });
      chmodSync(empty, 0o600);
      await rpcRejects(g.rpc('keyring_file_add_key', { name: 'k', path: empty }), -32602, /empty/);
      await g.rpc('keyring_file_add_key', { name: 'k', path: keyFile('k') });
      await rpcRejects(g.rpc('keyring_file_add_key', { name: 'k', path: keyFile('k2') }), -17, /'k' already exists/);
      await rpcRejects(g.rpc('keyring_file_add_key', { name: 'k' }), -32602, /missing required param 'path'/);
    });

    it('removes a key in use as SPDK does: listed as removed while held, no longer nameable, the name free again', async () => {
      const g = await gateway();
      await g.rpc('keyring_file_add_key', { name: 'key0', path: keyFile('key0') });
      await g.rpc('nvmf_create_subsystem', { nqn: NQN });
      await g.rpc('nvmf_subsystem_add_host', { nqn: NQN, host: HOST, dhchap_key: 'key0' });
      assert.equal((await g.rpc('keyring_get_keys') as JsonObject[])[0]!.refcnt, 2, 'the keyring\'s own reference and the host\'s');
      await g.rpc('keyring_file_remove_key', { name: 'key0' });
      assert.deepEqual(await g.rpc('keyring_get_keys'), [{ name: 'key0', module: 'keyring_file', removed: true, probed: false, refcnt: 1 }]);
      await rpcRejects(g.rpc('nvmf_subsystem_add_host', { nqn: NQN, host: HOST2, dhchap_key: 'key0' }), -32602, /dhchap_key: no key 'key0'/);
      // A new key under the old name is another key; the removed one stays listed while the host holds it.
      const path = keyFile('key0-new');
      await g.rpc('keyring_file_add_key', { name: 'key0', path });
      assert.deepEqual(await g.rpc('keyring_get_keys'), [
        { name: 'key0', module: 'keyring_file', removed: false, probed: false, refcnt: 1, path },
        { name: 'key0', module: 'keyring_file', removed: true, probed: false, refcnt: 1 },
      ]);
      await g.rpc('nvmf_subsystem_remove_host', { nqn: NQN, host: HOST });
      assert.deepEqual(await g.rpc('keyring_get_keys'), [{ name: 'key0', module: 'keyring_file', removed: false, probed: false, refcnt: 1, path }]);
    });

    it('save_config writes the keys (name and path) first, the hosts by key name, and a restart serves the same', async () => {
      const g = await gateway();
      const key0 = keyFile('key0');
      const ckey0 = keyFile('ckey0', 0o400);
      await g.rpc('keyring_file_add_key', { name: 'key0', path: key0 });
      await g.rpc('keyring_file_add_key', { name: 'ckey0', path: ckey0 });
      await g.rpc('nvmf_create_subsystem', { nqn: NQN });
      await g.rpc('nvmf_subsystem_add_host', { nqn: NQN, host: HOST, dhchap_key: 'key0', dhchap_ctrlr_key: 'ckey0' });
      await g.rpc('nvmf_subsystem_add_host', { nqn: NQN, host: HOST2 });
      const config = await g.rpc('save_config') as SpdkConfig;
      assert.deepEqual(config.subsystems.map((s) => s.subsystem), ['keyring', 'bdev', 'nvmf']);
      assert.deepEqual(config.subsystems[0]!.config, [
        { method: 'keyring_file_add_key', params: { name: 'key0', path: key0 } },
        { method: 'keyring_file_add_key', params: { name: 'ckey0', path: ckey0 } },
      ]);
      const hosts = config.subsystems[2]!.config.filter((e) => e.method === 'nvmf_subsystem_add_host').map((e) => e.params);
      assert.deepEqual(hosts, [{ nqn: NQN, host: HOST, dhchap_key: 'key0', dhchap_ctrlr_key: 'ckey0' }, { nqn: NQN, host: HOST2 }]);
      const [s] = await g.rpc('nvmf_get_subsystems', { nqn: NQN }) as { hosts: JsonObject[] }[];
      assert.deepEqual(s!.hosts, [{ nqn: HOST, dhchap_key: 'key0', dhchap_ctrlr_key: 'ckey0' }, { nqn: HOST2 }]);
      const keys = await g.rpc('keyring_get_keys') as JsonObject[];
      assert.deepEqual(keys.map((k) => [k.name, k.refcnt]), [['key0', 2], ['ckey0', 2]]);
      const saved = readFileSync(join(t.dir, 'config.json'), 'utf8');
      noSecretIn(JSON.stringify(config), saved, JSON.stringify(s), JSON.stringify(keys), t.logs.join('\n'), renderMetrics(g.target));

      await g.close();
      const again = await gateway();
      assert.deepEqual(await again.rpc('save_config'), config);
      assert.deepEqual(await again.rpc('keyring_get_keys'), keys);
      noSecretIn(t.logs.join('\n'));
    });

    it('refuses unknown key names, a controller key alone and a DH-HMAC-CHAP secret named as a TLS PSK, changing nothing', async () => {
      const g = await gateway();
      await g.rpc('keyring_file_add_key', { name: 'key0', path: keyFile('key0') });
      await g.rpc('nvmf_create_subsystem', { nqn: NQN });
      await rpcRejects(g.rpc('nvmf_subsystem_add_host', { nqn: NQN, host: HOST, dhchap_key: 'nokey' }), -32602,
        /dhchap_key: no key 'nokey' in the keyring/);
      await rpcRejects(g.rpc('nvmf_subsystem_add_host', { nqn: NQN, host: HOST, dhchap_key: 'key0', dhchap_ctrlr_key: 'nockey' }), -32602,
        /dhchap_ctrlr_key: no key 'nockey'/);
      await rpcRejects(g.rpc('nvmf_subsystem_add_host', { nqn: NQN, host: HOST, dhchap_ctrlr_key: 'key0' }), -32602,
        /dhchap_ctrlr_key needs dhchap_key/);
      await rpcRejects(g.rpc('nvmf_subsystem_add_host', { nqn: NQN, host: HOST, psk: 'key0' }), -32602, /psk: key 'key0' .* holds a DH-HMAC-CHAP secret/);
      const [s] = await g.rpc('nvmf_get_subsystems', { nqn: NQN }) as { hosts: JsonObject[] }[];
      assert.deepEqual(s!.hosts, [], 'no host was added');

      await g.rpc('nvmf_subsystem_add_host', { nqn: NQN, host: HOST });
      await rpcRejects(g.rpc('nvmf_subsystem_set_keys', { nqn: NQN, host: HOST, dhchap_key: 'nokey' }), -32602, /no key 'nokey'/);
      await rpcRejects(g.rpc('nvmf_subsystem_set_keys', { nqn: NQN, host: HOST2, dhchap_key: 'key0' }), -19, /not on the host list/);
      await rpcRejects(g.rpc('nvmf_subsystem_set_keys', { nqn: 'nqn.2026-11.io.rdmagate:none', host: HOST }), -19);

      await rpcRejects(g.rpc('bdev_nvme_attach_controller', { name: 'Nvme0', trtype: 'tcp', traddr: '127.0.0.1', trsvcid: '1',
        subnqn: BACKEND_NQN, dhchap_key: 'nokey' }), -32602, /dhchap_key: no key 'nokey'/);
      await rpcRejects(g.rpc('bdev_nvme_attach_controller', { name: 'Nvme0', trtype: 'tcp', traddr: '127.0.0.1', trsvcid: '1',
        subnqn: BACKEND_NQN, psk: 'key0' }), -32602, /psk: key 'key0' .* holds a DH-HMAC-CHAP secret/);
      assert.deepEqual(await g.rpc('bdev_nvme_get_controllers'), []);

      await rpcRejects(g.rpc('nvmf_set_config', { dhchap_digests: ['md5'] }), -32602, /dhchap_digests\[0\] must be one of sha256, sha384, sha512/);
      await rpcRejects(g.rpc('nvmf_set_config', { dhchap_dhgroups: 'null' }), -32602, /dhchap_dhgroups must be an array/);
      await rpcRejects(g.rpc('nvmf_set_config', { admin_cmd_passthru: {} }), -32602, /unknown param 'admin_cmd_passthru'/);
    });
  });

  // These need the addon's DH-HMAC-CHAP (Target.setHostKeys, setDhchapConfig, authenticating connects).
  describe('DH-HMAC-CHAP through the gateway', () => {
    const PORT = 31000 + (process.pid % 1500);  // below Linux's ephemeral ports (32768 on)

    async function exportOne(g: Gateway, host: JsonObject): Promise<void> {
      await g.rpc('bdev_malloc_create', { name: 'M0', num_blocks: 2048, block_size: 512 });
      await g.rpc('nvmf_create_transport', { trtype: 'TCP' });
      await g.rpc('nvmf_create_subsystem', { nqn: NQN });
      await g.rpc('nvmf_subsystem_add_ns', { nqn: NQN, namespace: { bdev_name: 'M0' } });
      await g.rpc('nvmf_subsystem_add_listener', { nqn: NQN, listen_address: { trtype: 'TCP', traddr: '127.0.0.1', trsvcid: String(PORT) } });
      await g.rpc('nvmf_subsystem_add_host', { nqn: NQN, host: HOST, ...host });
    }

    const connect = (keys: nvmf.DhchapKeys) =>
      nvmf.connect({ traddr: '127.0.0.1', trsvcid: PORT, subnqn: NQN, hostnqn: HOST, ctrlLossTmo: 0, ...keys });

    it('a host with the key named by nvmf_subsystem_add_host connects; a wrong one is refused', async () => {
      const g = await gateway();
      const secret = dhchapSecret(2);
      await g.rpc('keyring_file_add_key', { name: 'key0', path: keyFile('key0', 0o600, secret) });
      await exportOne(g, { dhchap_key: 'key0' });
      const c = await connect({ dhchapKey: secret });
      await c.close();
      await assert.rejects(connect({ dhchapKey: dhchapSecret(2) }), { code: 'ERR_NVME_AUTH' });
      await assert.rejects(connect({}), { code: 'ERR_NVME_CONNECT' });
      noSecretIn(t.logs.join('\n'), renderMetrics(g.target));
    });

    it('nvmf_subsystem_set_keys rotates a host\'s keys, and clears them when it names none', async () => {
      const g = await gateway();
      const oldSecret = dhchapSecret(1);
      const newSecret = dhchapSecret(1);
      await g.rpc('keyring_file_add_key', { name: 'old', path: keyFile('old', 0o600, oldSecret) });
      await g.rpc('keyring_file_add_key', { name: 'new', path: keyFile('new', 0o600, newSecret) });
      await exportOne(g, { dhchap_key: 'old' });
      const c = await connect({ dhchapKey: oldSecret });
      assert.equal(await g.rpc('nvmf_subsystem_set_keys', { nqn: NQN, host: HOST, dhchap_key: 'new' }), true);
      await assert.rejects(connect({ dhchapKey: oldSecret }), { code: 'ERR_NVME_AUTH' });
      const d = await connect({ dhchapKey: newSecret });
      await d.close();
      assert.equal(c.state, 'live', 'the controller that had authenticated stays');
      await c.close();
      const [s] = await g.rpc('nvmf_get_subsystems', { nqn: NQN }) as { hosts: JsonObject[] }[];
      assert.deepEqual(s!.hosts, [{ nqn: HOST, dhchap_key: 'new' }]);
      assert.deepEqual((await g.rpc('keyring_get_keys') as JsonObject[]).map((k) => [k.name, k.refcnt]), [['old', 1], ['new', 2]]);
      await g.rpc('nvmf_subsystem_set_keys', { nqn: NQN, host: HOST });
      const e = await connect({});
      await e.close();
    });

    it('nvmf_set_config narrows the digests and DH groups, and save_config keeps them, first in the nvmf section', async () => {
      const g = await gateway();
      assert.equal(await g.rpc('nvmf_set_config', { dhchap_digests: ['SHA384'], dhchap_dhgroups: ['null', 'ffdhe3072'] }), true);
      const config = await g.rpc('save_config') as SpdkConfig;
      assert.deepEqual(config.subsystems.find((s) => s.subsystem === 'nvmf')!.config[0],
        { method: 'nvmf_set_config', params: { dhchap_digests: ['sha384'], dhchap_dhgroups: ['null', 'ffdhe3072'] } });
      await rpcRejects(g.rpc('nvmf_set_config', { dhchap_digests: [] }), -32602);
      await g.close();
      const again = await gateway();
      assert.deepEqual(await again.rpc('save_config'), config);
    });

    it('refuses a key file that holds no DH-HMAC-CHAP secret where it is used, naming the key, not its contents', async () => {
      const g = await gateway();
      const garbage = 'DHHC-1:01:bm90IGEga2V5IGF0IGFsbA==:';
      await g.rpc('keyring_file_add_key', { name: 'bad', path: keyFile('bad', 0o600, garbage) });
      await g.rpc('nvmf_create_subsystem', { nqn: NQN });
      const e = await rpcRejects(g.rpc('nvmf_subsystem_add_host', { nqn: NQN, host: HOST, dhchap_key: 'bad' }), -32602, /'bad'/);
      noSecretIn(e.message, t.logs.join('\n'));
    });

    it('bdev_nvme_attach_controller authenticates to a backend with the keys it names', async () => {
      const backend = new Target();
      try {
        const secret = dhchapSecret(3);
        const ctrlrSecret = dhchapSecret(3);
        backend.createBdev({ type: 'malloc', name: 'B0', sizeBytes: 1 << 20 });
        backend.addSubsystem({ nqn: BACKEND_NQN, allowAnyHost: false, hosts: [{ nqn: HOST, dhchapKey: secret, dhchapCtrlrKey: ctrlrSecret }] })
          .addNamespace({ bdev: 'B0' });
        const port = backend.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
        const g = await gateway();
        await g.rpc('keyring_file_add_key', { name: 'key0', path: keyFile('key0', 0o600, secret) });
        await g.rpc('keyring_file_add_key', { name: 'ckey0', path: keyFile('ckey0', 0o600, ctrlrSecret) });
        await g.rpc('keyring_file_add_key', { name: 'wrong', path: keyFile('wrong', 0o600, dhchapSecret(3)) });
        const attach = { trtype: 'tcp', traddr: '127.0.0.1', trsvcid: String(port), subnqn: BACKEND_NQN, hostnqn: HOST,
          ctrlr_loss_timeout_sec: 0, reconnect_delay_sec: 0 };
        await rpcRejects(g.rpc('bdev_nvme_attach_controller', { name: 'NoKey', ...attach }), -5);
        await rpcRejects(g.rpc('bdev_nvme_attach_controller', { name: 'Wrong', ...attach, dhchap_key: 'wrong' }), -13);
        assert.deepEqual(await g.rpc('bdev_nvme_attach_controller', { name: 'Nvme0', ...attach, dhchap_key: 'key0', dhchap_ctrlr_key: 'ckey0' }),
          ['Nvme0n1']);
        const config = await g.rpc('save_config') as SpdkConfig;
        const entry = config.subsystems.find((s) => s.subsystem === 'bdev')!.config.find((e) => e.method === 'bdev_nvme_attach_controller')!;
        assert.equal(entry.params.dhchap_key, 'key0');
        assert.equal(entry.params.dhchap_ctrlr_key, 'ckey0');
        assert.deepEqual((await g.rpc('keyring_get_keys') as JsonObject[]).map((k) => [k.name, k.refcnt]), [['key0', 2], ['ckey0', 2], ['wrong', 1]]);
        noSecretIn(JSON.stringify(config), readFileSync(join(t.dir, 'config.json'), 'utf8'), t.logs.join('\n'));
        // bdev_nvme_set_keys: the backend's keys rotate with no reconnect; a key the backend
        // does not hold is ERR_NVME_AUTH (-13).
        const rotated = dhchapSecret(2);
        await g.rpc('keyring_file_add_key', { name: 'key1', path: keyFile('key1', 0o600, rotated) });
        backend.subsystem(BACKEND_NQN)!.setHostKeys(HOST, { dhchapKey: rotated });
        const reconnects = backend.controllers().length;
        assert.equal(await g.rpc('bdev_nvme_set_keys', { name: 'Nvme0', dhchap_key: 'key1' }), true);
        assert.equal(backend.controllers().length, reconnects, 'the same association: no reconnect');
        assert.ok(backend.qpairs().every((q) => q.auth?.state === 'completed' && !q.auth.bidirectional));
        const saved = (await g.rpc('save_config') as SpdkConfig).subsystems.find((s) => s.subsystem === 'bdev')!.config
          .find((e) => e.method === 'bdev_nvme_attach_controller')!;
        assert.equal(saved.params.dhchap_key, 'key1');
        assert.equal(saved.params.dhchap_ctrlr_key, undefined);
        await rpcRejects(g.rpc('bdev_nvme_set_keys', { name: 'Nvme0', dhchap_key: 'wrong' }), -13);
        await rpcRejects(g.rpc('bdev_nvme_set_keys', { name: 'Nope', dhchap_key: 'key1' }), -19);
        await g.rpc('bdev_nvme_detach_controller', { name: 'Nvme0' });
        assert.deepEqual((await g.rpc('keyring_get_keys') as JsonObject[]).map((k) => k.refcnt), [1, 1, 1, 1]);
      } finally {
        for (const g of t.gateways.splice(0)) await g.close();
        backend.closeSync();
      }
    });
  });
});
