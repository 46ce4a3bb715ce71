/**
 * Two gateways, one volume (issue 17): an nvmet-tcp backend, two `rdmagate gateway`
 * processes that export it as one ANA subsystem (same NQN, serial, model and namespace IDs,
 * controller ID ranges apart), and the kernel host connected to both, so that Linux's
 * native multipath makes them two paths of one device. The paths follow the gateways' ANA
 * states, and fio with verify on the multipath device rides out gateway A killed
 * (SIGKILL), A restarted from its saved config, then gateway B killed; over NVMe/TCP, then
 * over NVMe/RDMA (Soft-RoCE); then the same with rdmagate's own host as the multipath client.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BufferPool, nvmf } from '../../lib';
import { rpcCall } from '../../lib/jsonrpc/client';
import type { JsonValue } from '../../lib/jsonrpc/json';
import { until } from '../rdma/helpers';
import { controllersOf, disconnectAll, inLab, namespaceDevice, run, sleep, type FioJob } from './helpers';
import { ramDisk, startKernelTarget, type KernelTarget } from './kernel-nvmet';

const CLI = resolve(__dirname, '..', '..', 'lib', 'cli', 'main.js');
const BACKEND_NQN = 'nqn.2026-12.io.rdmagate:lab-ha-backend';
const FRONT_NQN = 'nqn.2026-12.io.rdmagate:lab-ha';
const UUID = '5a1e0a7e-0b5c-4e6f-8a9b-0c1d2e3f4a5b';
const BACKEND_PORT = 4470;
const RDMA_ADDR = '192.168.77.1';

interface Member { name: string; ports: Record<Trtype, number>; cntlid: [number, number]; dir: string; child?: ChildProcess }
type Trtype = 'tcp' | 'rdma';
const ADDRESS: Record<Trtype, string> = { tcp: '127.0.0.1', rdma: RDMA_ADDR };

/** The ANA state (sysfs) of the kernel's path through `port`. */
function pathState(port: number): string | undefined {
  for (const c of controllersOf(FRONT_NQN)) {
    const address = readFileSync(`/sys/class/nvme/${c}/address`, 'utf8');
    if (!address.includes(`trsvcid=${port}`)) continue;
    const path = readdirSync(`/sys/class/nvme/${c}`).find((n) => /^nvme\d+c\d+n\d+$/.test(n));
    if (!path) return undefined;
    const state = readFileSync(`/sys/class/nvme/${c}/state`, 'utf8').trim();
    return `${state} ${readFileSync(`/sys/class/nvme/${c}/${path}/ana_state`, 'utf8').trim()}`;
  }
  return undefined;
}

describe('two gateways, one volume: ANA and the kernel\'s native multipath (lab)', function () {
  this.timeout(300000);
  let backend: KernelTarget;
  const members: Member[] = [];

  const rpc = (m: Member, method: string, params: Record<string, JsonValue> = {}) => rpcCall(join(m.dir, 'gateway.sock'), method, params);

  async function start(m: Member): Promise<void> {
    m.child = spawn(process.execPath, [CLI, 'gateway', '--socket', join(m.dir, 'gateway.sock'), '--config', join(m.dir, 'config.json')],
      { stdio: ['ignore', 'ignore', 'inherit'] });
    await rpcCall(join(m.dir, 'gateway.sock'), 'rpc_get_methods', undefined, { retries: 150 });  // 200 ms apart: until it listens
  }

  function kill(m: Member): Promise<void> {
    const child = m.child!;
    return new Promise((r) => {
      child.once('exit', () => r());
      child.kill('SIGKILL');
    });
  }

  before(async function () {
    if (!inLab()) this.skip();
    assert.equal(readFileSync('/sys/module/nvme_core/parameters/multipath', 'utf8').trim(), 'Y', 'native NVMe multipath');
    backend = startKernelTarget({ nqn: BACKEND_NQN, device: ramDisk(64), port: BACKEND_PORT, portId: 7 });
    for (const [name, tcp, rdmaPort, cntlid] of [['A', 4471, 4481, [1, 999]], ['B', 4472, 4482, [1000, 1999]]] as const) {
      const m: Member = { name, ports: { tcp, rdma: rdmaPort }, cntlid: [...cntlid], dir: mkdtempSync(join(tmpdir(), `rdmagate-ha-${name}-`)) };
      members.push(m);
      await start(m);
      await rpc(m, 'bdev_nvme_attach_controller', { name: 'Nvme0', trtype: 'tcp', traddr: '127.0.0.1', trsvcid: BACKEND_PORT,
        subnqn: BACKEND_NQN, reconnect_delay_sec: 1 });
      await rpc(m, 'nvmf_create_transport', { trtype: 'TCP' });
      await rpc(m, 'nvmf_create_transport', { trtype: 'RDMA' });
      // One subsystem as the host sees it: the same NQN, serial, model and namespace IDs on both.
      await rpc(m, 'nvmf_create_subsystem', { nqn: FRONT_NQN, allow_any_host: true, serial_number: 'RDMAGATEHA0001',
        model_number: 'rdmagate ha', ana_reporting: true, min_cntlid: m.cntlid[0], max_cntlid: m.cntlid[1] });
      await rpc(m, 'nvmf_subsystem_add_ns', { nqn: FRONT_NQN, namespace: { bdev_name: 'Nvme0n1', nsid: 1, uuid: UUID } });
      for (const trtype of ['tcp', 'rdma'] as const) {
        await rpc(m, 'nvmf_subsystem_add_listener', { nqn: FRONT_NQN, listen_address: listenAddress(m, trtype) });
      }
    }
  });

  function listenAddress(m: Member, trtype: Trtype): Record<string, string> {
    return { trtype: trtype.toUpperCase(), adrfam: 'IPv4', traddr: ADDRESS[trtype], trsvcid: String(m.ports[trtype]) };
  }

  after(async () => {
    disconnectAll(FRONT_NQN);
    for (const m of members) {
      if (m.child && m.child.exitCode === null && m.child.signalCode === null) await kill(m);
      rmSync(m.dir, { recursive: true, force: true });
    }
    backend?.close();
  });

  for (const trtype of ['tcp', 'rdma'] as const) {
    it(`${trtype}: the kernel connects to both gateways as two paths of one device, and follows their ANA states`, async () => {
      disconnectAll(FRONT_NQN);
      for (const m of members) {
        if (!m.child || m.child.exitCode !== null || m.child.signalCode !== null) await start(m);
        // ctrl_loss_tmo 60 s: a path whose gateway restarts within it comes back.
        run('nvme', ['connect', '-t', trtype, '-a', ADDRESS[trtype], '-s', String(m.ports[trtype]), '-n', FRONT_NQN, '-l', '60', '-c', '1']);
      }
      await namespaceDevice(FRONT_NQN);
      assert.equal(controllersOf(FRONT_NQN).length, 2, `two controllers: ${run('nvme', ['list-subsys'])}`);
      const port = (m: Member) => m.ports[trtype];
      await until(() => members.every((m) => pathState(port(m)) === 'live optimized'), 'both paths live and optimized', 30000);

      const [a, b] = members as [Member, Member];
      const set = (ana_state: string) => rpc(b, 'nvmf_subsystem_listener_set_ana_state',
        { nqn: FRONT_NQN, listen_address: listenAddress(b, trtype), ana_state });
      await set('inaccessible');
      await until(() => pathState(port(b)) === 'live inaccessible', 'path B inaccessible', 30000);
      assert.equal(pathState(port(a)), 'live optimized');
      await set('optimized');
      await until(() => pathState(port(b)) === 'live optimized', 'path B optimized again', 30000);
    });

    it(`${trtype}: fio with verify on the multipath device: gateway A killed, A restarted, then B killed; no error reaches fio`, async () => {
      const [a, b] = members as [Member, Member];
      const dev = await namespaceDevice(FRONT_NQN);
      const job = spawn('fio', ['--name=ha', `--filename=${dev}`, '--ioengine=libaio', '--direct=1', '--rw=randwrite', '--bs=4k',
        '--iodepth=8', '--size=16m', '--rate_iops=300', '--verify=crc32c', '--verify_fatal=1', '--do_verify=1',
        '--verify_state_save=0', '--output-format=json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      job.stdout!.on('data', (d: Buffer) => { out += d; });
      job.stderr!.on('data', (d: Buffer) => { err += d; });
      const exited = new Promise<number | null>((r) => job.once('exit', r));
      await sleep(2000);
      await kill(a);
      await sleep(2000);
      assert.equal(job.exitCode, null, 'fio still runs on path B');
      await start(a);  // its saved config brings the export back
      await until(() => pathState(a.ports[trtype]) === 'live optimized', 'path A live again', 30000);
      await sleep(1000);
      await kill(b);
      const code = await exited;
      assert.equal(code, 0, `fio failed: ${err}\n${out.slice(-1500)}`);
      const [result] = (JSON.parse(out.slice(out.indexOf('{'))) as { jobs: (FioJob & { write: { clat_ns: { max: number } } })[] }).jobs;
      assert.equal(result!.error, 0);
      assert.equal(result!.write.io_bytes, 16 << 20);
      // The longest a write waited: the time without completed I/O across the failovers.
      console.log(`      longest write across the failovers: ${(result!.write.clat_ns.max / 1e6).toFixed(0)} ms`);
    });
  }

  it('rdmagate\'s own multipath host: writers that read back every block ride out A killed, A restarted, then B killed', async () => {
    disconnectAll(FRONT_NQN);
    for (const m of members) if (!m.child || m.child.exitCode !== null || m.child.signalCode !== null) await start(m);
    const [a, b] = members as [Member, Member];
    const host = await nvmf.connectMultipath({ paths: members.map((m) => ({ traddr: '127.0.0.1', trsvcid: m.ports.tcp, subnqn: FRONT_NQN,
      reconnectDelay: 0.2, nrIoQueues: 2 })) });
    const pool = new BufferPool({ chunkSize: 4096 });
    let stop = false;
    let ios = 0;
    let longestMs = 0;
    const worker = async (w: number) => {
      const out = pool.acquire();
      const back = pool.acquire();
      const qp = host.queuePairs[w % host.queuePairs.length]!;
      try {
        for (let n = 0; !stop; n++) {
          const lba = (w * 64 + n % 64) * 8;
          out.fill((w * 31 + n) & 0xff);
          const t0 = Date.now();
          await qp.write(1, lba, 8, out);
          await qp.read(1, lba, 8, back);
          longestMs = Math.max(longestMs, Date.now() - t0);
          assert.ok(Buffer.from(back.buffer, back.byteOffset, 4096).equals(Buffer.from(out.buffer, out.byteOffset, 4096)), `block ${lba} read back as written`);
          ios += 2;
        }
      } finally {
        out.release();
        back.release();
      }
    };
    try {
      const workers = Array.from({ length: 4 }, (_, w) => worker(w));
      await sleep(1000);
      await kill(a);
      await sleep(1500);
      await start(a);
      await until(() => host.paths()[0]!.state === 'live', 'our path A live again', 30000);
      await sleep(1000);
      await kill(b);
      await sleep(1500);
      stop = true;
      await Promise.all(workers);
    } finally {
      await host.close();
    }
    assert.ok(ios > 0);
    console.log(`      ${ios} I/Os, longest write and read back across the failovers: ${longestMs} ms; failovers ${JSON.stringify(host.paths().map((p) => p.failovers))}`);
  });
});
