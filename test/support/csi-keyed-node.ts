/**
 * What the node tests of volumes that require keys (DH-HMAC-CHAP, NVMe/TCP TLS) share: a fake
 * nvme-cli that quotes its arguments when it fails, an attacher that records what it was
 * asked, and a fixture that gives each test a fresh directory with a fake kernel host in it
 * (test/unit/fake-nvme-host.ts) and a log that keeps what it was given, with node services
 * on either, the volumes and stage requests the tests make and the connects nvme-cli ran.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CsiLogger, KernelNvmeAttacher, NodeService, volumeNqn, type AttachOptions, type PublishContext, type VolumeAttacher } from '../../lib/csi';
import type { ConnectTuning } from '../../lib/csi/parameters';
import type { StringMap } from '../../lib/csi/types';
import type { LogEntry } from '../../lib/log/logger';
import { FakeNvmeHost } from '../unit/fake-nvme-host';
import { assertNoSecretIn } from './no-secret';

const BLOCK = { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } };

/** nvme-cli that echoes its arguments when it fails, as a careless version might. */
export class EchoingNvmeHost extends FakeNvmeHost {
  override async exec(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const r = await super.exec(cmd, args);
    return r.code === 0 ? r : { ...r, stderr: `${r.stderr}invalid arguments: ${args.join(' ')}\n` };
  }
}

/** An attacher that records the options it was given. */
export class RecordingAttacher implements VolumeAttacher {
  readonly role = 'default';
  readonly options: AttachOptions[] = [];
  async probe(): Promise<void> {}
  async attach(_ctx: PublishContext, _tuning: ConnectTuning, _hostnqn: string, options: AttachOptions = {}): Promise<string> {
    this.options.push(options);
    return '/dev/nvme9n1';
  }
  async device(): Promise<string | undefined> { return undefined; }
  async detach(): Promise<void> {}
  async rescan(): Promise<number> { return 0; }
}

/** One test's directory, fake host and log (set before each test); its helpers need no `this`. */
export class KeyedNodeFixture {
  dir = '';
  host!: FakeNvmeHost;
  logs: LogEntry[] = [];
  log!: CsiLogger;

  /** `hostnqn`: the node's; `trsvcid`: the port its volumes' publish_context names. */
  constructor(readonly hostnqn: string, readonly trsvcid: string) {}

  readonly nodeWith = (attacher: VolumeAttacher, role: 'default' | 'dpu' | 'host' = 'default'): NodeService =>
    new NodeService({ role, log: this.log, nodeId: this.hostnqn, attacher, rdma: false });

  /** A node whose kernel attacher drives `system` (the test's fake host by default). */
  readonly kernelNode = (system: FakeNvmeHost = this.host): NodeService =>
    this.nodeWith(new KernelNvmeAttacher({ system, log: this.log, deviceTimeoutMs: 1000, pollMs: 10 }));

  /** A volume the fake host can connect, and its publish_context (on each of `paths`, where given). */
  readonly volume = (paths?: { traddr: string; trsvcid: string }[]): { id: string; ctx: StringMap } => {
    const id = randomUUID();
    const nguid = id.replace(/-/g, '');
    this.host.subsystem(volumeNqn(id), { uuid: id, nguid });
    return { id, ctx: { transport: 'tcp', traddr: '10.0.0.1', trsvcid: this.trsvcid, subnqn: volumeNqn(id), uuid: id, nguid,
      ...(paths ? { paths: JSON.stringify(paths) } : {}) } };
  };

  readonly stageReq = (id: string, ctx: StringMap, volumeContext: StringMap, secrets: StringMap) => ({ volume_id: id,
    staging_target_path: join(this.dir, 'staging', id), volume_capability: BLOCK, publish_context: ctx, volume_context: volumeContext, secrets });

  /** The value after `name` in `args`, if it is there. */
  readonly flag = (args: string[], name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);

  /** The `nvme connect` commands the fake host ran, in order. */
  readonly connects = (): string[][] => this.host.commands.filter((c) => c[0] === 'nvme' && c[1] === 'connect');

  /** None of `secrets` (nor the key part of a DHHC-1 or NVMeTLSkey-1 one) in `text`. */
  readonly noSecretIn = (text: string, ...secrets: string[]): void => assertNoSecretIn(text, secrets, text);
}

/** Registers, in the calling describe(), the hooks that set the fixture up in a new `tmpPrefix` directory and remove it after each test. */
export function keyedNodeFixture(tmpPrefix: string, hostnqn: string, trsvcid: string): KeyedNodeFixture {
  const f = new KeyedNodeFixture(hostnqn, trsvcid);
  beforeEach(() => {
    f.dir = mkdtempSync(join(tmpdir(), tmpPrefix));
    f.host = new FakeNvmeHost(f.dir);
    f.logs = [];
    f.log = new CsiLogger((e) => f.logs.push(e));
  });
  afterEach(() => rmSync(f.dir, { recursive: true, force: true }));
  return f;
}
