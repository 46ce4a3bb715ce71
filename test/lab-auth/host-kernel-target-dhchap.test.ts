/**
 * DH-HMAC-CHAP with Linux as the controller: our host connects to nvmet whose configfs
 * host entry has dhchap_key (and dhchap_ctrl_key), over NVMe/TCP and NVMe/RDMA
 * (Soft-RoCE), on the admin and every I/O queue, and moves data both ways. A wrong key,
 * no key and a wrong controller key fail with the codes the API promises.
 * Runs in the lab guest on a kernel with NVME_TARGET_AUTH (LAB_SUITE=trixie: 6.12).
 */
import assert from 'node:assert/strict';
import { BufferPool, connect, type IoBuffer } from '../../lib';
import { pattern, run, same } from '../lab/helpers';
import { ramDisk, startKernelTarget, type KernelTarget } from '../lab/kernel-nvmet';

const HOST = 'nqn.2014-08.org.nvmexpress:uuid:1f0e7c6b-5a49-4837-a2b1-c0d9e8f7a603';
const RDMA_ADDRESS = '192.168.77.1';  // rxe0 (scripts/lab-rdma-env.sh)

const genKey = (hmac: number, nqn: string) => run('nvme', ['gen-dhchap-key', `--hmac=${hmac}`, `--nqn=${nqn}`]).trim();

const cases = [
  { transport: 'tcp', address: '127.0.0.1', hash: 'hmac(sha256)', dhgroup: 'ffdhe2048', hmac: 1 },
  { transport: 'rdma', address: RDMA_ADDRESS, hash: 'hmac(sha512)', dhgroup: 'ffdhe4096', hmac: 3 },
] as const;

for (const k of cases) {
  describe(`our host authenticates to the Linux kernel target over ${k.transport} (lab, 6.12)`, function () {
    this.timeout(300000);
    const nqn = `nqn.2026-12.io.rdmagate:dhchap-nvmet-${k.transport}`;
    const port = k.transport === 'tcp' ? 4430 : 4431;
    let target: KernelTarget;
    let hostKey: string;
    let ctrlKey: string;
    let pool: BufferPool;
    let src: IoBuffer;
    let dst: IoBuffer;
    const options = () => ({ transport: k.transport, traddr: k.address, trsvcid: port, subnqn: nqn, hostnqn: HOST, nrIoQueues: 2, ctrlLossTmo: 0 });

    before(() => {
      hostKey = genKey(k.hmac, HOST);
      ctrlKey = genKey(k.hmac, nqn);
      target = startKernelTarget({
        nqn, device: ramDisk(64), address: k.address, port, portId: port, trtype: k.transport,
        hosts: [{ nqn: HOST, dhchapKey: hostKey, dhchapCtrlKey: ctrlKey, hash: k.hash, dhgroup: k.dhgroup }],
      });
      pool = new BufferPool({ chunkSize: 128 * 1024, capacity: 8 << 20 });
      src = pool.acquire();
      dst = pool.acquire();
    });

    after(() => {
      src?.release();
      dst?.release();
      pool?.close();
      target?.close();
    });

    for (const twoWay of [false, true]) {
      it(`${twoWay ? 'two-way' : 'one-way'}: connects, ${k.hash} ${k.dhgroup}, writes on one queue and reads back on the other`, async () => {
        const c = await connect({ ...options(), dhchapKey: hostKey, ...(twoWay ? { dhchapCtrlrKey: ctrlKey } : {}) });
        try {
          assert.equal(c.queuePairs.length, 2, 'both I/O queues authenticated');
          for (const [i, bytes] of [4096, 65536, 131072].entries()) {
            pattern(src, bytes, bytes + (twoWay ? 1 : 0));
            dst.fill(0);
            await c.queuePairs[0].write(1, i * 256, bytes / 512, src);
            await c.queuePairs[1].read(1, i * 256, bytes / 512, dst);
            assert.ok(same(src, dst, bytes), `${bytes} bytes read back`);
          }
        } finally {
          await c.close();
        }
      });
    }

    it('a wrong key fails with ERR_NVME_AUTH, no key with ERR_NVME_CONNECT, a wrong controller key with ERR_NVME_AUTH', async () => {
      await assert.rejects(connect({ ...options(), dhchapKey: genKey(k.hmac, HOST) }), (e: Error & { code?: string }) => {
        // nvmet answers Failure1 and drops the connection: whichever we see first, it is ERR_NVME_AUTH.
        assert.equal(e.code, 'ERR_NVME_AUTH', e.message);
        return true;
      });
      await assert.rejects(connect(options()), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'ERR_NVME_CONNECT');
        assert.match(e.message, /requires DH-HMAC-CHAP/);
        return true;
      });
      await assert.rejects(connect({ ...options(), dhchapKey: hostKey, dhchapCtrlrKey: genKey(k.hmac, nqn) }), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'ERR_NVME_AUTH');
        assert.match(e.message, /did not verify/);
        return true;
      });
      // And the right key still works: nothing was left behind.
      const c = await connect({ ...options(), dhchapKey: hostKey });
      await c.close();
    });
  });
}
