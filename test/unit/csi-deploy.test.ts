/**
 * deploy/: every manifest parses as YAML (js-yaml, a devDependency) and the driver name
 * and roles agree with the code; the DPU's DaemonSet runs `rdmagate dpu` with flags and
 * values the command takes.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { load, loadAll } from 'js-yaml';
import { parseArgs } from '../../lib/cli/args';
import { DPU_FLAGS } from '../../lib/cli/dpu';
import { listenAddress } from '../../lib/cli/opi-bridge';
import { DRIVER_NAME } from '../../lib/csi';
import { parseHostFacing } from '../../lib/dpu';
import { checkOwnNqn } from '../../lib/opi/services/transport';

const DEPLOY = resolve(__dirname, '../../../deploy');

describe('CSI deploy manifests', () => {
  const files = readdirSync(DEPLOY).filter((f) => f.endsWith('.yaml')).map((f) => join(DEPLOY, f));

  it('parse as YAML, each document a Kubernetes object', () => {
    const kinds = files.flatMap((f) => loadAll(readFileSync(f, 'utf8')).filter((d) => d).map((d) => {
      const o = d as { apiVersion?: string; kind?: string; metadata?: { name?: string } };
      assert.ok(o.apiVersion && o.kind && o.metadata?.name, `${f}: a Kubernetes object`);
      return `${o.kind}/${o.metadata.name}`;
    }));
    for (const k of ['CSIDriver/rdmagate.csi.io', 'Deployment/rdmagate-csi-controller', 'DaemonSet/rdmagate-csi-node',
      'DaemonSet/rdmagate-csi-node-host', 'DaemonSet/rdmagate-csi-node-dpu', 'DaemonSet/rdmagate-dpu', 'StorageClass/rdmagate-local',
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

  it('run rdmagate dpu on DPU nodes with flags it takes, its state and gateway socket on the node', () => {
    interface Container {
      command: string[];
      env?: { name: string }[];
      securityContext?: { privileged?: boolean };
      volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
    }
    interface DaemonSet {
      kind: string;
      metadata: { name: string };
      spec: { template: { spec: { nodeSelector: Record<string, string>; tolerations?: unknown[]; hostNetwork?: boolean;
        containers: Container[]; volumes: { name: string; hostPath: { path: string } }[] } } };
    }
    const ds = load(readFileSync(join(DEPLOY, 'dpu.yaml'), 'utf8')) as DaemonSet;
    assert.deepEqual([ds.kind, ds.metadata.name], ['DaemonSet', 'rdmagate-dpu']);
    const pod = ds.spec.template.spec;
    assert.deepEqual(pod.nodeSelector, { 'rdmagate.io/dpu': 'true' });
    assert.ok((pod.tolerations?.length ?? 0) > 0);
    assert.equal(pod.hostNetwork, true);
    const [c] = pod.containers;
    assert.equal(c.securityContext?.privileged, true);
    assert.deepEqual(c.command.slice(0, 2), ['rdmagate', 'dpu']);
    // $(VAR) is the kubelet's: any address stands in for it here.
    const argv = c.command.slice(2).map((a) => a.replace(/\$\((\w+)\)/g, (_, v: string) => {
      assert.ok(c.env?.some((e) => e.name === v), `${v} is set in env`);
      return '192.0.2.10';
    }));
    const { flags, positionals } = parseArgs(argv, DPU_FLAGS);
    assert.deepEqual(positionals, []);
    const flag = (name: string) => flags.get(name) as string;
    listenAddress(flag('opi-listen'), '--opi-listen');
    parseHostFacing(flag('host-facing'), '--host-facing');
    checkOwnNqn(flag('host-subsystem-nqn'), '--host-subsystem-nqn');
    const mounted = (path: string) => {
      const m = c.volumeMounts.find((v) => path === v.mountPath || path.startsWith(`${v.mountPath}/`));
      assert.ok(m, `${path} is on a mounted volume`);
      assert.ok(pod.volumes.some((v) => v.name === m.name && v.hostPath), `${m.name} is a hostPath`);
    };
    mounted(flag('state-dir'));
    mounted(flag('gateway-socket'));
    for (const p of ['/dev', '/sys', '/lib/modules']) mounted(p);
    assert.equal(c.volumeMounts.find((v) => v.mountPath === '/lib/modules')?.readOnly, true);
    // Where node.yaml's dpu role names the DPU's gateway or subsystem, it is this one.
    const node = readFileSync(join(DEPLOY, 'node.yaml'), 'utf8');
    const named = (option: string) => new RegExp(`--${option}=([^"\\s]+)`).exec(node)?.[1];
    for (const [option, ours] of [['dpu-rpc-socket', 'gateway-socket'], ['dpu-subsystem', 'host-subsystem-nqn']]) {
      const there = named(option);
      if (there !== undefined) assert.equal(there, flag(ours), `node.yaml --${option}`);
    }
  });
});
