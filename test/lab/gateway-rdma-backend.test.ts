import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufferPool, Gateway, nvmf, rdma } from '../../lib';
import { disconnectAll, fio, fioAcrossControllerLoss, fioAcrossRestart, inLab, namespaceDevice, run, sleep, untilQpairs } from './helpers';
import { ramDisk, startKernelTarget, type KernelTarget } from './kernel-nvmet';

const BACKEND_NQN = 'nqn.2026-11.io.rdmagate:lab-rdma-backend';
const FRONT_NQN = 'nqn.2026-11.io.rdmagate:lab-rdma-backend-export';
const WARM_NQN = 'nqn.2026-11.io.rdmagate:lab-rdma-backend-warm';
const RDMA_ADDR = '192.168.77.1';
const BACKEND_PORT = 4460;
const FRONT_PORT = 4461;
const BACKEND_PORT2 = 4462;

interface NvmeController { name: string; ctrlrs: { state: string; trid: { trtype: string; traddr: string; trsvcid: string } }[] }

describe('the gateway with an NVMe/RDMA backend: kernel nvmet-rdma behind it, the kernel nvme-tcp host in front (lab)', function () {
  this.timeout(600000);
  let backend: KernelTarget;
  let gateway: Gateway;
  let dir: string;
  const controllers = async () => await gateway.rpc('bdev_nvme_get_controllers', {}) as unknown as NvmeController[];
  let mrsAttached = 0;

  before(async function () {
    if (!inLab() || rdma.devices().length === 0) this.skip();
    // nvmet offers the subsystem on this RDMA port only: an attach that works went over RDMA.
    backend = startKernelTarget({ nqn: BACKEND_NQN, device: ramDisk(64), trtype: 'rdma', address: RDMA_ADDR,
      port: BACKEND_PORT, portId: 6 });
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-lab-rdma-backend-'));
    gateway = new Gateway({ socketPath: null, configPath: join(dir, 'config.json'), log: () => undefined });
    await gateway.start();
  });

  after(async () => {
    if (!gateway) return;
    disconnectAll(FRONT_NQN);
    await gateway.close();
    backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('attaches nvmet over NVMe/RDMA by JSON-RPC (bdev_nvme_attach_controller -t rdma) and exports it over TCP', async () => {
    // The gateway serves I/O before the backend comes, so its request pool holds memory
    // that the attach must register with the backend's device.
    await gateway.rpc('nvmf_create_transport', { trtype: 'TCP' });
    await gateway.rpc('bdev_malloc_create', { name: 'Warm0', num_blocks: 2048, block_size: 512 });
    await gateway.rpc('nvmf_create_subsystem', { nqn: WARM_NQN, allow_any_host: true });
    await gateway.rpc('nvmf_subsystem_add_ns', { nqn: WARM_NQN, namespace: { bdev_name: 'Warm0' } });
    await gateway.rpc('nvmf_subsystem_add_listener', { nqn: WARM_NQN,
      listen_address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(FRONT_PORT) } });
    const pool = new BufferPool({ chunkSize: 4096 });
    const b = pool.acquire();
    const warm = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: FRONT_PORT, subnqn: WARM_NQN });
    await warm.queuePairs[0].write(1, 0, 8, b);
    await warm.close();
    b.release();
    pool.close();
    await untilQpairs(gateway.target, 0);  // the warm-up's queues hold Warm0 until they are gone
    await gateway.rpc('nvmf_delete_subsystem', { nqn: WARM_NQN });
    await gateway.rpc('bdev_malloc_delete', { name: 'Warm0' });

    assert.deepEqual(await gateway.rpc('bdev_nvme_attach_controller', { name: 'Nvme0', trtype: 'RDMA', adrfam: 'IPv4',
      traddr: RDMA_ADDR, trsvcid: String(BACKEND_PORT), subnqn: BACKEND_NQN, reconnect_delay_sec: 1 }), ['Nvme0n1']);
    const [c] = await controllers();
    assert.equal(c.ctrlrs[0].state, 'enabled');
    assert.deepEqual([c.ctrlrs[0].trid.trtype, c.ctrlrs[0].trid.traddr], ['RDMA', RDMA_ADDR]);
    mrsAttached = rdma.resources().mrs;
    await gateway.rpc('nvmf_create_subsystem', { nqn: FRONT_NQN, allow_any_host: true, serial_number: 'LABRDMABE1' });
    await gateway.rpc('nvmf_subsystem_add_ns', { nqn: FRONT_NQN, namespace: { bdev_name: 'Nvme0n1' } });
    await gateway.rpc('nvmf_subsystem_add_listener', { nqn: FRONT_NQN,
      listen_address: { trtype: 'TCP', adrfam: 'IPv4', traddr: '127.0.0.1', trsvcid: String(FRONT_PORT) } });
  });

  it('the kernel nvme-tcp host runs fio verify=crc32c through it, 512 B to 128 KiB', async () => {
    run('nvme', ['connect', '-t', 'tcp', '-a', '127.0.0.1', '-s', String(FRONT_PORT), '-n', FRONT_NQN, '-i', '2']);
    const dev = await namespaceDevice(FRONT_NQN);
    run('dd', [`if=${dev}`, 'of=/dev/null', 'bs=4k', 'count=1', 'iflag=direct', 'status=none']);
    assert.equal(rdma.resources().mrs, mrsAttached, 'the gateway\'s pool was registered with the device at attach, not by an I/O');
    const jobs = fio(['--name=rdma-backend', `--filename=${dev}`, '--ioengine=libaio', '--direct=1', '--rw=randwrite',
      '--bsrange=512-128k', '--iodepth=16', '--numjobs=2', '--size=8m', '--offset_increment=16m',
      '--verify=crc32c', '--verify_fatal=1', '--do_verify=1']);
    for (const j of jobs) assert.equal(j.error, 0);
    // Zero copy on the backend side: I/O data moved by RDMA straight from and into the
    // gateway's request buffers. The backend host copies only in-capsule writes (up to
    // nvmet's 4 KiB) and Identify data: about 80 KiB here, against 32 MiB if it bounced.
    const { counters } = gateway.target.nvmeControllers()[0];
    assert.ok(counters.completions > 200, `${counters.completions} backend completions`);
    assert.ok(counters.bytesCopied < 1 << 20, `${counters.bytesCopied} bytes copied by the backend host`);
  });

  it('fio completes with no verify error while the RDMA backend restarts in the middle', async () => {
    await fioAcrossRestart(await namespaceDevice(FRONT_NQN), '40m', async () => {
      backend.unlink();  // nvmet drops the gateway's RDMA association
      await sleep(3000);
      assert.equal((await controllers())[0].ctrlrs[0].state, 'resetting');
      backend.link();
    });
    assert.equal((await controllers())[0].ctrlrs[0].state, 'enabled');
  });

  it('fails over to a second nvmet-rdma port when the first goes away: fio verify completes through it (multipath failover)', async () => {
    backend.addPort(BACKEND_PORT2, 9);
    assert.deepEqual(await gateway.rpc('bdev_nvme_attach_controller', { name: 'Nvme0', trtype: 'RDMA', adrfam: 'IPv4',
      traddr: RDMA_ADDR, trsvcid: String(BACKEND_PORT2), subnqn: BACKEND_NQN, multipath: 'failover' }), ['Nvme0n1']);
    const onSecond = async () => {
      const [c] = await controllers();
      return c.ctrlrs[0].state === 'enabled' && c.ctrlrs[0].trid.trsvcid === String(BACKEND_PORT2);
    };
    await fioAcrossRestart(await namespaceDevice(FRONT_NQN), '48m', async () => {
      backend.unlink();  // the first port goes and stays away while fio runs: only the second serves
      const end = Date.now() + 60000;
      while (!(await onSecond())) {
        assert.ok(Date.now() < end, 'the backend reconnects through the second port within 60 s');
        await sleep(100);
      }
    });
    backend.link();
  });

  it('serves through both nvmet-rdma ports at once, a controller each (multipath active_active): fio verify completes while one goes away', async () => {
    // The second port, a failover path until now, becomes a controller of its own; the backend
    // leaves it for the first port, which is back.
    await gateway.rpc('bdev_nvme_detach_controller', { name: 'Nvme0', trtype: 'RDMA', traddr: RDMA_ADDR, trsvcid: String(BACKEND_PORT2) });
    const states = async () => (await controllers())[0]!.ctrlrs.map((c) => c.state);
    for (const end = Date.now() + 60000; (await states())[0] !== 'enabled'; await sleep(100)) {
      assert.ok(Date.now() < end, 'the backend back on its first port within 60 s');
    }
    assert.deepEqual(await gateway.rpc('bdev_nvme_attach_controller', { name: 'Nvme0', trtype: 'RDMA', adrfam: 'IPv4',
      traddr: RDMA_ADDR, trsvcid: String(BACKEND_PORT2), subnqn: BACKEND_NQN, multipath: 'multipath' }), ['Nvme0n1']);
    await gateway.rpc('bdev_nvme_set_multipath_policy', { name: 'Nvme0n1', policy: 'active_active', selector: 'queue_depth' });
    assert.deepEqual(await states(), ['enabled', 'enabled']);
    await fioAcrossControllerLoss(gateway.target, backend, await namespaceDevice(FRONT_NQN), '56m');
  });
});
