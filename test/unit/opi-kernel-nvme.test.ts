/**
 * KernelNvmeService (rdmagate.dpu.v1): the DPU's kernel NVMe-oF host behind the OPI
 * bridge, over a fake kernel host (a file stands in for each connected volume's device).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway, OpiBridge, opiClient, type OpiClient } from '../../lib';
import { deadlineExceeded, failedPrecondition, internal } from '../../lib/csi/errors';
import { volumeNqn } from '../../lib/csi/parameters';
import { OpiStatus } from '../../lib/opi';
import type { ConnectKernelNvmeRequest } from '../../lib/opi/messages';
import { rejectsOverOpi as rejects } from '../support/csi-assert';
import { FakeKernelAttacher } from './fake-kernel-attacher';

const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000000cc';
const VOLUME = '5b0d6a1e-7c2f-4e3a-9b8d-1f2e3d4c5b6a';
const NGUID = '5b0d6a1e7c2f4e3a9b8d1f2e3d4c5b6a';

const connectRequest = (extra: Partial<ConnectKernelNvmeRequest> = {}): ConnectKernelNvmeRequest => ({
  volume_id: VOLUME, trtype: 'rdma', traddr: '192.168.100.2', trsvcid: '4420', subnqn: volumeNqn(VOLUME),
  hostnqn: HOSTNQN, nguid: NGUID, uuid: VOLUME, ...extra,
});

describe('KernelNvmeService (rdmagate.dpu.v1): the DPU\'s kernel NVMe-oF host', function () {
  this.timeout(30000);
  let dir: string;
  let gateway: Gateway;
  let kernel: FakeKernelAttacher;
  let bridge: OpiBridge;
  let client: OpiClient;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-kernel-'));
    gateway = new Gateway({ socketPath: null, configPath: null, log: () => undefined });
    await gateway.start();
    kernel = new FakeKernelAttacher(dir);
    bridge = new OpiBridge({ rpc: { call: (m, p) => gateway.rpc(m, p) }, statePath: null, listen: '127.0.0.1:0',
      log: () => undefined, kernel });
    await bridge.start();
    client = opiClient(bridge.address!);
  });

  afterEach(async () => {
    client?.close();
    await bridge?.close();
    await gateway?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers bad requests with INVALID_ARGUMENT naming the field, and connects nothing', async () => {
    const bad: [Partial<ConnectKernelNvmeRequest>, RegExp][] = [
      [{ volume_id: '', subnqn: '' }, /volume_id is required/],
      [{ subnqn: 'nqn.2026-11.io.rdmagate:other' }, /subnqn 'nqn\.2026-11\.io\.rdmagate:other' is not a volume's NQN/],
      [{ subnqn: 'not-an-nqn' }, /subnqn must be an NQN/],
      [{ subnqn: volumeNqn('another') }, /volume_id '5b0d.*' does not match subnqn/],
      [{ volume_id: 'with space', subnqn: '' }, /volume_id 'with space' must be printable ASCII without spaces/],
      [{ trtype: '' }, /trtype is required/],
      [{ trtype: 'fc' }, /trtype must be tcp or rdma/],
      [{ traddr: '' }, /traddr is required/],
      [{ traddr: 'gateway.example' }, /traddr must be an IP address/],
      [{ trsvcid: '0' }, /trsvcid must be a port/],
      [{ trsvcid: 'http' }, /trsvcid must be a port/],
      [{ hostnqn: '' }, /hostnqn is required/],
      [{ hostnqn: 'host1' }, /hostnqn must be an NQN/],
      [{ nguid: 'xyz' }, /nguid must be 32 hex digits/],
      [{ uuid: 'nope' }, /uuid must be a UUID/],
      [{ tuning: { ctrl_loss_tmo: { value: -2 } } }, /tuning\.ctrl_loss_tmo\.value must be an integer in \[-1,/],
      [{ tuning: { nr_io_queues: { value: 0 } } }, /tuning\.nr_io_queues\.value/],
    ];
    for (const [extra, message] of bad) await rejects(client.kernel.connect(connectRequest(extra)), OpiStatus.INVALID_ARGUMENT, message);
    await rejects(client.kernel.disconnect({}), OpiStatus.INVALID_ARGUMENT, /volume_id is required/);
    await rejects(client.kernel.rescan({ subnqn: 'nqn.2026-11.io.rdmagate:x' }), OpiStatus.INVALID_ARGUMENT, /not a volume's NQN/);
    await rejects(client.kernel.rescan({ volume_id: VOLUME }), OpiStatus.NOT_FOUND, /is not connected/);
    await rejects(client.kernel.disconnect({ volume_id: VOLUME }), OpiStatus.NOT_FOUND, /is not connected/);
    await client.kernel.disconnect({ volume_id: VOLUME, allow_missing: true });
    assert.equal(kernel.connects, 0);
  });

  it('round trip: connects once however often asked, rescans to the grown size, disconnects', async () => {
    const dev = await client.kernel.connect(connectRequest({ tuning: { ctrl_loss_tmo: { value: -1 }, nr_io_queues: { value: 4 } } }));
    assert.deepEqual([dev.volume_id, dev.size_bytes], [VOLUME, String(1 << 20)]);
    assert.equal(dev.device, join(dir, `nvme-${VOLUME}.dev`));
    const made = kernel.connected.get(VOLUME)!;
    assert.deepEqual(made.ctx, { transport: 'rdma', traddr: '192.168.100.2', trsvcid: '4420', subnqn: volumeNqn(VOLUME),
      uuid: VOLUME, nguid: NGUID });
    assert.deepEqual([made.hostnqn, made.tuning], [HOSTNQN, { ctrl_loss_tmo: -1, nr_io_queues: 4 }]);

    // Again, by the subnqn alone, with the NGUID as a dashed upper-case UUID: the same device.
    assert.deepEqual(await client.kernel.connect(connectRequest({ volume_id: '', trtype: 'RDMA',
      nguid: '5B0D6A1E-7C2F-4E3A-9B8D-1F2E3D4C5B6A' })), dev);
    assert.equal(kernel.connects, 1);

    // The kernel takes the new size in the background: Rescan waits for it.
    kernel.growTo = { bytes: 2 << 20, afterMs: 300 };
    const grown = await client.kernel.rescan({ subnqn: volumeNqn(VOLUME) });
    assert.deepEqual([grown.device, grown.size_bytes, kernel.rescans], [dev.device, String(2 << 20), 1]);
    // Told the size to reach, the attacher waits for it, longer than the short wait for a change.
    kernel.growTo = { bytes: 3 << 20, afterMs: 2500 };
    const reached = await client.kernel.rescan({ volume_id: VOLUME, min_size_bytes: 3 << 20 });
    assert.equal(reached.size_bytes, String(3 << 20));
    kernel.growTo = { bytes: 3 << 20, afterMs: 0 };
    await rejects(client.kernel.rescan({ volume_id: VOLUME, min_size_bytes: 4 << 20 }), OpiStatus.DEADLINE_EXCEEDED, /holds 3145728 bytes after the rescan, not yet 4194304/);
    await rejects(client.kernel.rescan({ volume_id: VOLUME, min_size_bytes: -1 }), OpiStatus.INVALID_ARGUMENT, /min_size_bytes/);

    await client.kernel.disconnect({ volume_id: VOLUME, subnqn: volumeNqn(VOLUME) });
    assert.equal(kernel.connected.size, 0);
    await rejects(client.kernel.disconnect({ volume_id: VOLUME }), OpiStatus.NOT_FOUND);
    await client.kernel.disconnect({ volume_id: VOLUME, allow_missing: true });
  });

  it('runs the calls on one volume one at a time (a retry waits and finds it connected), other volumes side by side', async () => {
    kernel.attachMs = 200;
    const other = '0c9a8b7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d';
    const [a, b, c] = await Promise.all([
      client.kernel.connect(connectRequest()),
      client.kernel.connect(connectRequest()),
      client.kernel.connect(connectRequest({ volume_id: other, subnqn: '', uuid: other, nguid: other.replace(/-/g, '') })),
    ]);
    assert.deepEqual(a, b);
    assert.notEqual(c.device, a.device);
    assert.equal(kernel.connects, 2);
    assert.equal(kernel.maxInFlight, 2, 'the other volume did not wait');
  });

  it('answers the kernel host\'s failures with the status they carry', async () => {
    kernel.failNext.attach = failedPrecondition('nvme connect -t rdma ... failed (1): could not add new controller');
    await rejects(client.kernel.connect(connectRequest()), OpiStatus.FAILED_PRECONDITION, /could not add new controller/);
    kernel.failNext.attach = deadlineExceeded('connected, but no block device appeared');
    await rejects(client.kernel.connect(connectRequest()), OpiStatus.DEADLINE_EXCEEDED, /no block device/);
    await client.kernel.connect(connectRequest());
    kernel.failNext.rescan = internal('nvme ns-rescan failed');
    await rejects(client.kernel.rescan({ volume_id: VOLUME }), OpiStatus.INTERNAL, /ns-rescan failed/);
    kernel.failNext.detach = internal('nvme disconnect failed');
    await rejects(client.kernel.disconnect({ volume_id: VOLUME }), OpiStatus.INTERNAL, /disconnect failed/);
    await client.kernel.disconnect({ volume_id: VOLUME });
    assert.equal(kernel.connected.size, 0);
  });

  it('is served only when the bridge has a kernel host; a bad one is refused', async () => {
    const plain = new OpiBridge({ rpc: { call: (m, p) => gateway.rpc(m, p) }, statePath: null, listen: '127.0.0.1:0', log: () => undefined });
    await plain.start();
    const c = opiClient(plain.address!);
    try {
      await rejects(c.kernel.connect(connectRequest()), OpiStatus.UNIMPLEMENTED);
      assert.deepEqual((await c.call<{ nvme_subsystems: unknown[] }>('FrontendNvmeService', 'ListNvmeSubsystems')).nvme_subsystems, []);
    } finally {
      c.close();
      await plain.close();
    }
    assert.throws(() => new OpiBridge({ rpc: { call: (m, p) => gateway.rpc(m, p) }, kernel: {} as never }),
      { code: 'ERR_INVALID_ARG', message: /kernel must be a VolumeAttacher/ });
  });

  it('starts when the kernel host is unusable, warning that connects will fail', async () => {
    const logs: string[] = [];
    const broken = new FakeKernelAttacher(dir);
    broken.failNext.probe = failedPrecondition('nvme-cli is not installed on this node');
    const b = new OpiBridge({ rpc: { call: (m, p) => gateway.rpc(m, p) }, statePath: null, listen: '127.0.0.1:0',
      log: (e) => logs.push(`${e.level} ${e.msg} ${String(e.error ?? '')}`), kernel: broken });
    await b.start();
    await b.close();
    assert.ok(logs.some((l) => /^warn kernel nvme host unavailable.*nvme-cli is not installed/.test(l)), logs.join('\n'));
  });
});
