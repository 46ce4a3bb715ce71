/**
 * Volumes that require NVMe/TCP TLS, the node's side: NodeStageVolume connects with nvme-cli's
 * `--tls --tls-key <PSK>` (given, or derived for this node's host NQN), beside the DH-HMAC-CHAP
 * flags where the volume has both; missing secrets are INVALID_ARGUMENT before anything runs; no
 * PSK reaches a log line or an error message, even where nvme-cli fails and quotes it; behind
 * a DPU, the dpu role's kernel host and nvmf frontend are handed the PSK, and the
 * host role puts it in the DPU's remote controller (OPI's tcp.psk) in nvmf mode and refuses aio
 * mode (ConnectKernelNvme has no PSK). The kernel and nvme-cli are faked (fake-nvme-host.ts).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  CsiClient, CsiServer, deriveDhchapSecret, deriveTlsPsk, DpuAttacher, DpuBridgeAttacher, GrpcStatus,
  REDACTED, volumeNqn, type DpuFrontend, type DpuSource,
} from '../../lib/csi';
import type { StringMap } from '../../lib/csi/types';
import type { OpiClient } from '../../lib/opi/client';
import { rejectsInProcess, rejectsOverGrpc } from '../support/csi-assert';
import { EchoingNvmeHost, keyedNodeFixture, RecordingAttacher } from '../support/csi-keyed-node';
import { dhchapSecret } from '../support/dhchap-secret';
import { tlsPsk } from '../support/tls-psk';

const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:7c2d5f3b-2e80-4d4f-8b90-1b2c3d4e5f60';
const MASTER = 'a TLS master secret of more than thirty-two bytes';

describe('CSI volumes that require NVMe/TCP TLS: the node', function () {
  this.timeout(20000);
  const t = keyedNodeFixture('rdmagate-csi-tls-node-', HOSTNQN, '4421');
  const { nodeWith, kernelNode, volume, stageReq, flag, connects, noSecretIn } = t;

  it('a given PSK: nvme connect -t tcp --tls --tls-key <PSK> -q <its host NQN>; with DH-HMAC-CHAP too; none for a volume without tls', async () => {
    const node = kernelNode();
    const key = tlsPsk();
    const v = volume();
    await node.stageVolume(stageReq(v.id, v.ctx, { tls: 'true' }, { 'tls-psk': key }));
    const [first] = connects();
    assert.equal(flag(first, '-t'), 'tcp');
    assert.ok(first.includes('--tls'), first.join(' '));
    assert.equal(flag(first, '--tls-key'), key);
    assert.equal(flag(first, '-q'), HOSTNQN, 'the host NQN the PSK is for');
    assert.equal(flag(first, '-s'), '4421');

    const dh = dhchapSecret(1);
    const both = volume();
    await node.stageVolume(stageReq(both.id, both.ctx, { tls: 'true', dhchap: 'unidirectional' }, { 'tls-psk': key, 'dhchap-secret': dh }));
    assert.equal(flag(connects()[1], '--tls-key'), key);
    assert.equal(flag(connects()[1], '--dhchap-secret'), dh);

    const plain = volume();
    await node.stageVolume(stageReq(plain.id, plain.ctx, { tls: 'false' }, { 'tls-psk': key }));
    assert.ok(!connects()[2].includes('--tls') && !connects()[2].includes('--tls-key'), 'a volume without tls connects as before');
    noSecretIn(JSON.stringify(t.logs), key, dh);
  });

  it('a master secret: the PSK derived for this volume and this node, on every path of a group', async () => {
    const node = kernelNode();
    const { id, ctx } = volume([{ traddr: '10.0.0.1', trsvcid: '4421' }, { traddr: '10.0.0.2', trsvcid: '4421' }]);
    await node.stageVolume(stageReq(id, ctx, { tls: 'true' }, { 'tls-master-secret': MASTER, 'dhchap-master-secret': MASTER }));
    assert.equal(connects().length, 2);
    for (const c of connects()) {
      assert.equal(flag(c, '--tls-key'), deriveTlsPsk(MASTER, id, HOSTNQN));
      assert.equal(flag(c, '--dhchap-secret'), undefined, 'no dhchap on this volume: the Secret\'s dhchap key is not used');
    }
  });

  it('missing or malformed secrets, a bad flag, or a volume published over RDMA: INVALID_ARGUMENT before anything runs', async () => {
    const node = kernelNode();
    const { id, ctx } = volume();
    for (const [volumeContext, secrets, message, c] of [
      [{ tls: 'true' }, {}, /hold neither tls-psk nor tls-master-secret: .*node-stage-secret-name/, ctx],
      [{ tls: 'true' }, { 'tls-psk': dhchapSecret(1) }, /tls-psk is not an NVMe\/TCP TLS PSK/, ctx],
      [{ tls: 'true' }, { 'tls-master-secret': 'short' }, /at least 32 bytes/, ctx],
      [{ tls: 'yes' }, { 'tls-psk': tlsPsk() }, /volume_context tls must be true or false/, ctx],
      [{ tls: 'true' }, { 'tls-psk': tlsPsk() }, /requires NVMe\/TCP TLS, and publish_context.transport is rdma/, { ...ctx, transport: 'rdma' }],
    ] as [StringMap, StringMap, RegExp, StringMap][]) {
      await rejectsInProcess(node.stageVolume(stageReq(id, c, volumeContext, secrets)), GrpcStatus.INVALID_ARGUMENT, message);
    }
    assert.deepEqual(t.host.commands, [], 'nothing was run');
  });

  it('no PSK in an error or a log line: the command shown redacted, nvme-cli\'s words too, over gRPC as in process', async () => {
    const echoing = new EchoingNvmeHost(join(t.dir, 'echo'));
    const node = kernelNode(echoing);
    const key = tlsPsk();
    const id = randomUUID();
    echoing.refuse.add('10.0.0.1:4421');
    const ctx = { transport: 'tcp', traddr: '10.0.0.1', trsvcid: '4421', subnqn: volumeNqn(id), uuid: id, nguid: id.replace(/-/g, '') };
    const e = await rejectsInProcess(node.stageVolume(stageReq(id, ctx, { tls: 'true' }, { 'tls-psk': key })), GrpcStatus.FAILED_PRECONDITION,
      /^nvme connect .* failed \(1\)/);
    assert.ok(e.message.includes(`--tls --tls-key ${REDACTED}`), e.message);
    noSecretIn(e.message, key);

    const endpoint = `unix://${join(t.dir, 'node.sock')}`;
    const server = await CsiServer.start({ endpoint, log: t.log, services: { Node: node.handlers() } });
    const client = new CsiClient(endpoint);
    try {
      const r = await rejectsOverGrpc(client.call('Node', 'NodeStageVolume', stageReq(id, ctx, { tls: 'true' }, { 'tls-psk': key })),
        GrpcStatus.FAILED_PRECONDITION);
      noSecretIn(r.message, key);
    } finally {
      client.close();
      await server.close();
    }
    assert.ok(t.logs.some((l) => l.msg === 'rpc failed'), 'the failure is logged');
    noSecretIn(JSON.stringify(t.logs), key);
  });

  it('the attacher is handed the PSK derived for this volume and this node, and nothing else', async () => {
    const attacher = new RecordingAttacher();
    const { id, ctx } = volume();
    await nodeWith(attacher).stageVolume(stageReq(id, ctx, { tls: 'true' }, { 'tls-master-secret': MASTER }));
    assert.deepEqual(attacher.options, [{ psk: deriveTlsPsk(MASTER, id, HOSTNQN) }]);
  });

  describe('behind a DPU', () => {
    const frontend = (exposed: DpuSource[]): DpuFrontend => ({
      expose: async (_v, source) => { exposed.push(source); },
      remove: async () => undefined,
      exposed: async () => false,
    });

    it('dpu role: aio mode\'s kernel host connects with the PSK; nvmf mode hands it to the frontend', async () => {
      const exposed: DpuSource[] = [];
      const kernel = new RecordingAttacher();
      const { id, ctx } = volume();
      const psk = deriveTlsPsk(MASTER, id, HOSTNQN);
      const aio = nodeWith(new DpuAttacher({ kernel, aio: frontend(exposed) }), 'dpu');
      await aio.stageVolume(stageReq(id, ctx, { tls: 'true' }, { 'tls-master-secret': MASTER }));
      assert.deepEqual(kernel.options, [{ psk }]);
      const nvmf = nodeWith(new DpuAttacher({ kernel, aio: frontend(exposed), nvmf: frontend(exposed), defaultMode: 'nvmf' }), 'dpu');
      await nvmf.stageVolume(stageReq(id, ctx, { tls: 'true' }, { 'tls-master-secret': MASTER }));
      assert.equal(kernel.options.length, 1, 'nvmf mode connects nothing here');
      assert.deepEqual(exposed.map((s) => [s.kind, s.kind === 'nvmf' ? s.psk : undefined]), [['block', undefined], ['nvmf', psk]]);
    });

    it('host role through the DPU\'s OPI bridge: nvmf mode puts the PSK in the remote controller (tcp.psk); aio mode is refused before the bridge is asked', async () => {
      const calls: { method: string; request: Record<string, unknown> }[] = [];
      // A bridge that answers what the attacher asks: a host function, and every create.
      const opi = {
        call: async (_service: string, method: string, request: Record<string, unknown>) => {
          calls.push({ method, request });
          if (method === 'ListNvmeSubsystems') return { nvme_subsystems: [{ name: 'nvmeSubsystems/fn', spec: { nqn: 'nqn.2019-06.io.rdmagate:fn' } }] };
          if (method === 'ListNvmeControllers') {
            return { nvme_controllers: [{ name: 'nvmeSubsystems/fn/nvmeControllers/c0', spec: { trtype: 'NVME_TRANSPORT_TYPE_TCP',
              fabrics_id: { traddr: '127.0.0.1', trsvcid: '4420' } } }] };
          }
          return {};
        },
        close: () => undefined,
      } as unknown as OpiClient;
      const attacher = new DpuBridgeAttacher({ opi, connect: async () => undefined,
        disks: { sysfsRoot: join(t.dir, 'none'), devRoot: join(t.dir, 'none'), deviceTimeoutMs: 50, pollMs: 10 } });
      const node = nodeWith(attacher, 'host');
      const { id, ctx } = volume();
      await rejectsInProcess(node.stageVolume(stageReq(id, ctx, { tls: 'true', connectionMode: 'aio' }, { 'tls-master-secret': MASTER })),
        GrpcStatus.FAILED_PRECONDITION, /connection mode aio cannot carry \(ConnectKernelNvme has no PSK field\): use connectionMode nvmf/);
      assert.equal(calls.length, 0, 'the bridge was asked nothing');
      // nvmf: the disk never shows up here (no sysfs), but what the DPU was asked is what counts.
      await rejectsInProcess(node.stageVolume(stageReq(id, ctx, { tls: 'true', connectionMode: 'nvmf' }, { 'tls-master-secret': MASTER })),
        GrpcStatus.DEADLINE_EXCEEDED);
      const create = calls.find((c) => c.method === 'CreateNvmeRemoteController')!;
      const tcp = (create.request.nvme_remote_controller as { tcp: { psk: Buffer } }).tcp;
      assert.equal(Buffer.from(tcp.psk).toString('utf8'), deriveTlsPsk(MASTER, id, HOSTNQN));
      const path = calls.find((c) => c.method === 'CreateNvmePath')!.request.nvme_path as { fabrics: { hostnqn: string; trsvcid: number } };
      assert.equal(path.fabrics.hostnqn, HOSTNQN, 'the PSK is this host\'s, and the path connects as it');
      assert.equal(path.fabrics.trsvcid, 4421);
      noSecretIn(JSON.stringify(t.logs), deriveTlsPsk(MASTER, id, HOSTNQN));
      // DH-HMAC-CHAP stays refused through the bridge (OPI has no field for it).
      await rejectsInProcess(node.stageVolume(stageReq(id, ctx, { dhchap: 'unidirectional' }, { 'dhchap-master-secret': MASTER })),
        GrpcStatus.FAILED_PRECONDITION, /DH-HMAC-CHAP/);
      assert.ok(deriveDhchapSecret(MASTER, 'host', id, HOSTNQN));
    });
  });
});
