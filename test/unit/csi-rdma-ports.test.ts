/**
 * The CSI node's RDMA check (lib/csi/rdma-ports.ts), on sysfs trees made up in a temporary
 * directory: a port counts when its state is ACTIVE, and anything unreadable counts as none.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasActiveRdmaPort } from '../../lib/csi/rdma-ports';

describe('CSI node: active RDMA ports from sysfs', () => {
  let root: string;
  beforeEach(() => { root = mkdtempSync(join(tmpdir(), 'rdmagate-sysfs-')); });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function port(device: string, n: number, state: string): void {
    mkdirSync(join(root, device, 'ports', String(n)), { recursive: true });
    writeFileSync(join(root, device, 'ports', String(n), 'state'), `${state}\n`);
  }

  it('none without the directory, or with no device', () => {
    assert.equal(hasActiveRdmaPort(join(root, 'missing')), false);
    assert.equal(hasActiveRdmaPort(root), false);
  });

  it('none when every port is down, initialising or armed', () => {
    port('mlx5_0', 1, '1: DOWN');
    port('mlx5_0', 2, '2: INIT');
    port('rxe0', 1, '3: ARMED');
    assert.equal(hasActiveRdmaPort(root), false);
  });

  it('one active port on any device is enough; a device without ports is skipped', () => {
    mkdirSync(join(root, 'broken0'));
    port('mlx5_0', 1, '1: DOWN');
    port('rxe0', 1, '4: ACTIVE');
    assert.equal(hasActiveRdmaPort(root), true);
  });
});
