/**
 * DH-HMAC-CHAP (NVMe in-band authentication) end to end over NVMe/TCP: our host against our
 * target, in this process. A host with the right secret connects and moves data; a wrong
 * secret, no secret, or a controller whose own secret differs from the host's expectation
 * are refused with their codes; keys rotate without dropping the queues that have
 * authenticated; the target's digests and DH groups can be narrowed. No message holds a
 * secret.
 */
import assert from 'node:assert/strict';
import { BufferPool, Target, nvmf, type RdmagateError } from '../../lib';
import type { SubsystemHost } from '../../lib/nvmf/target';
import { dhchapSecret, secretBody, type DhchapHash } from '../support/dhchap-secret';

const NQN = 'nqn.2026-11.io.rdmagate:dhchap';
const HOST = 'nqn.2014-08.org.nvmexpress:uuid:5d0c8a4e-2b1f-4c3d-9e8f-0a1b2c3d4e5f';

describe('DH-HMAC-CHAP: our host against our target (TCP)', function () {
  this.timeout(30000);
  let target: Target;
  let port: number;
  const pool = new BufferPool({ chunkSize: 4096 });

  beforeEach(() => {
    target = new Target({ reactors: 1 });
    target.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: 1 << 20 });
    port = target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
  });

  afterEach(() => {
    target.closeSync();
  });

  /** The subsystem, open to `host` only, with its keys. */
  function subsystem(host: SubsystemHost): void {
    target.addSubsystem({ nqn: NQN, allowAnyHost: false, hosts: [host] }).addNamespace({ bdev: 'Malloc0', nsid: 1 });
  }

  const connect = (keys: nvmf.DhchapKeys) =>
    nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, hostnqn: HOST, ctrlLossTmo: 0, ...keys });

  /** Writes a block and reads it back through the controller's first I/O queue. */
  async function roundTrip(c: nvmf.Controller, seed: number): Promise<void> {
    const w = pool.acquire();
    const r = pool.acquire();
    try {
      for (let i = 0; i < 4096; i++) w[i] = (i * 31 + seed) & 0xff;
      await c.queuePairs[0]!.write(1, seed, 8, w);
      r.fill(0);
      await c.queuePairs[0]!.read(1, seed, 8, r);
      assert.ok(Buffer.from(r.buffer, r.byteOffset, 4096).equals(Buffer.from(w.buffer, w.byteOffset, 4096)));
    } finally {
      w.release();
      r.release();
    }
  }

  /** `p` rejects with `code`, and no secret of `secrets` is in its message. */
  async function refused(p: Promise<unknown>, code: string, secrets: string[], message?: RegExp): Promise<void> {
    await assert.rejects(p, (e: RdmagateError) => {
      assert.equal(e.code, code, e.message);
      if (message) assert.match(e.message, message);
      for (const s of secrets) assert.ok(!e.message.includes(secretBody(s)), 'the message holds no secret');
      return true;
    });
  }

  for (const hash of [0, 1, 2, 3] as DhchapHash[]) {
    it(`connects with a secret of hash 0${hash} and reads back what it wrote`, async () => {
      const key = dhchapSecret(hash);
      subsystem({ nqn: HOST, dhchapKey: key });
      const c = await connect({ dhchapKey: key });
      try {
        await roundTrip(c, hash);
      } finally {
        await c.close();
      }
    });
  }

  it('refuses a host with the wrong secret: ERR_NVME_AUTH', async () => {
    const key = dhchapSecret(1);
    const wrong = dhchapSecret(1);
    subsystem({ nqn: HOST, dhchapKey: key });
    await refused(connect({ dhchapKey: wrong }), 'ERR_NVME_AUTH', [key, wrong]);
  });

  it('refuses a host with no secret where one is required: ERR_NVME_CONNECT, saying so', async () => {
    const key = dhchapSecret(1);
    subsystem({ nqn: HOST, dhchapKey: key });
    await refused(connect({}), 'ERR_NVME_CONNECT', [key], /authenticat/i);
  });

  it('authenticates both ways with a controller secret on both sides', async () => {
    const key = dhchapSecret(2);
    const ctrlrKey = dhchapSecret(3);
    subsystem({ nqn: HOST, dhchapKey: key, dhchapCtrlrKey: ctrlrKey });
    const c = await connect({ dhchapKey: key, dhchapCtrlrKey: ctrlrKey });
    try {
      await roundTrip(c, 7);
    } finally {
      await c.close();
    }
  });

  it('refuses a controller whose response does not verify against the host\'s controller secret: ERR_NVME_AUTH', async () => {
    const key = dhchapSecret(1);
    const ctrlrKey = dhchapSecret(1);
    const otherCtrlrKey = dhchapSecret(1);
    subsystem({ nqn: HOST, dhchapKey: key, dhchapCtrlrKey: ctrlrKey });
    await refused(connect({ dhchapKey: key, dhchapCtrlrKey: otherCtrlrKey }), 'ERR_NVME_AUTH', [key, ctrlrKey, otherCtrlrKey]);
  });

  it('rotates a host\'s keys: the connected controller stays, new connects need the new key', async () => {
    const oldKey = dhchapSecret(1);
    const newKey = dhchapSecret(1);
    subsystem({ nqn: HOST, dhchapKey: oldKey });
    const c = await connect({ dhchapKey: oldKey });
    try {
      target.subsystem(NQN)!.setHostKeys(HOST, { dhchapKey: newKey });
      await roundTrip(c, 1);
      await refused(connect({ dhchapKey: oldKey }), 'ERR_NVME_AUTH', [oldKey, newKey]);
      const d = await connect({ dhchapKey: newKey });
      await d.close();
      // No keys: the host connects without authenticating again.
      target.subsystem(NQN)!.setHostKeys(HOST, {});
      const e = await connect({});
      await e.close();
    } finally {
      await c.close();
    }
  });

  it('re-authenticates every queue on request with new keys, I/O going on (SPDK\'s bdev_nvme_set_keys)', async () => {
    const first = dhchapSecret(1);
    subsystem({ nqn: HOST, dhchapKey: first });
    const c = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, hostnqn: HOST, ctrlLossTmo: 0,
      nrIoQueues: 2, dhchapKey: first });
    try {
      const second = dhchapSecret(2);
      const ctrlr = dhchapSecret(3);
      target.subsystem(NQN)!.setHostKeys(HOST, { dhchapKey: second, dhchapCtrlrKey: ctrlr });
      const io = roundTrip(c, 1);
      await c.authenticate({ dhchapKey: second, dhchapCtrlrKey: ctrlr });
      await io;
      const queues = target.qpairs();
      assert.equal(queues.length, 3);
      for (const q of queues) assert.deepEqual(q.auth, { state: 'completed', digest: 'sha512', dhgroup: 'ffdhe8192', bidirectional: true });
      await roundTrip(c, 2);
      // A key the target does not hold: ERR_NVME_AUTH, and no secret in the message.
      const wrong = dhchapSecret(1);
      await refused(c.authenticate({ dhchapKey: wrong }), 'ERR_NVME_AUTH', [wrong, second, ctrlr], /re-authentication failed: .*DH-HMAC-CHAP/);
    } finally {
      await c.close();
    }
  });

  it('refuses to set the keys of a host that is not on the subsystem: ERR_NOT_FOUND', () => {
    subsystem({ nqn: HOST, dhchapKey: dhchapSecret(0) });
    assert.throws(() => target.subsystem(NQN)!.setHostKeys('nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000000',
      { dhchapKey: dhchapSecret(0) }), { code: 'ERR_NOT_FOUND' });
  });

  it('authenticates within the digests and DH groups the target allows, and refuses unknown or no names', async () => {
    assert.deepEqual(target.dhchapConfig(), { digests: [...nvmf.DHCHAP_DEFAULT_DIGESTS], dhgroups: [...nvmf.DHCHAP_DEFAULT_DHGROUPS] });
    target.setDhchapConfig({ digests: ['sha384'] });
    assert.deepEqual(target.dhchapConfig(), { digests: ['sha384'], dhgroups: [...nvmf.DHCHAP_DEFAULT_DHGROUPS] }, 'one list left out stays');
    target.setDhchapConfig({ digests: ['sha512'], dhgroups: ['ffdhe2048'] });
    assert.deepEqual(target.dhchapConfig(), { digests: ['sha512'], dhgroups: ['ffdhe2048'] });
    const key = dhchapSecret(0);
    subsystem({ nqn: HOST, dhchapKey: key });
    const c = await connect({ dhchapKey: key });
    await c.close();
    assert.throws(() => target.setDhchapConfig({ digests: ['md5' as nvmf.DhchapDigest] }), { code: 'ERR_INVALID_ARG' });
    assert.throws(() => target.setDhchapConfig({ dhgroups: [] }), { code: 'ERR_INVALID_ARG' });
    assert.deepEqual(target.dhchapConfig(), { digests: ['sha512'], dhgroups: ['ffdhe2048'] }, 'a refused change changes nothing');
  });

  it('refuses a malformed secret on either side with ERR_INVALID_KEY, without repeating it', async () => {
    const bad = 'DHHC-1:01:bm90IGEga2V5IGF0IGFsbA==:';
    assert.throws(() => target.addSubsystem({ nqn: NQN, allowAnyHost: false, hosts: [{ nqn: HOST, dhchapKey: bad }] }),
      (e: RdmagateError) => e.code === 'ERR_INVALID_KEY' && !e.message.includes(secretBody(bad)));
    assert.equal(target.subsystem(NQN), undefined, 'the subsystem is not left half made');
    subsystem({ nqn: HOST, dhchapKey: dhchapSecret(1) });
    await refused(connect({ dhchapKey: bad }), 'ERR_INVALID_KEY', [bad]);
  });

  it('refuses a controller secret without a host secret, on either side: ERR_INVALID_ARG', async () => {
    const ctrlrKey = dhchapSecret(1);
    assert.throws(() => target.addSubsystem({ nqn: NQN, hosts: [{ nqn: HOST, dhchapCtrlrKey: ctrlrKey }] }),
      { code: 'ERR_INVALID_ARG', message: /dhchapCtrlrKey needs .*dhchapKey/ });
    await assert.rejects(nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN, dhchapCtrlrKey: ctrlrKey }),
      { code: 'ERR_INVALID_ARG', message: /dhchapCtrlrKey needs dhchapKey/ });
  });
});
