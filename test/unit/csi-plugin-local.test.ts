/**
 * The local plugin on its own: what a crash leaves behind, a failed create, a state file
 * that cannot be trusted, and snapshots of sparse volumes that stay sparse.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CsiError, LocalPlugin } from '../../lib/csi';
import { sparseCopy } from '../../lib/csi/plugins/sparse-copy';
import { readAt, writeAt } from '../support/file-at';

const MiB = 1 << 20;
const GiB = 1 << 30;

/** Writes `data(i)` at each offset i of `path`. */
function writeEach(path: string, offsets: number[], data: (i: number) => Buffer): void {
  offsets.forEach((off, i) => writeAt(path, off, data(i)));
}

const allocated = (path: string) => statSync(path).blocks * 512;

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

  describe('snapshots of sparse volumes (issue 20, item 15)', () => {
    // One 4 KiB block of data in each MiB of a 64 MiB volume, one at an odd offset, and the last block.
    const offsets = [...Array.from({ length: 64 }, (_, i) => i * MiB + (i % 7) * 4096), 5 * MiB + 100, 64 * MiB - 4096];
    const block = (i: number) => Buffer.alloc(4096, (i % 250) + 1);

    function checkCopy(src: string, copy: string): void {
      assert.equal(statSync(copy).size, statSync(src).size);
      for (const [i, off] of offsets.entries()) assert.ok(readAt(copy, off, 4096).equals(block(i)), `the block at ${off}`);
      // The copy reads what the source reads, zeros included.
      assert.ok(readFileSync(copy).equals(readFileSync(src)), 'the copy is the source, byte for byte');
      // Block for block: no more allocated than the source (a former copy wrote whole MiB chunks: 64 MiB here).
      assert.ok(allocated(copy) <= allocated(src) + 64 * 1024, `the copy allocates ${allocated(copy)} bytes, the source ${allocated(src)}`);
    }

    it('a snapshot allocates what the volume does, and holds what was written in it', async () => {
      const p = new LocalPlugin({ poolDir: dir });
      await p.open();
      const v = await p.createVolume({ name: 'sparse', ...spec, capacityBytes: 64 * MiB });
      writeEach(p.volumePath(v.id), offsets, block);
      const s = await p.createSnapshot({ name: 'sparse-snap', sourceVolumeId: v.id, inUse: false });
      checkCopy(p.volumePath(v.id), p.snapshotPath(s.id));
      // A restore from it is made the same way.
      const r = await p.createVolume({ name: 'restored', ...spec, capacityBytes: 64 * MiB, source: { kind: 'snapshot', id: s.id } });
      checkCopy(p.volumePath(v.id), p.volumePath(r.id));
    });

    it('the copy (where the pool cannot reflink) writes only the blocks that are not zeros', async () => {
      const src = join(dir, 'src.img');
      writeFileSync(src, '');
      truncateSync(src, 64 * MiB + 512); // not a whole number of blocks: the tail is copied too
      writeEach(src, offsets, block);
      writeAt(src, 64 * MiB, Buffer.alloc(512, 0xee));
      // Written zeros, between two data blocks: allocated in the source, a hole in the copy.
      writeAt(src, 40 * MiB + 64 * 1024, Buffer.alloc(896 * 1024));
      // Read with O_DIRECT (where the file system takes it: the buffer is realigned until it does), and through the page cache.
      for (const direct of [true, false]) {
        const copy = join(dir, `copy-${direct}.img`);
        await sparseCopy(src, copy, { direct });
        assert.ok(readAt(copy, 64 * MiB, 512).equals(Buffer.alloc(512, 0xee)));
        checkCopy(src, copy);
        assert.ok(allocated(copy) <= allocated(src) - 896 * 1024 + 64 * 1024, 'zeros written in the source are a hole in the copy');
      }
    });

    it('an empty 1 GiB volume: a snapshot allocates nothing', async () => {
      const p = new LocalPlugin({ poolDir: dir });
      await p.open();
      const v = await p.createVolume({ name: 'empty', ...spec, capacityBytes: GiB });
      const s = await p.createSnapshot({ name: 'empty-snap', sourceVolumeId: v.id, inUse: false });
      assert.equal(statSync(p.snapshotPath(s.id)).size, GiB);
      assert.ok(allocated(p.snapshotPath(s.id)) <= 64 * 1024, `${allocated(p.snapshotPath(s.id))} bytes allocated`);
    });
  });
});
