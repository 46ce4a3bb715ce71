/**
 * NVMe/TCP TLS 1.3 with a PSK end to end: our host against our target, in this process. A
 * host with the subsystem's PSK for it connects through a secure-channel listener and moves
 * data (small and large, so records split and join); a wrong PSK, no TLS, TLS to a plain
 * listener, and a PSK for another host are refused; the listener and the discovery log say
 * that TLS is required. No message holds a key.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { BufferPool, Target, nvmf, type RdmagateError } from '../../lib';
import { encodeTlsPsk, type TlsPskHash } from '../../lib/nvmf';
import { WireClient } from '../support/nvme-tcp-wire';
import { tlsPskV0 } from '../support/tls-psk';

const NQN = 'nqn.2026-12.io.rdmagate:tls';
const HOST = 'nqn.2014-08.org.nvmexpress:uuid:0b6e8f5a-51c2-4d7e-8a3b-9c1d2e3f4a5b';
const OTHER = 'nqn.2014-08.org.nvmexpress:uuid:1c7f906b-62d3-4e8f-9b4c-ad2e3f4a5b6c';

const psk = (hash: TlsPskHash, bytes = hash === 2 ? 48 : 32) => encodeTlsPsk(randomBytes(bytes), hash);
const body = (key: string) => key.split(':')[2]!;

describe('NVMe/TCP TLS: our host against our target', function () {
  this.timeout(30000);
  let target: Target;
  let secure: number;
  let plain: number;
  const pool = new BufferPool({ chunkSize: 128 * 1024 });

  beforeEach(() => {
    target = new Target({ reactors: 1 });
    target.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: 4 << 20 });
    secure = target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0, secureChannel: true }).port;
    plain = target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
  });

  afterEach(() => target.closeSync());

  function subsystem(hosts: { nqn: string; psk?: string }[]): void {
    target.addSubsystem({ nqn: NQN, allowAnyHost: false, hosts }).addNamespace({ bdev: 'Malloc0', nsid: 1 });
  }

  const connect = (o: Partial<nvmf.ConnectOptions>) =>
    nvmf.connect({ traddr: '127.0.0.1', trsvcid: secure, subnqn: NQN, hostnqn: HOST, ctrlLossTmo: 0, timeoutMs: 5000, ...o });

  /** Writes `blocks` 512-byte blocks and reads them back through the first I/O queue. */
  async function roundTrip(c: nvmf.Controller, seed: number, blocks: number): Promise<void> {
    const w = pool.acquire();
    const r = pool.acquire();
    const len = blocks * 512;
    try {
      for (let i = 0; i < len; i++) w[i] = (i * 31 + seed) & 0xff;
      await c.queuePairs[0]!.write(1, BigInt(seed), blocks, w);
      r.fill(0);
      await c.queuePairs[0]!.read(1, BigInt(seed), blocks, r);
      assert.ok(Buffer.from(r.buffer, r.byteOffset, len).equals(Buffer.from(w.buffer, w.byteOffset, len)));
    } finally {
      w.release();
      r.release();
    }
  }

  async function refused(p: Promise<unknown>, code: string, keys: string[], message?: RegExp): Promise<void> {
    await assert.rejects(p, (e: RdmagateError) => {
      assert.equal(e.code, code, e.message);
      if (message) assert.match(e.message, message);
      for (const k of keys) assert.ok(!e.message.includes(body(k)), 'the message holds no key');
      return true;
    });
  }

  for (const [hash, bytes] of [[1, 32], [2, 48], [0, 32], [0, 48]] as [TlsPskHash, number][]) {
    it(`connects with a ${bytes}-byte PSK of hash 0${hash} and moves 4 KiB and 128 KiB`, async () => {
      const key = psk(hash, bytes);
      subsystem([{ nqn: HOST, psk: key }]);
      const c = await connect({ psk: key, nrIoQueues: 2 });
      try {
        await roundTrip(c, 8, 8);
        await roundTrip(c, 64, 256);
        // Every queue over TLS, in user space here or in the kernel (kTLS) where it has it.
        const suite = hash === 2 || bytes === 48 ? 'TLS_AES_256_GCM_SHA384' : 'TLS_AES_128_GCM_SHA256';
        for (const q of target.qpairs()) assert.equal(q.tls?.cipher, suite);
      } finally {
        await c.close();
      }
    });
  }

  it('connects with a version 1 identity (with the digest of the key)', async () => {
    const key = psk(1);
    subsystem([{ nqn: HOST, psk: key }]);
    const c = await connect({ psk: key, tlsIdentityVersion: 1 });
    try {
      await roundTrip(c, 3, 8);
    } finally {
      await c.close();
    }
  });

  it('refuses a wrong PSK, no TLS, and TLS to a plain listener: ERR_NVME_CONNECT', async () => {
    const key = psk(1);
    const wrong = psk(1);
    subsystem([{ nqn: HOST, psk: key }]);
    await refused(connect({ psk: wrong }), 'ERR_NVME_CONNECT', [key, wrong], /TLS/);
    await refused(connect({}), 'ERR_NVME_CONNECT', [key]);
    await refused(connect({ psk: key, trsvcid: plain }), 'ERR_NVME_CONNECT', [key]);
    // The listener goes on serving the host that has the key.
    const c = await connect({ psk: key });
    await c.close();
  });

  it('refuses a host whose PSK is another host\'s, and a host with no PSK', async () => {
    const key = psk(1);
    subsystem([{ nqn: HOST, psk: key }, { nqn: OTHER }]);
    await refused(connect({ psk: key, hostnqn: OTHER }), 'ERR_NVME_CONNECT', [key]);
  });

  it('refuses a Connect whose host or subsystem is not the TLS PSK identity\'s: Connect Invalid Host', async () => {
    const key = psk(1);
    subsystem([{ nqn: HOST, psk: key }, { nqn: OTHER }]);
    const { identity, psk: tlsPsk } = tlsPskV0(key, HOST, NQN);
    const ok = await WireClient.openTls(secure, identity, tlsPsk);
    assert.equal((await ok.connectQueue({ subnqn: NQN, hostnqn: HOST })).sc, 0, 'the identity\'s own host connects');
    ok.socket.destroy();
    const other = await WireClient.openTls(secure, identity, tlsPsk);
    const rsp = await other.connectQueue({ subnqn: NQN, hostnqn: OTHER });
    assert.deepEqual([rsp.sct, rsp.sc], [1, 0x84]);
    other.socket.destroy();
  });

  it('refuses a ClientHello without a PSK, and one whose identity is no NVMe identity', async () => {
    const key = psk(1);
    subsystem([{ nqn: HOST, psk: key }]);
    const noPsk = tlsConnect({ port: secure, host: '127.0.0.1', minVersion: 'TLSv1.3', rejectUnauthorized: false });
    await assert.rejects(new Promise((resolve, reject) => { noPsk.once('secureConnect', resolve); noPsk.once('error', reject); }));
    noPsk.destroy();
    const { psk: tlsPsk } = tlsPskV0(key, HOST, NQN);
    await assert.rejects(WireClient.openTls(secure, `client ${HOST}`, tlsPsk));
    const c = await connect({ psk: key });
    await c.close();
  });

  it('says so in the listener and the discovery log (TREQ required, SECTYPE TLS 1.3)', async () => {
    subsystem([{ nqn: HOST, psk: psk(1) }]);
    const l = target.listeners().find((x) => x.trsvcid === secure)!;
    assert.equal(l.secureChannel, true);
    assert.equal(target.listeners().find((x) => x.trsvcid === plain)!.secureChannel, false);
    const log = await nvmf.discover({ traddr: '127.0.0.1', trsvcid: plain, hostnqn: HOST });
    const entry = log.find((e) => Number(e.trsvcid) === secure && e.subnqn === NQN)!;
    assert.ok(entry, 'the secure listener is in the log');
    assert.equal(entry.treq & 3, 1, 'TREQ: secure channel required');
    assert.equal(entry.sectype, 2, 'SECTYPE: TLS 1.3');
    const open = log.find((e) => Number(e.trsvcid) === plain && e.subnqn === NQN)!;
    assert.equal(open.treq & 3, 0);
    assert.equal(open.sectype, 0);
  });

  it('serves discovery over TLS with the host\'s PSK (nvme discover --tls)', async () => {
    const key = psk(1);
    subsystem([{ nqn: HOST, psk: key }]);
    const log = await nvmf.discover({ traddr: '127.0.0.1', trsvcid: secure, hostnqn: HOST, psk: key });
    assert.ok(log.some((e) => e.subnqn === NQN && Number(e.trsvcid) === secure));
    await refused(nvmf.discover({ traddr: '127.0.0.1', trsvcid: secure, hostnqn: HOST }), 'ERR_NVME_CONNECT', [key]);
    await refused(nvmf.discover({ traddr: '127.0.0.1', trsvcid: secure, hostnqn: OTHER, psk: key }), 'ERR_NVME_CONNECT', [key]);
  });

  it('checks PSKs and where a secure channel may be', async () => {
    target.addSubsystem({ nqn: NQN, allowAnyHost: false });
    const s = target.subsystem(NQN)!;
    // The key's last character changed (to 'x', or to 'y' where it was 'x': a random key may end in 'x').
    const bad = psk(1).replace(/(.):$/, (_, last: string) => `${last === 'x' ? 'y' : 'x'}:`);
    assert.throws(() => s.addHost({ nqn: HOST, psk: bad }), (e: RdmagateError) => e.code === 'ERR_INVALID_KEY' && !e.message.includes(body(bad)));
    assert.throws(() => s.addHost({ nqn: HOST, psk: encodeTlsPsk(randomBytes(48), 1) }), { code: 'ERR_INVALID_KEY' });
    assert.throws(() => target.listen({ transport: 'rdma', address: '127.0.0.1', port: 0, secureChannel: true }),
      (e: RdmagateError) => e.code === 'ERR_INVALID_ARG' || e.code === 'ERR_RDMA_UNAVAILABLE');
    await assert.rejects(nvmf.connect({ transport: 'rdma', traddr: '127.0.0.1', subnqn: NQN, psk: psk(1) }), { code: 'ERR_INVALID_ARG' });
    assert.throws(() => s.addListener({ address: '127.0.0.1', port: secure }), { code: 'ERR_ALREADY_EXISTS' });
  });
});
