import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { inLab, run } from './helpers';

const RDMA_ADDRESS = '192.168.77.1';  // rxe0, set up by scripts/lab-rdma-env.sh

interface Cell { transport: string; path: string; workload: string; status: string; ios?: number; reason?: string }

// Soft-RoCE in an emulated guest says nothing about speed: this checks that every RDMA
// cell of the study runs, direct and through the gateway, so the rows the matrix skips on
// a machine without a device are known to work where one exists.
describe('bench:matrix over NVMe/RDMA (lab, Soft-RoCE)', function () {
  this.timeout(300000);
  let out: string;

  before(function () {
    if (!inLab()) this.skip();
    out = mkdtempSync(path.join(tmpdir(), 'matrix-'));
  });

  after(() => out && rmSync(out, { recursive: true, force: true }));

  it('measures every RDMA cell, direct and through the gateway', () => {
    run('node', [path.join(__dirname, '../../bench/matrix.js'), '--runtime', '0.5', '--ramp', '0.2', '--reactors', '1',
      '--only', 'rdma r1', '--rdma-address', RDMA_ADDRESS, '--out', out], 240000);
    const cells = (JSON.parse(readFileSync(path.join(out, 'matrix.json'), 'utf8')) as { cells: Cell[] }).cells
      .filter((c) => c.transport === 'rdma');
    assert.equal(cells.length, 12, 'six workloads, two paths');
    for (const c of cells) {
      assert.equal(c.status, 'measured', `${c.path} ${c.workload}: ${c.reason ?? c.status}`);
      assert.ok((c.ios ?? 0) > 0, `${c.path} ${c.workload} completed I/O`);
    }
  });
});
