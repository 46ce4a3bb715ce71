/**
 * Volumes that require DH-HMAC-CHAP, the node's side (issue 16, item 4): NodeStageVolume
 * connects with nvme-cli's --dhchap-secret (and --dhchap-ctrl-secret, bidirectional), given or
 * derived for this node's host NQN; missing secrets are INVALID_ARGUMENT before anything runs;
 * no secret reaches a log line or an error message, even where nvme-cli fails and quotes it;
 * attachers that cannot carry the secrets refuse (FAILED_PRECONDITION) rather than connect
 * unauthenticated: the DPU in nvmf mode and the host role through the OPI bridge, whose API
 * has no DH-HMAC-CHAP fields. The kernel and nvme-cli are faked (fake-nvme-host.ts): no root
 * needed.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { opiClient } from '../../lib/opi/client';
import {
  CsiClient, CsiServer, deriveDhchapSecret, DpuAttacher, DpuBridgeAttacher, GrpcStatus,
  REDACTED, volumeNqn, type DpuFrontend,
} from '../../lib/csi';
import type { StringMap } from '../../lib/csi/types';
import { rejectsInProcess, rejectsOverGrpc } from '../support/csi-assert';
import { EchoingNvmeHost, keyedNodeFixture, RecordingAttacher } from '../support/csi-keyed-node';
import { dhchapSecret } from '../support/dhchap-secret';

const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:6b1c4e2a-1d7f-4c3e-9a8f-0a0b0c0d0e0f';
const MASTER = 'a master secret of more than thirty-two bytes';

describe('CSI volumes that require DH-HMAC-CHAP: the node', function () {
  this.timeout(20000);
  const t = keyedNodeFixture('rdmagate-csi-dhchap-node-', HOSTNQN, '4420');
  const { nodeWith, kernelNode, volume, flag, connects, noSecretIn } = t;
  /** A stage request for a volume whose volume_context has `dhchap` (the mode). */
  const stageReq = (id: string, ctx: StringMap, dhchap: string, secrets: StringMap) => t.stageReq(id, ctx, { dhchap }, secrets);

  it('given secrets: nvme connect with --dhchap-secret and --dhchap-ctrl-secret (bidirectional), only the first without', async () => {
    const node = kernelNode();
    const key = dhchapSecret(1);
    const ctrl = dhchapSecret(2);
    const bi = volume();
    await node.stageVolume(stageReq(bi.id, bi.ctx, 'bidirectional', { 'dhchap-secret': key, 'dhchap-ctrl-secret': ctrl }));
    const [first] = connects();
    assert.equal(flag(first, '--dhchap-secret'), key);
    assert.equal(flag(first, '--dhchap-ctrl-secret'), ctrl);
    assert.equal(flag(first, '-q'), HOSTNQN, 'the host NQN the keys are for');
    const uni = volume();
    await node.stageVolume(stageReq(uni.id, uni.ctx, 'unidirectional', { 'dhchap-secret': key, 'dhchap-ctrl-secret': ctrl }));
    const second = connects()[1];
    assert.equal(flag(second, '--dhchap-secret'), key);
    assert.equal(flag(second, '--dhchap-ctrl-secret'), undefined, 'unidirectional: the gateway is not asked to prove anything');
    const plain = volume();
    await node.stageVolume(stageReq(plain.id, plain.ctx, '', {}));
    assert.equal(flag(connects()[2], '--dhchap-secret'), undefined, 'a volume without dhchap connects as before');
    noSecretIn(JSON.stringify(t.logs), key, ctrl);
  });

  it('a master secret: keys derived for this volume and this node, every path of a group with them', async () => {
    const node = kernelNode();
    const { id, ctx } = volume([{ traddr: '10.0.0.1', trsvcid: '4420' }, { traddr: '10.0.0.2', trsvcid: '4420' }]);
    await node.stageVolume(stageReq(id, ctx, 'bidirectional', { 'dhchap-master-secret': MASTER }));
    assert.equal(connects().length, 2);
    for (const c of connects()) {
      assert.equal(flag(c, '--dhchap-secret'), deriveDhchapSecret(MASTER, 'host', id, HOSTNQN));
      assert.equal(flag(c, '--dhchap-ctrl-secret'), deriveDhchapSecret(MASTER, 'ctrl', id, HOSTNQN));
    }
  });

  it('missing or malformed secrets: INVALID_ARGUMENT before anything runs', async () => {
    const node = kernelNode();
    const { id, ctx } = volume();
    for (const [dhchap, secrets, message] of [
      ['unidirectional', {}, /hold neither dhchap-secret nor dhchap-master-secret: .*node-stage-secret-name/],
      ['bidirectional', { 'dhchap-secret': dhchapSecret(1) }, /no dhchap-ctrl-secret/],
      ['unidirectional', { 'dhchap-secret': 'DHHC-1:00:bm9wZQ==:' }, /not a DH-HMAC-CHAP secret/],
      ['unidirectional', { 'dhchap-master-secret': 'short' }, /at least 32 bytes/],
      ['mutual', { 'dhchap-secret': dhchapSecret(1) }, /volume_context dhchap must be one of/],
    ] as const) {
      await rejectsInProcess(node.stageVolume(stageReq(id, ctx, dhchap, secrets)), GrpcStatus.INVALID_ARGUMENT, message);
    }
    assert.deepEqual(t.host.commands, [], 'nothing was run');
  });

  it('no secret in an error or a log line: the command shown redacted, nvme-cli\'s words too, over gRPC as in process', async () => {
    const echoing = new EchoingNvmeHost(join(t.dir, 'echo'));
    const node = kernelNode(echoing);
    const key = dhchapSecret(1);
    const ctrl = dhchapSecret(3);
    const id = randomUUID();
    echoing.refuse.add('10.0.0.1:4420');
    const ctx = { transport: 'tcp', traddr: '10.0.0.1', trsvcid: '4420', subnqn: volumeNqn(id), uuid: id, nguid: id.replace(/-/g, '') };
    const secrets = { 'dhchap-secret': key, 'dhchap-ctrl-secret': ctrl };
    const e = await rejectsInProcess(node.stageVolume(stageReq(id, ctx, 'bidirectional', secrets)), GrpcStatus.FAILED_PRECONDITION,
      /^nvme connect .* failed \(1\)/);
    assert.ok(e.message.includes(`--dhchap-secret ${REDACTED}`) && e.message.includes(`--dhchap-ctrl-secret ${REDACTED}`), e.message);
    noSecretIn(e.message, key, ctrl);

    // Over gRPC: the answer and the server's own log of the failed call.
    const endpoint = `unix://${join(t.dir, 'node.sock')}`;
    const server = await CsiServer.start({ endpoint, log: t.log, services: { Node: node.handlers() } });
    const client = new CsiClient(endpoint);
    try {
      const r = await rejectsOverGrpc(client.call('Node', 'NodeStageVolume', stageReq(id, ctx, 'bidirectional', secrets)),
        GrpcStatus.FAILED_PRECONDITION);
      noSecretIn(r.message, key, ctrl);
      // A group volume: a path that fails is a warning, with its error, and still no secret.
      echoing.subsystem(volumeNqn(id), { uuid: id, nguid: id.replace(/-/g, '') });
      const paths = JSON.stringify([{ traddr: '10.0.0.1', trsvcid: '4420' }, { traddr: '10.0.0.2', trsvcid: '4420' }]);
      await client.call('Node', 'NodeStageVolume', stageReq(id, { ...ctx, paths }, 'bidirectional', secrets));
    } finally {
      client.close();
      await server.close();
    }
    assert.ok(t.logs.some((l) => l.msg === 'rpc failed'), 'the failure is logged');
    assert.ok(t.logs.some((l) => l.level === 'warn' && /could not be connected/.test(l.msg)), 'the failed path is logged');
    noSecretIn(JSON.stringify(t.logs), key, ctrl);
  });

  describe('behind a DPU', () => {
    /** A frontend that records what it was asked to expose. */
    const frontend = (exposed: string[]): DpuFrontend => ({
      expose: async (v) => { exposed.push(v.volumeId); },
      remove: async () => undefined,
      exposed: async () => false,
    });

    it('dpu role, nvmf mode: FAILED_PRECONDITION (OPI has no DH-HMAC-CHAP fields), before anything is exposed', async () => {
      const exposed: string[] = [];
      const kernel = new RecordingAttacher();
      const node = nodeWith(new DpuAttacher({ kernel, aio: frontend(exposed), nvmf: frontend(exposed), defaultMode: 'nvmf' }), 'dpu');
      const { id, ctx } = volume();
      await rejectsInProcess(node.stageVolume(stageReq(id, ctx, 'unidirectional', { 'dhchap-secret': dhchapSecret(1) })),
        GrpcStatus.FAILED_PRECONDITION, /connection mode nvmf cannot carry .*use connectionMode aio/);
      assert.deepEqual(exposed, []);
      assert.deepEqual(kernel.options, []);
    });

    it('dpu role, aio mode: the DPU\'s kernel host connects with the secrets', async () => {
      const exposed: string[] = [];
      const kernel = new RecordingAttacher();
      const node = nodeWith(new DpuAttacher({ kernel, aio: frontend(exposed) }), 'dpu');
      const { id, ctx } = volume();
      await node.stageVolume(stageReq(id, ctx, 'unidirectional', { 'dhchap-master-secret': MASTER }));
      assert.deepEqual(kernel.options, [{ dhchap: { dhchapKey: deriveDhchapSecret(MASTER, 'host', id, HOSTNQN) } }]);
      assert.deepEqual(exposed, [id]);
    });

    it('host role through the DPU\'s OPI bridge: FAILED_PRECONDITION before the bridge is asked anything', async () => {
      // A bridge that is not there: any call would be UNAVAILABLE, so FAILED_PRECONDITION shows that none was made.
      const opi = opiClient('127.0.0.1:1');
      try {
        const node = nodeWith(new DpuBridgeAttacher({ opi, connect: async () => undefined }), 'host');
        const { id, ctx } = volume();
        await rejectsInProcess(node.stageVolume(stageReq(id, ctx, 'bidirectional', { 'dhchap-master-secret': MASTER })),
          GrpcStatus.FAILED_PRECONDITION, /OPI bridge cannot carry \(CreateNvmePath and ConnectKernelNvme have no DH-HMAC-CHAP fields\)/);
      } finally {
        opi.close();
      }
    });
  });
});
