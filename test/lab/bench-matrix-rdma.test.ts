import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { inLab, run } from './helpers';

const RDMA_ADDRESS = '192.168.77.1';  // rxe0, set up by scripts/lab-rdma-env.sh

interface Cell {
  transport: string; path: string; workload: string; status: string; ios?: number; reason?: string;
  cpuSecondsPerMillionIos?: number; roleCpu?: Record<string, number>;
}

/** The pids of bench/matrix-role.js processes still running (from /proc: the guest may lack pgrep). */
function roleProcesses(): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('matrix-role.js');
    } catch {
      return false;  // gone while we looked
    }
  }).map(Number);
}

// Soft-RoCE in an emulated guest says nothing about speed: this checks that every RDMA
// cell of the study runs, direct, through the gateway and through a DPU (the DPU attaching
// the gateway over NVMe/RDMA), each role in a process of its own with its CPU apart, so the
// rows the matrix skips on a machine without a device are known to work where one exists.
describe('bench:matrix over NVMe/RDMA (lab, Soft-RoCE)', function () {
  this.timeout(300000);
  let out: string;

  before(function () {
    if (!inLab()) this.skip();
    out = mkdtempSync(path.join(tmpdir(), 'matrix-'));
  });

  after(() => out && rmSync(out, { recursive: true, force: true }));

  it('measures every RDMA cell, direct, through the gateway and through a DPU', () => {
    run('node', [path.join(__dirname, '../../bench/matrix.js'), '--runtime', '0.5', '--ramp', '0.2', '--reactors', '1',
      '--only', 'rdma r1', '--rdma-address', RDMA_ADDRESS, '--out', out], 240000);
    const cells = (JSON.parse(readFileSync(path.join(out, 'matrix.json'), 'utf8')) as { cells: Cell[] }).cells
      .filter((c) => c.transport === 'rdma');
    assert.equal(cells.length, 18, 'six workloads, three paths');
    for (const c of cells) {
      assert.equal(c.status, 'measured', `${c.path} ${c.workload}: ${c.reason ?? c.status}`);
      assert.ok((c.ios ?? 0) > 0, `${c.path} ${c.workload} completed I/O`);
      const r = c.roleCpu ?? {};
      const roles = { direct: ['host', 'target'], gateway: ['host', 'gateway', 'backend'], dpu: ['host', 'dpu', 'gateway', 'backend'] }[c.path];
      assert.deepEqual(Object.keys(r).sort(), [...(roles ?? [])].sort(), `${c.path} ${c.workload}: a figure per role`);
      for (const [role, v] of Object.entries(r)) assert.ok(Number.isFinite(v) && v > 0, `${c.path} ${c.workload}: ${role} ${v}`);
      const total = Object.values(r).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs((c.cpuSecondsPerMillionIos ?? 0) - total) < 0.01, 'the total is every role');
    }
    assert.deepEqual(roleProcesses(), [], 'no role process is left behind');
  });
});
