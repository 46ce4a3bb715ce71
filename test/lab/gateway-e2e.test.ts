import assert from 'node:assert/strict';
import { readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { Target, rdma } from '../../lib';
import { disconnectAll, fio, fioAcrossControllerLoss, fioAcrossRestart, inLab, namespaceDevice, run, sleep, untilQpairs } from './helpers';
import { ramDisk, startKernelTarget, type KernelTarget } from './kernel-nvmet';
import { until } from '../rdma/helpers';

const BACKEND_NQN = 'nqn.2026-11.io.rdmagate:lab-backend';
const FRONT_NQN = 'nqn.2026-11.io.rdmagate:lab-gateway';
const RDMA_ADDR = '192.168.77.1';

describe('the gateway end to end: kernel nvmet-tcp backend, kernel nvme-rdma frontend (lab)', function () {
  this.timeout(900000);
  let backend: KernelTarget;
  let gateway: Target;

  before(async function () {
    if (!inLab() || rdma.devices().length === 0) this.skip();
    backend = startKernelTarget({ nqn: BACKEND_NQN, device: ramDisk(64), port: 4420 });
    gateway = new Target({ reactors: 2, inCapsuleDataSize: 4096 });
    const [bdev] = await gateway.attachNvmeController({ name: 'Nvme0', traddr: '127.0.0.1', trsvcid: 4420,
      subnqn: BACKEND_NQN, reconnectDelay: 1, ctrlLossTmo: 120 });
    const s = gateway.addSubsystem({ nqn: FRONT_NQN, serialNumber: 'LABGW0001' });
    s.addNamespace({ bdev: bdev.name, nsid: 1 });
    s.addListener({ transport: 'rdma', address: RDMA_ADDR, port: 4421 });
    s.addListener({ transport: 'tcp', address: '127.0.0.1', port: 4422 });
  });

  after(() => {
    if (!gateway) return;
    disconnectAll(FRONT_NQN);
    gateway.closeSync();
    backend.close();
  });

  it('the kernel nvme-rdma host runs fio verify=crc32c through the gateway', async () => {
    run('nvme', ['connect', '-t', 'rdma', '-a', RDMA_ADDR, '-s', '4421', '-n', FRONT_NQN, '-i', '2']);
    const dev = await namespaceDevice(FRONT_NQN);
    const jobs = fio(['--name=gw', `--filename=${dev}`, '--ioengine=libaio', '--direct=1', '--rw=randwrite',
      '--bsrange=512-128k', '--iodepth=16', '--numjobs=2', '--size=8m', '--offset_increment=16m',
      '--verify=crc32c', '--verify_fatal=1', '--do_verify=1']);
    for (const j of jobs) assert.equal(j.error, 0);
    // Zero copy through the gateway: every frontend byte moved by RDMA, none by the CPU.
    const q = gateway.qpairs().filter((x) => x.transport === 'rdma' && x.qid > 0);
    assert.ok(q.reduce((a, x) => a + x.rdmaReadBytes + x.rdmaWriteBytes, 0) > 16 << 20);
  });

  it('fio completes with no verify error while the backend restarts in the middle', async () => {
    await fioAcrossRestart(await namespaceDevice(FRONT_NQN), '32m', async () => {
      backend.unlink();  // the backend leaves: nvmet drops the gateway's controller
      await sleep(3000);
      assert.equal(gateway.nvmeControllers()[0].state, 'resetting');
      backend.link();  // and comes back
    });
    assert.equal(gateway.nvmeControllers()[0].state, 'enabled');
  });

  it('fails over to a second nvmet port when the first goes away: fio verify completes through it (failover path)', async () => {
    backend.addPort(4423, 10);
    gateway.addNvmeControllerPath('Nvme0', '127.0.0.1', 4423);
    const onSecond = () => {
      const [c] = gateway.nvmeControllers();
      return c!.state === 'enabled' && c!.paths.find((p) => p.active)?.trsvcid === 4423;
    };
    await fioAcrossRestart(await namespaceDevice(FRONT_NQN), '40m', async () => {
      backend.unlink();  // the first port goes and stays away while fio runs: only the second serves
      await until(onSecond, 'the backend to reconnect through port 4423', 60000);
    });
    assert.ok(gateway.nvmeControllers()[0]!.counters.failovers >= 1);
    backend.link();
  });

  it('serves through both nvmet ports at once, a controller each (multipath active_active): fio verify completes while one goes away', async () => {
    // The second port, a failover path until now, becomes a controller of its own; the backend
    // leaves it for the first port, which is back.
    gateway.removeNvmeControllerPath('Nvme0', '127.0.0.1', 4423);
    await until(() => gateway.nvmeControllers()[0]!.state === 'enabled', 'the backend back on its first port', 60000);
    const [bdev] = await gateway.attachNvmeController({ name: 'Nvme0', traddr: '127.0.0.1', trsvcid: 4423, subnqn: BACKEND_NQN,
      reconnectDelay: 1, ctrlLossTmo: 120, multipath: true });
    assert.equal(bdev!.name, 'Nvme0n1');
    gateway.setMultipathPolicy('Nvme0n1', 'active_active', 'round_robin');
    await fioAcrossControllerLoss(gateway, backend, await namespaceDevice(FRONT_NQN), '56m');
  });

  it('a backend namespace that nvmet grows reaches the kernel nvme-rdma host through the gateway, by notices alone', async () => {
    const backendNqn = `${BACKEND_NQN}-grow`;
    const frontNqn = `${FRONT_NQN}-grow`;
    const file = '/tmp/rdmagate-gw-grow.img';
    writeFileSync(file, Buffer.alloc(0));
    truncateSync(file, 16 << 20);
    const grow = startKernelTarget({ nqn: backendNqn, device: file, port: 4430, portId: 8, bufferedIo: true });
    try {
      const [bdev] = await gateway.attachNvmeController({ name: 'Nvme1', traddr: '127.0.0.1', trsvcid: 4430, subnqn: backendNqn });
      const s = gateway.addSubsystem({ nqn: frontNqn, serialNumber: 'LABGW0002' });
      s.addNamespace({ bdev: bdev.name, nsid: 1 });
      s.addListener({ transport: 'rdma', address: RDMA_ADDR, port: 4431 });
      const qpairs = gateway.qpairs().length;
      run('nvme', ['connect', '-t', 'rdma', '-a', RDMA_ADDR, '-s', '4431', '-n', frontNqn]);
      const dev = await namespaceDevice(frontNqn);
      const bytes = () => Number(readFileSync(`/sys/block/${dev.slice(5)}/size`, 'utf8')) * 512;
      assert.equal(bytes(), 16 << 20);
      truncateSync(file, 48 << 20);
      writeFileSync(`/sys/kernel/config/nvmet/subsystems/${backendNqn}/namespaces/1/revalidate_size`, '1');
      const end = Date.now() + 20000;
      while (bytes() !== 48 << 20 && Date.now() < end) await sleep(100);
      assert.equal(bytes(), 48 << 20, 'nvmet told the gateway, and the gateway told the host');
      const jobs = fio(['--name=tail', `--filename=${dev}`, '--ioengine=libaio', '--direct=1', '--rw=write', '--bs=64k',
        '--offset=40m', '--size=8m', '--verify=crc32c', '--verify_fatal=1', '--do_verify=1']);
      assert.equal(jobs[0].error, 0, 'the new space is there, end to end');
      run('nvme', ['disconnect', '-n', frontNqn]);
      await untilQpairs(gateway, qpairs);
      gateway.removeSubsystem(frontNqn);
      gateway.detachNvmeController('Nvme1');
    } finally {
      disconnectAll(frontNqn);
      grow.close();
      rmSync(file, { force: true });
    }
  });

  it('is reachable over TCP too, reading what was written over RDMA', async () => {
    run('nvme', ['disconnect', '-n', FRONT_NQN]);
    run('nvme', ['connect', '-t', 'tcp', '-a', '127.0.0.1', '-s', '4422', '-n', FRONT_NQN]);
    const dev = await namespaceDevice(FRONT_NQN);
    // The restart job's workload again, verify only: the same blocks, the same seed.
    const jobs = fio(['--name=restart', `--filename=${dev}`, '--ioengine=libaio', '--direct=1', '--rw=randwrite',
      '--bs=4k', '--iodepth=8', '--size=8m', '--offset=32m', '--verify=crc32c', '--verify_fatal=1', '--verify_only=1']);
    assert.equal(jobs[0].error, 0);
  });
});
