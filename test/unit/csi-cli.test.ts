/**
 * `rdmagate csi` as a process: a controller against a gateway's JSON-RPC socket and a node
 * plugin, each answering CSI on its unix socket, and stopping cleanly on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway } from '../../lib';
import { CsiClient } from '../../lib/csi';
import { CLI_MAIN as MAIN, runCsi as run, waitForCsi as waitFor } from '../support/csi-cli';

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
      [['--role', 'default', '--endpoint', 'tcp://0.0.0.0:1'], /unix:/],
      [['--role', 'dpu'], /--dpu-subsystem NQN is required/],
      [['--role', 'dpu', '--dpu-subsystem', 'host-facing'], /--dpu-subsystem must be an NQN/],
      [['--role', 'dpu', '--dpu-subsystem', 'nqn.2026-11.io.rdmagate:dpu', '--connection-mode', 'pcie'], /--connection-mode must be one of aio, nvmf/],
      [['--role', 'host', '--dpu-subsystem', 'nqn.2026-11.io.rdmagate:dpu'], /--dpu-subsystem is for --role dpu only/],
      [['--role', 'default', '--dpu-endpoint', '127.0.0.1:50051'], /--dpu-endpoint is for --role host only/],
      [['--role', 'host', '--dpu-function', 'host-function'], /--dpu-function needs --dpu-endpoint/],
      [['--role', 'host', '--connection-mode', 'nvmf'], /--connection-mode is for --role dpu, or --role host with --dpu-endpoint/],
      [['--role', 'host', '--dpu-endpoint', '127.0.0.1:50051', '--connection-mode', 'pcie'], /--connection-mode must be one of aio, nvmf/],
    ] as const) {
      const r = spawnSync(process.execPath, [MAIN, 'csi', ...args], { encoding: 'utf8', timeout: 10000 });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, message);
    }
  });
});
