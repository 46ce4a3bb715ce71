/**
 * A gateway group's stale members survive a controller restart (issue 17): a member that
 * missed a change is resynced when it answers again, even if the controller restarted in
 * between, rather than trusted with exports that missed an unpublish.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayGroup, type GatewayRpc } from '../../lib/csi';

const rpc: GatewayRpc = { call: () => Promise.reject(new Error('not called')) };
const members = ['a', 'b', 'c'].map((name, i) => ({ name, rpc, tcp: { traddr: '127.0.0.1', trsvcid: 4420 + i } }));

describe('CSI gateway group: stale members kept in a state file', () => {
  let dir: string;
  let statePath: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-group-state-'));
    statePath = join(dir, 'gateway-group.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function restarted(): Promise<GatewayGroup> {
    const g = new GatewayGroup({ members, statePath });
    await g.load();
    return g;
  }

  it('a member marked down or stale is still stale after a restart, until marked fresh', async () => {
    const g = await restarted();
    g.markDown('b');
    g.markStale('c');
    await g.saved();
    assert.deepEqual(JSON.parse(readFileSync(statePath, 'utf8')), { version: 1, stale: ['b', 'c'] });

    const again = await restarted();
    assert.deepEqual(members.map((m) => again.isStale(m.name)), [false, true, true]);
    assert.ok(again.isUp('b'), 'down is not kept: the first health check says it');
    assert.equal(again.optimizedFor('any-volume', ['b', 'c', 'a'])?.name, 'a', 'a fresh member is preferred');
    again.markFresh('b');
    await again.saved();
    const third = await restarted();
    assert.deepEqual(members.map((m) => third.isStale(m.name)), [false, false, true]);
  });

  it('starts with no state file as all fresh; drops names no longer members; refuses a file it cannot read', async () => {
    assert.deepEqual(members.map((m) => (new GatewayGroup({ members, statePath })).isStale(m.name)), [false, false, false]);
    writeFileSync(statePath, JSON.stringify({ version: 1, stale: ['gone', 'a'] }));
    const g = await restarted();
    assert.deepEqual(members.map((m) => g.isStale(m.name)), [true, false, false]);
    writeFileSync(statePath, '{ torn');
    await assert.rejects(restarted(), { code: 'ERR_CORRUPT_STATE' });
    writeFileSync(statePath, JSON.stringify({ version: 2, stale: [] }));
    await assert.rejects(restarted(), { code: 'ERR_INVALID_ARG' });
  });

  it('a change waits for the record: a state file that cannot be written fails saved()', async () => {
    const g = new GatewayGroup({ members, statePath: join(dir, 'missing-dir', 'gateway-group.json') });
    g.markDown('a');
    await assert.rejects(g.saved(), { code: 'ENOENT' });
  });
});
