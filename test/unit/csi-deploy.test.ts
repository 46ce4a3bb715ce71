/**
 * deploy/: every manifest parses as YAML (js-yaml, a devDependency) and the driver name
 * and roles agree with the code; the DPU's DaemonSet runs `rdmagate dpu` with flags and
 * values the command takes; kustomization.yaml applies every manifest, the namespace first;
 * every container requests what it needs (the sidecars with a memory limit); the health
 * ports on the node's network are not livenessprobe's default 9808 and no two pods share
 * one; the pods for storage nodes and DPUs tolerate those nodes' taints; and the commented
 * StorageClass for volumes that require DH-HMAC-CHAP names a Secret of the keys the code reads.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { load, loadAll } from 'js-yaml';
import { parseArgs } from '../../lib/cli/args';
import { DPU_FLAGS } from '../../lib/cli/dpu';
import { listenAddress } from '../../lib/cli/opi-bridge';
import { DHCHAP_MASTER_SECRET_KEY, dhchapSecretSource, DRIVER_NAME, parseCsiRoles } from '../../lib/csi';
import { parseVolumeParameters } from '../../lib/csi/parameters';
import { parseHostFacing } from '../../lib/dpu';
import { checkOwnNqn } from '../../lib/opi/services/transport';

const DEPLOY = resolve(__dirname, '../../../deploy');
const KUSTOMIZATION = 'kustomization.yaml';
/** livenessprobe's default port, which most CSI drivers keep: on the node's network, ours would collide with theirs. */
const LIVENESSPROBE_DEFAULT_PORT = 9808;
/** The Kubernetes CSI sidecars, which get a memory limit (the driver's own containers get requests only). */
const SIDECAR_IMAGE = 'registry.k8s.io/sig-storage/';

interface Taint { key: string; value?: string }
/** Taints of storage nodes (the gateway's) and of DPUs, as kustomization.yaml names them. */
const STORAGE_TAINTS: Taint[] = [{ key: 'rdmagate.io/gateway', value: 'true' }, { key: 'node-role.kubernetes.io/storage' }];
const DPU_TAINTS: Taint[] = [{ key: 'rdmagate.io/dpu', value: 'true' }, { key: 'rdmagate.io/node-role', value: 'dpu' },
  { key: 'node-role.kubernetes.io/dpu' }];
/** Which workloads run on tainted nodes, and which taints they must tolerate. */
const MUST_TOLERATE: Record<string, Taint[]> = {
  'Deployment/rdmagate-csi-controller': STORAGE_TAINTS,
  'DaemonSet/rdmagate-csi-node': STORAGE_TAINTS,
  'DaemonSet/rdmagate-csi-node-host': STORAGE_TAINTS,
  'DaemonSet/rdmagate-csi-node-dpu': DPU_TAINTS,
  'DaemonSet/rdmagate-dpu': DPU_TAINTS,
};

interface Probe { httpGet?: { port: number | string }; tcpSocket?: { port: number | string } }
interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  ports?: { name?: string; containerPort: number; hostPort?: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface Toleration { key?: string; operator?: 'Exists' | 'Equal'; value?: string; effect?: string }
interface PodSpec { hostNetwork?: boolean; containers: Container[]; initContainers?: Container[]; tolerations?: Toleration[] }
interface K8sObject { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }
interface Workload extends K8sObject { spec: { template: { spec: PodSpec } } }

/** Whether `t` tolerates `taint` with `effect`, as the scheduler matches them. */
function tolerates(t: Toleration, taint: Taint, effect: string): boolean {
  if (t.effect && t.effect !== effect) return false;
  if (t.operator === 'Exists') return t.key === undefined || t.key === '' || t.key === taint.key;
  return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
}

/** The port a probe asks for, a named one by the container's ports. */
function probePort(c: Container, p: Probe | undefined): number | undefined {
  const port = p?.httpGet?.port ?? p?.tcpSocket?.port;
  if (typeof port !== 'string') return port;
  const named = c.ports?.find((x) => x.name === port);
  assert.ok(named, `${c.name}: its probe's port "${port}" is one of its ports`);
  return named.containerPort;
}

/** The port a livenessprobe (or other CSI sidecar) serves health on, from --http-endpoint=:PORT or --health-port=PORT. */
function sidecarHealthPort(c: Container): number | undefined {
  for (const a of c.args ?? []) {
    const m = /^--http-endpoint=[^:]*:(\d+)$/.exec(a) ?? /^--health-port=(\d+)$/.exec(a);
    if (m) return Number(m[1]);
  }
  return undefined;
}

describe('CSI deploy manifests', () => {
  const manifests = readdirSync(DEPLOY).filter((f) => f.endsWith('.yaml') && f !== KUSTOMIZATION).sort();
  const files = manifests.map((f) => join(DEPLOY, f));
  const objects = (): K8sObject[] => files.flatMap((f) => loadAll(readFileSync(f, 'utf8')).filter((d) => d) as K8sObject[]);
  const isWorkload = (o: K8sObject): o is Workload => o.kind === 'Deployment' || o.kind === 'DaemonSet';
  const workloads = (): Workload[] => objects().filter(isWorkload);
  const id = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;

  it('parse as YAML, each document a Kubernetes object', () => {
    const kinds = files.flatMap((f) => loadAll(readFileSync(f, 'utf8')).filter((d) => d).map((d) => {
      const o = d as { apiVersion?: string; kind?: string; metadata?: { name?: string } };
      assert.ok(o.apiVersion && o.kind && o.metadata?.name, `${f}: a Kubernetes object`);
      return `${o.kind}/${o.metadata.name}`;
    }));
    for (const k of ['Namespace/rdmagate-system', 'CSIDriver/rdmagate.csi.io', 'Deployment/rdmagate-csi-controller', 'DaemonSet/rdmagate-csi-node',
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
    // Each role list a manifest gives is one the command takes.
    for (const [, list] of all.matchAll(/--role=([^"\s]+)/g)) parseCsiRoles(list);
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

  it('the commented StorageClass with dhchap and its Secret: uncommented, they parse, and name what the code reads', () => {
    interface Sc { kind: string; parameters: Record<string, string> }
    interface Secret { kind: string; metadata: { name: string; namespace: string }; stringData: Record<string, string> }
    const text = readFileSync(join(DEPLOY, 'storageclass.yaml'), 'utf8');
    // The commented documents: the file's "# " lines from the commented StorageClass on.
    const commented = text.split('\n').filter((l) => l.startsWith('# ') || l === '#').map((l) => l.slice(2)).join('\n');
    const docs = loadAll(commented.slice(commented.indexOf('apiVersion: storage.k8s.io/v1'))).filter((d) => d) as (Sc | Secret)[];
    const sc = docs.find((d): d is Sc => d.kind === 'StorageClass')!;
    const secret = docs.find((d): d is Secret => d.kind === 'Secret')!;
    assert.ok(sc && secret, 'a commented StorageClass and Secret');
    assert.equal(parseVolumeParameters(sc.parameters).dhchap, 'bidirectional');
    for (const call of ['controller-publish', 'node-stage']) {
      assert.equal(sc.parameters[`csi.storage.k8s.io/${call}-secret-name`], secret.metadata.name);
      assert.equal(sc.parameters[`csi.storage.k8s.io/${call}-secret-namespace`], secret.metadata.namespace);
    }
    assert.deepEqual(Object.keys(secret.stringData), [DHCHAP_MASTER_SECRET_KEY]);
    // The placeholder is no key: applied unchanged, it is refused rather than used.
    assert.throws(() => dhchapSecretSource(secret.stringData, 'bidirectional', 'v', 'ControllerPublishVolume'), /at least 32 bytes/);
    // The attacher may read it.
    const rbac = loadAll(readFileSync(join(DEPLOY, 'rbac.yaml'), 'utf8')) as { kind: string; metadata: { name: string };
      rules?: { resources: string[]; verbs: string[] }[] }[];
    const role = rbac.find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'rdmagate-csi-controller');
    assert.ok(role?.rules?.some((r) => r.resources.includes('secrets') && r.verbs.includes('get')));
  });

  it('kustomization.yaml lists every manifest in deploy/ exactly once, namespace.yaml first, and all live in that namespace', () => {
    const k = load(readFileSync(join(DEPLOY, KUSTOMIZATION), 'utf8')) as { apiVersion: string; kind: string; resources: string[] };
    assert.deepEqual([k.apiVersion, k.kind], ['kustomize.config.k8s.io/v1beta1', 'Kustomization']);
    assert.equal(k.resources[0], 'namespace.yaml');
    assert.equal(new Set(k.resources).size, k.resources.length, `listed once each: ${k.resources.join(', ')}`);
    assert.deepEqual([...k.resources].sort(), manifests, 'every manifest, and only those');
    const ns = loadAll(readFileSync(join(DEPLOY, 'namespace.yaml'), 'utf8')) as K8sObject[];
    assert.deepEqual(ns.map(id), ['Namespace/rdmagate-system']);
    for (const o of objects()) {
      if (o.metadata.namespace !== undefined) assert.equal(o.metadata.namespace, ns[0].metadata.name, id(o));
    }
    for (const w of workloads()) assert.equal(w.metadata.namespace, ns[0].metadata.name, `${id(w)} names its namespace`);
  });

  it('the health port is set in one place per pod: kustomization.yaml copies it to the livenessprobe, and the files agree', () => {
    interface Replacement {
      source: { kind: string; name: string; fieldPath: string };
      targets: { select: { kind: string; name: string }; fieldPaths: string[]; options: { delimiter: string; index: number } }[];
    }
    const k = load(readFileSync(join(DEPLOY, KUSTOMIZATION), 'utf8')) as { replacements: Replacement[] };
    const withSidecar = workloads().filter((w) => w.spec.template.spec.containers.some((c) => c.name === 'liveness-probe'));
    assert.deepEqual(k.replacements.map((r) => `${r.source.kind}/${r.source.name}`).sort(), withSidecar.map(id).sort());
    for (const r of k.replacements) {
      const w = withSidecar.find((x) => id(x) === `${r.source.kind}/${r.source.name}`)!;
      const m = /^spec\.template\.spec\.containers\.\[name=([\w-]+)\]\.ports\.\[name=healthz\]\.containerPort$/.exec(r.source.fieldPath);
      assert.ok(m, r.source.fieldPath);
      const plugin = w.spec.template.spec.containers.find((c) => c.name === m[1])!;
      const port = plugin.ports?.find((p) => p.name === 'healthz')?.containerPort;
      assert.ok(port, `${id(w)}: ${m[1]} has a port named healthz`);
      assert.equal(probePort(plugin, plugin.livenessProbe), port, `${id(w)}: ${m[1]}'s livenessProbe asks the healthz port`);
      assert.deepEqual(r.targets.map((t) => `${t.select.kind}/${t.select.name}`), [id(w)]);
      assert.deepEqual(r.targets[0].fieldPaths, ['spec.template.spec.containers.[name=liveness-probe].args.1']);
      assert.deepEqual(r.targets[0].options, { delimiter: ':', index: 1 });
      // What kustomize writes there is what the file has, so `kubectl apply -f` gets the same.
      const sidecar = w.spec.template.spec.containers.find((c) => c.name === 'liveness-probe')!;
      assert.equal(sidecar.args?.[1], `--http-endpoint=:${port}`, id(w));
    }
  });

  it('every container requests CPU and memory; the Kubernetes sidecars also have a memory limit', () => {
    for (const w of workloads()) {
      const pod = w.spec.template.spec;
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        const where = `${id(w)} container ${c.name}`;
        assert.match(c.resources?.requests?.cpu ?? '', /^\d+m?$/, `${where}: requests.cpu`);
        assert.match(c.resources?.requests?.memory ?? '', /^\d+[MG]i$/, `${where}: requests.memory`);
        if (c.image.startsWith(SIDECAR_IMAGE)) assert.match(c.resources?.limits?.memory ?? '', /^\d+[MG]i$/, `${where}: limits.memory`);
      }
    }
  });

  it(`health and declared ports on the node's network: never ${LIVENESSPROBE_DEFAULT_PORT}, and no two pods share one`, () => {
    const owner = new Map<number, string>();
    for (const w of workloads()) {
      const pod = w.spec.template.spec;
      assert.equal(pod.hostNetwork, true, `${id(w)}: every pod here is on the node's network, so its ports are the node's`);
      const ports = new Set<number>();
      for (const c of pod.containers) {
        for (const p of c.ports ?? []) ports.add(p.hostPort ?? p.containerPort);
        for (const p of [probePort(c, c.livenessProbe), probePort(c, c.readinessProbe), sidecarHealthPort(c)]) if (p !== undefined) ports.add(p);
      }
      // A livenessprobe sidecar answers where its pod's liveness probe asks.
      const sidecar = pod.containers.find((c) => c.name === 'liveness-probe');
      if (sidecar) {
        const asked = pod.containers.filter((c) => c !== sidecar).map((c) => probePort(c, c.livenessProbe)).filter((p) => p !== undefined);
        assert.deepEqual(asked, [sidecarHealthPort(sidecar)], `${id(w)}: the probe asks the sidecar's port`);
      }
      for (const p of ports) {
        assert.notEqual(p, LIVENESSPROBE_DEFAULT_PORT, `${id(w)} uses ${p}`);
        assert.equal(owner.get(p) ?? id(w), id(w), `port ${p}: ${owner.get(p)} and ${id(w)}`);
        owner.set(p, id(w));
      }
    }
    assert.ok(owner.size >= 3, `the controller's and the node's health ports, and OPI's: ${[...owner.keys()].join(', ')}`);
  });

  it('the pods of storage nodes and DPUs tolerate those nodes\' taints, whatever their effect', () => {
    const found = workloads();
    for (const [name, taints] of Object.entries(MUST_TOLERATE)) {
      const w = found.find((x) => id(x) === name);
      assert.ok(w, `${name} is in deploy/`);
      const tolerations = w.spec.template.spec.tolerations ?? [];
      for (const taint of taints) {
        for (const effect of ['NoSchedule', 'PreferNoSchedule', 'NoExecute']) {
          assert.ok(tolerations.some((t) => tolerates(t, taint, effect)), `${name} tolerates ${taint.key}=${taint.value ?? ''}:${effect}`);
        }
      }
      // Not a blanket toleration: the pod still keeps off nodes tainted for something else.
      assert.ok(!tolerations.some((t) => tolerates(t, { key: 'example.com/other' }, 'NoSchedule')), `${name} tolerates only its nodes' taints`);
    }
  });
});
