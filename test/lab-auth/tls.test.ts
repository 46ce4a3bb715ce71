/**
 * NVMe/TCP TLS 1.3 with Linux as the peer, both ways, keys made and put in the kernel's
 * .nvme keyring by nvme-cli, handshakes on Linux's side done by tlshd (ktls-utils):
 * - Linux's host to our target: `nvme connect --tls` with a version 0 identity, with
 *   `--tls-key` (nvme-cli then makes a version 1 identity), with a SHA-384 PSK; fio verify;
 *   our queues report the suite and kTLS (OpenSSL hands the record layer to the kernel here).
 * - our host to Linux's target (nvmet, addr_tsas tls1.3, treq required), identities 0 and 1,
 *   SHA-256 PSKs: tlshd binds every PSK with SHA-256, so a SHA-384 PSK offered with
 *   TLS_AES_256_GCM_SHA384, as NVMe/TCP says, is refused by it.
 * - refusals: plain NVMe/TCP to a secure channel, a wrong PSK, either way; the target goes on
 *   serving the right host.
 * Runs in the LAB_SUITE=trixie guest (kernel 6.12 with NVME_TCP_TLS, nvme-cli 2.13, tlshd).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { BufferPool, Target, nvmf } from '../../lib';
import { encodeTlsPsk } from '../../lib/nvmf';
import { disconnectAll, fio, namespaceDevice, pattern, run, same } from '../lab/helpers';
import { ramDisk, startKernelTarget, type KernelTarget } from '../lab/kernel-nvmet';

const NQN = 'nqn.2026-12.io.rdmagate:tls-kernel-host';
const KNQN = 'nqn.2026-12.io.rdmagate:tls-kernel-target';
const HOST = 'nqn.2014-08.org.nvmexpress:uuid:7e2f6a4b-0c1d-4d8f-9b52-3e2f8a4c0d12';
const PORT = 4420;
const KPORT = 4421;

/** A PSK as Linux's tools make it: `nvme gen-tls-key --hmac=N`. */
const genKey = (hmac: 1 | 2) => run('nvme', ['gen-tls-key', `--hmac=${hmac}`]).trim();

/** Puts the TLS PSK of `key` for host and subsystem in .nvme, as nvme-cli does for the kernel. */
function insertKey(key: string, subnqn: string, identity: 0 | 1): void {
  run('nvme', ['check-tls-key', '--keyring=.nvme', `--keydata=${key}`, '-n', HOST, '-c', subnqn, `--identity=${identity}`, '--insert']);
}

/** Unlinks every PSK from .nvme, so that each case offers only what it inserted. */
function dropKeys(): void {
  spawnSync('bash', ['-c', 'for k in $(keyctl rlist %:.nvme); do keyctl unlink $k %:.nvme; done'], { stdio: 'ignore' });
}

function connect(...extra: string[]) {
  const args = ['connect', '-t', 'tcp', '-a', '127.0.0.1', '-s', String(PORT), '-n', NQN, '--hostnqn', HOST, '-i', '2', ...extra];
  const r = spawnSync('nvme', args, { encoding: 'utf8', timeout: 120000 });
  return { status: r.status, stderr: `${r.stderr ?? ''}${r.error ? ` (${r.error.message})` : ''}` };
}

describe('NVMe/TCP TLS with Linux (lab, trixie: 6.12, nvme-cli 2.13, tlshd)', function () {
  this.timeout(600000);
  let tlshd: ChildProcess;
  let target: Target;
  const key = encodeTlsPsk(Buffer.alloc(32, 0x5a), 1);

  before(async () => {
    assert.ok(existsSync('/usr/sbin/tlshd'), 'tlshd (ktls-utils) is in the guest: run with LAB_SUITE=trixie');
    run('modprobe', ['-a', 'tls', 'nvme-tcp', 'nvmet-tcp']);
    tlshd = spawn('tlshd', ['-s'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(tlshd.exitCode, null, 'tlshd runs');
    target = new Target({ reactors: 2 });
    target.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: 64 << 20, blockSize: 512 });
    const s = target.addSubsystem({ nqn: NQN, allowAnyHost: false });
    s.addNamespace({ bdev: 'Malloc0', nsid: 1 });
    s.addHost({ nqn: HOST, psk: key });
    target.listen({ transport: 'tcp', address: '127.0.0.1', port: PORT, secureChannel: true });
  });

  afterEach(() => {
    disconnectAll(NQN);
    dropKeys();
  });
  after(() => {
    target?.closeSync();
    tlshd?.kill();
  });

  /** Connected with the PSK of `identity` in .nvme; fio verify; every queue TLS (and kTLS). */
  async function kernelHostMovesData(cipher: string, ...args: string[]): Promise<void> {
    const r = connect(...args);
    assert.equal(r.status, 0, r.stderr);
    const dev = await namespaceDevice(NQN);
    const qpairs = target.qpairs();
    assert.equal(qpairs.length, 3, 'admin queue and 2 I/O queues');
    for (const q of qpairs) assert.deepEqual(q.tls, { cipher, ktls: true }, `queue ${q.qid}`);
    const jobs = fio(['--name=tls', `--filename=${dev}`, '--ioengine=libaio', '--direct=1', '--rw=randwrite',
      '--bsrange=4k-128k', '--iodepth=8', '--size=8m', '--verify=crc32c', '--verify_fatal=1', '--do_verify=1']);
    assert.equal(jobs[0].error, 0);
    assert.ok(jobs[0].read.io_bytes > 0, 'the verify pass read the data back');
  }

  it('Linux host: nvme connect --tls with a version 0 identity (NVMe0R01), then fio verify', async () => {
    insertKey(key, NQN, 0);
    await kernelHostMovesData('TLS_AES_128_GCM_SHA256', '--tls');
  });

  it('Linux host: nvme connect --tls --tls-key (nvme-cli makes a version 1 identity)', async () => {
    await kernelHostMovesData('TLS_AES_128_GCM_SHA256', '--tls', `--tls-key=${key}`);
  });

  it('Linux host: a SHA-384 PSK (NVMe0R02), which tlshd binds with SHA-256 and serves with ChaCha20-Poly1305', async () => {
    const key384 = genKey(2);
    target.subsystem(NQN)!.addHost({ nqn: HOST, psk: key384 });
    try {
      insertKey(key384, NQN, 0);
      await kernelHostMovesData('TLS_CHACHA20_POLY1305_SHA256', '--tls');
    } finally {
      target.subsystem(NQN)!.addHost({ nqn: HOST, psk: key });
    }
  });

  it('refuses Linux without --tls, and with a wrong PSK; then serves the right one', async () => {
    assert.notEqual(connect().status, 0, 'plain NVMe/TCP to the secure channel is refused');
    insertKey(genKey(1), NQN, 0);
    assert.notEqual(connect('--tls').status, 0, 'a wrong PSK is refused');
    assert.equal(target.controllers().length, 0);
    dropKeys();
    insertKey(key, NQN, 0);
    assert.equal(connect('--tls').status, 0);
    await namespaceDevice(NQN);
  });

  describe('our host against Linux\'s target (nvmet, tls1.3 required)', () => {
    let kernel: KernelTarget;
    const pool = new BufferPool({ chunkSize: 128 * 1024 });

    before(() => {
      kernel = startKernelTarget({ nqn: KNQN, device: ramDisk(), port: KPORT, portId: 7, hosts: [{ nqn: HOST }], tls: true });
    });
    after(() => kernel?.close());

    for (const identity of [0, 1] as const) {
      it(`connects with a version ${identity} identity and reads back what it wrote (4 KiB and 128 KiB)`, async () => {
        insertKey(key, KNQN, identity);
        const c = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: KPORT, subnqn: KNQN, hostnqn: HOST, psk: key,
          tlsIdentityVersion: identity, nrIoQueues: 2, ctrlLossTmo: 0 });
        const w = pool.acquire();
        const r = pool.acquire();
        try {
          for (const blocks of [8, 256]) {
            pattern(w, blocks * 512, blocks + identity);
            await c.queuePairs[1]!.write(1, 2048n, blocks, w);
            r.fill(0);
            await c.queuePairs[0]!.read(1, 2048n, blocks, r);
            assert.ok(same(w, r, blocks * 512), `${blocks} blocks read back`);
          }
        } finally {
          w.release();
          r.release();
          await c.close();
        }
      });
    }

    it('is refused with a PSK nvmet does not have, and without TLS', async () => {
      insertKey(key, KNQN, 0);
      await assert.rejects(nvmf.connect({ traddr: '127.0.0.1', trsvcid: KPORT, subnqn: KNQN, hostnqn: HOST, psk: genKey(1),
        ctrlLossTmo: 0, timeoutMs: 20000 }), { code: 'ERR_NVME_CONNECT' });
      await assert.rejects(nvmf.connect({ traddr: '127.0.0.1', trsvcid: KPORT, subnqn: KNQN, hostnqn: HOST,
        ctrlLossTmo: 0, timeoutMs: 20000 }), { code: 'ERR_NVME_CONNECT' });
    });
  });
});
