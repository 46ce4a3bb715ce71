/**
 * The local plugin on its own: what a crash leaves behind, a failed create, and a state
 * file that cannot be trusted.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CsiError, LocalPlugin } from '../../lib/csi';

describe('CSI local plugin', () => {
  let dir: string;
  const spec = { capacityBytes: 1 << 20, parameters: {}, context: {}, thin: true };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-csi-local-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('removes on start what a create cut off by a crash left behind', async () => {
    const half = '0b5c3d0e-1111-4222-8333-944444444444';
    const halfSnap = '1c6d4e1f-1111-4222-8333-955555555555';
    mkdirSync(join(dir, 'volumes'), { recursive: true });
    mkdirSync(join(dir, 'snapshots'), { recursive: true });
    writeFileSync(join(dir, 'volumes', `${half}.img`), Buffer.alloc(4096));
    writeFileSync(join(dir, 'snapshots', `${halfSnap}.img`), Buffer.alloc(4096));
    writeFileSync(join(dir, 'state.json'), JSON.stringify({
      version: 1,
      volumes: { [half]: { id: half, name: 'pvc-x', capacityBytes: 4096, parameters: {}, context: {}, uuid: half,
        createdAt: new Date().toISOString(), status: 'creating', thin: true } },
      snapshots: { [halfSnap]: { id: halfSnap, name: 's', sourceVolumeId: half, sizeBytes: 4096, createdAtMs: 0, method: 'copy',
        status: 'creating' } },
    }));
    const p = new LocalPlugin({ poolDir: dir });
    await p.open();
    assert.equal(p.volumeByName('pvc-x'), undefined);
    assert.ok(!existsSync(join(dir, 'volumes', `${half}.img`)));
    assert.ok(!existsSync(join(dir, 'snapshots', `${halfSnap}.img`)));
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { volumes: object; snapshots: object };
    assert.deepEqual(state, { version: 1, volumes: {}, snapshots: {} });
    // The CO's retry makes the volume anew.
    const v = await p.createVolume({ name: 'pvc-x', ...spec });
    assert.notEqual(v.id, half);
    assert.equal(p.volumeByName('pvc-x')?.id, v.id);
  });

  it('a create that fails leaves no record and no file', async () => {
    const p = new LocalPlugin({ poolDir: dir });
    await p.open();
    const v = await p.createVolume({ name: 'src', ...spec });
    const s = await p.createSnapshot({ name: 'snap', sourceVolumeId: v.id, inUse: false });
    unlinkSync(p.snapshotPath(s.id)); // the snapshot's file is lost
    await assert.rejects(p.createVolume({ name: 'restore', ...spec, source: { kind: 'snapshot', id: s.id } }), /ENOENT/);
    assert.equal(p.volumeByName('restore'), undefined);
    assert.deepEqual(p.volumes().map((x) => x.name), ['src']);
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { volumes: Record<string, { name: string }> };
    assert.deepEqual(Object.values(state.volumes).map((x) => x.name), ['src']);
  });

  it('refuses a state file it cannot read, instead of forgetting the volumes in it', async () => {
    writeFileSync(join(dir, 'state.json'), '{"version": 1, "volumes": {');
    await assert.rejects(new LocalPlugin({ poolDir: dir }).open(), /not valid JSON.*would otherwise be lost/);
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ version: 7, volumes: {}, snapshots: {} }));
    await assert.rejects(new LocalPlugin({ poolDir: dir }).open(), (e: unknown) => e instanceof CsiError && /state version 7/.test(e.message));
  });

  it('expands and deletes idempotently', async () => {
    const p = new LocalPlugin({ poolDir: dir });
    await p.open();
    const v = await p.createVolume({ name: 'v', ...spec });
    assert.equal((await p.expandVolume(v.id, (2 << 20) + 1)).capacityBytes, (2 << 20) + 4096);
    assert.equal((await p.expandVolume(v.id, 1 << 20)).capacityBytes, (2 << 20) + 4096, 'never shrinks');
    await p.deleteVolume(v.id);
    await p.deleteVolume(v.id);
    await assert.rejects(p.expandVolume(v.id, 1 << 21), /does not exist/);
    assert.throws(() => p.checkParameters({ replicas: 2, thin: true }), /one copy/);
  });
});
