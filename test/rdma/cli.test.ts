import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { ADDRESS } from './helpers';

const cli = path.resolve(__dirname, '..', '..', 'lib', 'cli', 'main.js');

describe('rdmagate demo (real device)', function () {
  this.timeout(60000);
  it('runs the loopback SEND/WRITE/READ with no copies and no leaks', () => {
    const out = JSON.parse(execFileSync(process.execPath, [cli, 'demo', '--address', ADDRESS, '-o', 'json'], { encoding: 'utf8' }));
    assert.equal(out.rdma.available, true);
    assert.equal(out.rdma.sendRecvOk, true);
    assert.equal(out.rdma.writeReadOk, true);
    assert.equal(out.rdma.bytesCopied, 0);
    assert.equal(out.rdma.resourcesLeaked, false);
  });
  it('finds the device address by itself', () => {
    const text = execFileSync(process.execPath, [cli, 'demo'], { encoding: 'utf8' });
    assert.match(text, /rdma: rxe\d at [\d.]+: loopback RC connection/);
    assert.match(text, /RDMA WRITE \+ READ of 1048576 bytes ok: true/);
  });
});
