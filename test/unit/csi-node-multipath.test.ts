/**
 * The default node role with a volume published by a gateway group (issue 17): every path
 * in publish_context `paths` is connected with nvme-cli (one subsystem NQN, so Linux's
 * native multipath makes them one device, found by UUID), a path that cannot be connected
 * is a warning while another carries the volume, none at all is an error, and unstaging
 * disconnects the subsystem, every path of it. The kernel and nvme-cli are faked
 * (fake-nvme-host.ts): no root needed.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { LogEntry } from '../../lib/log/logger';
import { CsiLogger, GrpcStatus, KernelNvmeAttacher, NodeService, volumeNqn } from '../../lib/csi';
import { rejectsInProcess } from '../support/csi-assert';
import { FakeNvmeHost } from './fake-nvme-host';

const BLOCK = { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } };
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:6b1c4e2a-1d7f-4c3e-9a8f-0a0b0c0d0e0f';
const PATHS = [{ traddr: '10.0.0.1', trsvcid: '4420' }, { traddr: '10.0.0.2', trsvcid: '4420' }];

describe('CSI node, default role: a volume of a gateway group, every path connected', function () {
  this.timeout(20000);
  let dir: string;
  let host: FakeNvmeHost;
  let logs: LogEntry[];
  let node: NodeService;
  let attacher: KernelNvmeAttacher;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-csi-mp-'));
    host = new FakeNvmeHost(dir);
    logs = [];
    const log = new CsiLogger((e) => logs.push(e));
    attacher = new KernelNvmeAttacher({ system: host, log, deviceTimeoutMs: 1000, pollMs: 10 });
    node = new NodeService({ role: 'default', log, nodeId: HOSTNQN, attacher, rdma: false });
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A volume the fake host can connect, and its publish_context (with `paths`, unless null). */
  function volume(paths: typeof PATHS | null = PATHS): { id: string; ctx: Record<string, string> } {
    const id = randomUUID();
    const nguid = id.replace(/-/g, '');
    host.subsystem(volumeNqn(id), { uuid: id, nguid });
    const first = paths?.[0] ?? { traddr: '10.0.0.9', trsvcid: '4420' };
    return { id, ctx: { transport: 'tcp', traddr: first.traddr, trsvcid: first.trsvcid, subnqn: volumeNqn(id), uuid: id, nguid,
      ...(paths ? { paths: JSON.stringify(paths) } : {}) } };
  }

  const stage = (id: string, ctx: Record<string, string>) => node.stageVolume({ volume_id: id, staging_target_path: join(dir, 'staging', id),
    volume_capability: BLOCK, publish_context: ctx, volume_context: {}, secrets: {} });
  const unstage = (id: string) => node.unstageVolume({ volume_id: id, staging_target_path: join(dir, 'staging', id) });
  const warnings = () => logs.filter((l) => l.level === 'warn');

  it('stage with 2 paths: 2 connects to one NQN, one device by UUID; again: nothing more; unstage: every path disconnected', async () => {
    const { id, ctx } = volume();
    await stage(id, ctx);
    assert.deepEqual(host.nvme(), ['connect 10.0.0.1:4420', 'connect 10.0.0.2:4420']);
    const connects = host.commands.filter((c) => c[1] === 'connect');
    for (const c of connects) {
      assert.equal(c[c.indexOf('-n') + 1], volumeNqn(id), 'the same subsystem NQN on each path');
      assert.equal(c[c.indexOf('-q') + 1], HOSTNQN);
      assert.equal(c[c.indexOf('-t') + 1], 'tcp');
    }
    assert.equal(host.controllers(volumeNqn(id)).length, 2, 'two controllers: two paths of one subsystem');
    assert.equal(await attacher.device(id), join(host.devRoot, 'nvme0n1'), 'one device: the multipath head');
    assert.equal(warnings().length, 0);

    await stage(id, ctx);
    assert.equal(host.nvme().length, 2, 'a repeated stage connects nothing more');

    await unstage(id);
    assert.deepEqual(host.nvme().slice(2), [`disconnect -n ${volumeNqn(id)}`], 'one disconnect of the NQN takes every path');
    assert.deepEqual(host.controllers(volumeNqn(id)), [], 'both paths are gone');
    await unstage(id);
    assert.equal(host.nvme().length, 3, 'a repeated unstage runs nothing');
  });

  it('one path refused: staging succeeds on the other with a warning naming the path; a later stage connects it', async () => {
    const { id, ctx } = volume();
    host.refuse.add('10.0.0.1:4420');
    await stage(id, ctx);
    assert.deepEqual(host.nvme(), ['connect 10.0.0.1:4420', 'connect 10.0.0.2:4420']);
    assert.deepEqual(host.controllers(volumeNqn(id)).map((c) => c.address.split(',')[0]), ['traddr=10.0.0.2']);
    const [w] = warnings();
    assert.ok(w, 'a warning');
    assert.match(w.msg, /could not be connected/);
    assert.equal(w.traddr, '10.0.0.1');
    assert.equal(w.trsvcid, '4420');
    assert.match(String(w.error), /failed to write to nvme-fabrics device/);

    // The path's gateway is back: a repeated stage connects it, and only it.
    host.refuse.clear();
    await stage(id, ctx);
    assert.deepEqual(host.nvme().slice(2), ['connect 10.0.0.1:4420']);
    assert.equal(host.controllers(volumeNqn(id)).length, 2);
  });

  it('every path refused: FAILED_PRECONDITION naming each, and nothing connected', async () => {
    const { id, ctx } = volume();
    host.refuse.add('10.0.0.1:4420');
    host.refuse.add('10.0.0.2:4420');
    await rejectsInProcess(stage(id, ctx), GrpcStatus.FAILED_PRECONDITION, /no path of .* could be connected: 10\.0\.0\.1:4420: .*; 10\.0\.0\.2:4420: /);
    assert.deepEqual(host.controllers(volumeNqn(id)), []);
  });

  it('a publish_context without paths (one gateway, or an older controller): one connect, as before', async () => {
    const { id, ctx } = volume(null);
    await stage(id, ctx);
    assert.deepEqual(host.nvme(), ['connect 10.0.0.9:4420']);
    // With one path, its own error, as before.
    const other = volume(null);
    host.refuse.add('10.0.0.9:4420');
    await rejectsInProcess(stage(other.id, other.ctx), GrpcStatus.FAILED_PRECONDITION, /^nvme connect .* failed \(1\)/);
  });

  it('rescan: nvme ns-rescan on every path, then waits for the kernel\'s background scan to show the size Identify Namespace reports', async () => {
    const { id, ctx } = volume();
    await stage(id, ctx);
    const dev = (await attacher.device(id))!;
    const bytes = () => Number(readFileSync(join(host.sysfsRoot, 'block', basename(dev), 'size'), 'utf8')) * 512;
    assert.equal(bytes(), 1 << 20);
    host.rescanDelayMs = 200;
    host.grow(volumeNqn(id), 4 << 20);
    assert.equal(await attacher.rescan(id), 4 << 20);
    assert.equal(bytes(), 4 << 20, 'rescan answered once the device held the size the controller reports');
    assert.deepEqual(host.nvme().filter((c) => c.startsWith('ns-rescan')), [0, 1].map((i) => `ns-rescan ${join(host.devRoot, `nvme${i}`)}`));
    assert.deepEqual(host.nvme().filter((c) => c.startsWith('id-ns')), [`id-ns ${dev} -o json`]);

    // The size the CO asks for and the controller does not (yet) report: DEADLINE_EXCEEDED, for the CO to retry.
    await rejectsInProcess(attacher.rescan(id, 8 << 20), GrpcStatus.DEADLINE_EXCEEDED, /holds 4194304 bytes .* not yet the 8388608/);
    await unstage(id);
    await rejectsInProcess(attacher.rescan(id), GrpcStatus.NOT_FOUND, /no block device/);
  });

  it('malformed paths are INVALID_ARGUMENT before anything is run', async () => {
    const { id, ctx } = volume();
    for (const paths of ['not json', '[]', '{}', '[{"traddr":"10.0.0.1"}]', '[{"traddr":"","trsvcid":"4420"}]', '[{"traddr":"10.0.0.1","trsvcid":"port"}]']) {
      await rejectsInProcess(stage(id, { ...ctx, paths }), GrpcStatus.INVALID_ARGUMENT, /publish_context\.paths/);
    }
    assert.deepEqual(host.nvme(), []);
  });
});
