/**
 * deploy/: every manifest parses as YAML (with python3's PyYAML, as js-yaml is no
 * dependency: skipped where it is missing) and the driver name and roles agree with the code.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DRIVER_NAME } from '../../lib/csi';

const DEPLOY = resolve(__dirname, '../../../deploy');

describe('CSI deploy manifests', () => {
  const files = readdirSync(DEPLOY).filter((f) => f.endsWith('.yaml')).map((f) => join(DEPLOY, f));

  it('parse as YAML, each document a Kubernetes object', function () {
    const probe = spawnSync('python3', ['-c', 'import yaml'], { encoding: 'utf8' });
    if (probe.status !== 0) this.skip();
    const script = 'import sys, yaml, json\nout = []\nfor f in sys.argv[1:]:\n  for d in yaml.safe_load_all(open(f)):\n' +
      '    if d: out.append([d["apiVersion"], d["kind"], d["metadata"]["name"]])\nprint(json.dumps(out))';
    const r = spawnSync('python3', ['-c', script, ...files], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const kinds = (JSON.parse(r.stdout) as string[][]).map(([, kind, name]) => `${kind}/${name}`);
    for (const k of ['CSIDriver/rdmagate.csi.io', 'Deployment/rdmagate-csi-controller', 'DaemonSet/rdmagate-csi-node',
      'DaemonSet/rdmagate-csi-node-host', 'DaemonSet/rdmagate-csi-node-dpu', 'StorageClass/rdmagate-local',
      'VolumeSnapshotClass/rdmagate-snapshots', 'ClusterRole/rdmagate-csi-controller']) {
      assert.ok(kinds.includes(k), `${k} in ${kinds.join(', ')}`);
    }
  });

  it('name the driver and the roles the code knows', () => {
    const all = files.map((f) => readFileSync(f, 'utf8')).join('\n');
    assert.ok(all.includes(`provisioner: ${DRIVER_NAME}`));
    assert.ok(all.includes(`driver: ${DRIVER_NAME}`));
    for (const role of ['controller', 'default', 'host', 'dpu']) assert.ok(all.includes(`--role=${role}`), role);
  });
});
