import assert from 'node:assert/strict';
import { BufferPool, Target, nvmf } from '../../lib';
import { inLab, run } from './helpers';
import { ramDisk } from './kernel-nvmet';

const NQN = 'nqn.2026-11.io.rdmagate:blockdev';

describe('a block device as a namespace (file bdev on brd, lab)', function () {
  this.timeout(120000);
  let target: Target;
  let dev: string;

  before(function () {
    if (!inLab()) this.skip();
    dev = ramDisk(64);
  });

  after(() => target?.closeSync());

  it('reads its geometry from the device, and I/O through the target lands on it', async () => {
    target = new Target();
    const info = target.createBdev({ type: 'file', name: 'Ram0', path: dev });  // block size from the device
    assert.equal(info.numBlocks * info.blockSize, 64 << 20);
    assert.equal(info.direct, true);
    target.addSubsystem({ nqn: NQN }).addNamespace({ bdev: 'Ram0' });
    const port = target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
    const c = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: port, subnqn: NQN });
    const pool = new BufferPool({ chunkSize: 128 * 1024 });
    const w = pool.acquire();
    for (let i = 0; i < w.length; i++) w[i] = (i * 7 + 3) & 0xff;
    const blocks = (128 * 1024) / info.blockSize;
    await c.queuePairs[0].write(1, 2048, blocks, w);
    await c.queuePairs[0].flush(1);
    const onDevice = Buffer.from(run('sh', ['-c', `dd if=${dev} bs=512 skip=${(2048 * info.blockSize) / 512} count=256 iflag=direct status=none | od -An -v -tx1`])
      .replace(/\s+/g, ''), 'hex');
    assert.ok(onDevice.equals(Buffer.from(w.buffer, w.byteOffset, 128 * 1024)), 'the bytes are on the device');
    await c.queuePairs[0].writeZeroes(1, 2048, 8);
    await c.queuePairs[0].deallocate(1, 2056, 8);
    const r = pool.acquire();
    await c.queuePairs[0].read(1, 2048, 16, r);
    assert.ok(Buffer.from(r.buffer, r.byteOffset, 16 * info.blockSize).equals(Buffer.alloc(16 * info.blockSize)),
      'write zeroes and deallocate read back as zeros');
    w.release();
    r.release();
    await c.close();
    pool.close();
  });
});
