/**
 * `rdmagate csi` as a process: a controller against a gateway's JSON-RPC socket and a node
 * plugin, each answering CSI on its unix socket, and stopping cleanly on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway } from '../../lib';
import { CsiClient } from '../../lib/csi';
import { CLI_MAIN as MAIN, runCsi as run, stopCsi, waitForCsi as waitFor } from '../support/csi-cli';

describe('rdmagate csi (CLI)', function () {
  this.timeout(30000);
  let dir: string;
  let gateway: Gateway;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rdmagate-csi-cli-'));
    gateway = new Gateway({ socketPath: join(dir, 'gw.sock'), configPath: null, log: () => undefined });
    await gateway.start();
  });

  afterEach(async () => {
    await gateway.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('--role controller serves Identity and Controller until SIGTERM', async () => {
    const sock = join(dir, 'csi.sock');
    const { child, stderr } = run(['--role', 'controller', '--endpoint', `unix://${sock}`, '--pool-dir', join(dir, 'pool'),
      '--gateway-socket', join(dir, 'gw.sock'), '--tcp-listen', '127.0.0.1:4420']);
    try {
      await waitFor(sock, child, stderr);
      const c = new CsiClient(`unix://${sock}`);
      try {
        assert.equal((await c.call<{ name: string }>('Identity', 'GetPluginInfo')).name, 'rdmagate.csi.io');
        assert.deepEqual(await c.call('Identity', 'Probe'), { ready: { value: true } });
        const v = await c.call<{ volume: { volume_id: string } }>('Controller', 'CreateVolume', { name: 'cli',
          capacity_range: { required_bytes: 1 << 20 }, volume_capabilities: [{ block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] });
        assert.ok(existsSync(join(dir, 'pool', 'volumes', `${v.volume.volume_id}.img`)));
      } finally {
        c.close();
      }
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0, stderr());
      assert.ok(!existsSync(sock), 'the socket is removed');
      // Structured JSON lines on stderr.
      const lines = stderr().trim().split('\n').map((l) => JSON.parse(l) as { msg: string });
      assert.ok(lines.some((l) => l.msg === 'csi listening'));
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('--role controller with a gateway group (--gateway twice): publishes on both, every path in the context', async () => {
    const second = new Gateway({ socketPath: join(dir, 'gw2.sock'), configPath: null, log: () => undefined });
    await second.start();
    const sock = join(dir, 'csi.sock');
    const port = 10000 + Math.floor(Math.random() * 20000);
    const { child, stderr } = run(['--role', 'controller', '--endpoint', `unix://${sock}`, '--pool-dir', join(dir, 'pool'),
      '--gateway', `a=${join(dir, 'gw.sock')},tcp=127.0.0.1:${port}`, '--gateway', `b=${join(dir, 'gw2.sock')},tcp=127.0.0.1:${port + 1}`,
      '--group-min-members', '2', '--group-health-interval', '0.5']);
    try {
      await waitFor(sock, child, stderr);
      const c = new CsiClient(`unix://${sock}`);
      try {
        assert.deepEqual(await c.call('Identity', 'Probe'), { ready: { value: true } });
        const cap = { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
        const v = await c.call<{ volume: { volume_id: string } }>('Controller', 'CreateVolume', { name: 'grp',
          capacity_range: { required_bytes: 1 << 20 }, volume_capabilities: [cap] });
        const node = 'nqn.2014-08.org.nvmexpress:uuid:5f0c3b2a-9e8d-4c7b-a6f5-0e1d2c3b4a59';
        const { publish_context: ctx } = await c.call<{ publish_context: Record<string, string> }>('Controller', 'ControllerPublishVolume',
          { volume_id: v.volume.volume_id, node_id: node, volume_capability: cap });
        assert.deepEqual(JSON.parse(ctx.paths!).map((p: { trsvcid: string }) => Number(p.trsvcid)).sort(), [port, port + 1]);
        assert.equal(ctx.trsvcid, JSON.parse(ctx.paths!)[0].trsvcid);
        for (const g of [gateway, second]) {
          const subs = (await g.rpc('nvmf_get_subsystems')) as { nqn: string; ana_reporting?: boolean }[];
          assert.ok(subs.some((s) => s.nqn.endsWith(v.volume.volume_id) && s.ana_reporting), 'exported with ANA on each member');
        }
        // A member lost: the health check sees it, and Probe says publishing cannot go on (--group-min-members 2).
        await second.close();
        await new Promise((r) => setTimeout(r, 1500));
        await assert.rejects(c.call('Identity', 'Probe'), /1 of 2 gateway group members answer/);
        // The lost member is stale on record, in the pool directory, for a restarted controller.
        assert.deepEqual(JSON.parse(readFileSync(join(dir, 'pool', 'gateway-group.json'), 'utf8')), { version: 1, stale: ['b'] });
      } finally {
        c.close();
      }
      assert.equal(await stopCsi(child), 0, stderr());
      const lines = stderr().trim().split('\n').map((l) => JSON.parse(l) as { msg: string; member?: string });
      assert.ok(lines.some((l) => l.msg === 'gateway group'));
      assert.ok(lines.some((l) => l.msg === 'gateway group member lost' && l.member === 'b'), stderr());
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await second.close();
    }
  });

  it('--role default answers NodeGetInfo with the given node id', async () => {
    const sock = join(dir, 'node.sock');
    const nqn = 'nqn.2014-08.org.nvmexpress:uuid:0e3c4a8e-7f61-4d2e-9b0a-2b6f7c9d1e42';
    const { child, stderr } = run(['--role', 'default', '--endpoint', `unix://${sock}`, '--node-id', nqn]);
    try {
      await waitFor(sock, child, stderr);
      const c = new CsiClient(`unix://${sock}`);
      try {
        assert.equal((await c.call<{ node_id: string }>('Node', 'NodeGetInfo')).node_id, nqn);
      } finally {
        c.close();
      }
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  it('--role dpu takes back what its gateway exposed, through --dpu-rpc-socket', async () => {
    const sock = join(dir, 'dpu.sock');
    const subsystem = 'nqn.2026-11.io.rdmagate:dpu:host-facing';
    const id = '3f0c1a52-8d4e-4b7a-9c61-0a2b3c4d5e6f';
    await gateway.rpc('nvmf_create_subsystem', { nqn: subsystem, allow_any_host: true });
    writeFileSync(join(dir, 'disk'), Buffer.alloc(1 << 20));
    await gateway.rpc('bdev_uring_create', { name: `dpu_${id}`, filename: join(dir, 'disk') });
    const { child, stderr } = run(['--role', 'dpu', '--endpoint', `unix://${sock}`, '--dpu-subsystem', subsystem,
      '--dpu-rpc-socket', join(dir, 'gw.sock'), '--node-id', 'nqn.2014-08.org.nvmexpress:uuid:0e3c4a8e-7f61-4d2e-9b0a-2b6f7c9d1e42']);
    try {
      await waitFor(sock, child, stderr);
      const c = new CsiClient(`unix://${sock}`);
      try {
        await c.call('Node', 'NodeUnstageVolume', { volume_id: id, staging_target_path: join(dir, 'staging') });
        await assert.rejects(gateway.rpc('bdev_get_bdevs', { name: `dpu_${id}` }), /No such device/);
      } finally {
        c.close();
      }
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  it('--role host with --dpu-endpoint serves while its DPU is not up yet, and says so', async () => {
    const sock = join(dir, 'host.sock');
    const { child, stderr } = run(['--role', 'host', '--endpoint', `unix://${sock}`, '--dpu-endpoint', '127.0.0.1:1']);
    try {
      await waitFor(sock, child, stderr);
      assert.match(stderr(), /cannot connect to the DPU host function yet/);
      const c = new CsiClient(`unix://${sock}`);
      try {
        await assert.rejects(c.call('Identity', 'Probe'), /UNAVAILABLE: the DPU's OPI bridge answered/);
      } finally {
        c.close();
      }
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  it('refuses bad arguments', () => {
    for (const [args, message] of [
      [['--role', 'worker'], /--role must be one of controller, default, host, dpu/],
      [['--role', 'controller', '--endpoint', 'unix:///tmp/x.sock'], /--tcp-listen IP:PORT is required/],
      [['--role', 'controller', '--tcp-listen', 'localhost:4420'], /must be IP:PORT/],
      [['--role', 'controller', '--tcp-listen', '127.0.0.1:4420', '--key-dir', 'keys'], /--key-dir must be an absolute path, got 'keys'/],
      [['--role', 'default', '--endpoint', 'tcp://0.0.0.0:1'], /unix:/],
      [['--role', 'dpu'], /--dpu-subsystem NQN is required/],
      [['--role', 'dpu', '--dpu-subsystem', 'host-facing'], /--dpu-subsystem must be an NQN/],
      [['--role', 'dpu', '--dpu-subsystem', 'nqn.2026-11.io.rdmagate:dpu', '--connection-mode', 'pcie'], /--connection-mode must be one of aio, nvmf/],
      [['--role', 'host', '--dpu-subsystem', 'nqn.2026-11.io.rdmagate:dpu'], /--dpu-subsystem is for --role dpu only/],
      [['--role', 'default', '--dpu-endpoint', '127.0.0.1:50051'], /--dpu-endpoint is for --role host only/],
      [['--role', 'host', '--dpu-function', 'host-function'], /--dpu-function needs --dpu-endpoint/],
      [['--role', 'host', '--connection-mode', 'nvmf'], /--connection-mode is for --role dpu, or --role host with --dpu-endpoint/],
      [['--role', 'host', '--dpu-endpoint', '127.0.0.1:50051', '--connection-mode', 'pcie'], /--connection-mode must be one of aio, nvmf/],
      [['--role', 'controller', '--gateway', 'a=/run/a.sock,tcp=127.0.0.1:4420', '--tcp-listen', '127.0.0.1:4420'],
        /--tcp-listen is for one gateway: with --gateway, each member says its own/],
      [['--role', 'controller', '--tcp-listen', '127.0.0.1:4420', '--group-min-members', '1'], /--group-min-members is for a gateway group/],
      [['--role', 'controller', '--gateway', 'a=/run/a.sock'], /member "a" needs tcp=IP:PORT/],
      [['--role', 'controller', '--gateway', 'a=/run/a.sock,tcp=127.0.0.1:4420', '--gateway', 'a=/run/b.sock,tcp=127.0.0.1:4421'],
        /member "a" is named twice/],
      [['--role', 'controller', '--gateway', 'tcp=127.0.0.1:4420'], /tcp= must follow the member's NAME=SOCKET/],
      [['--role', 'controller', '--gateway', 'a=run/a.sock,tcp=127.0.0.1:4420'], /socket must be an absolute path/],
      [['--role', 'controller', '--gateway', 'a=/run/a.sock,tcp=127.0.0.1:4420', '--group-min-members', '2'],
        /--group-min-members must be a number in \[1, 1\]/],
      [['--role', 'controller', '--gateway', 'a=/run/a.sock,tcp=127.0.0.1:4420', '--group-health-interval', '0'],
        /--group-health-interval must be seconds/],
      [['--role', 'controller', '--gateway', 'a=/run/a.sock,tcp=127.0.0.1:4420,rdma=127.0.0.1:4421', '--gateway', 'b=/run/b.sock,tcp=127.0.0.1:4422'],
        /--gateway: either every member has an rdma= address or none has/],
    ] as const) {
      const r = spawnSync(process.execPath, [MAIN, 'csi', ...args], { encoding: 'utf8', timeout: 10000 });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, message);
    }
  });
});
