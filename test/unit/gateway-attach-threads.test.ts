/**
 * An attach waits for its backend (connection, Identify) on the target's reactor, holding
 * no thread, and none of libuv's four: backends that never answer cannot stall the
 * process's fs and dns calls. Shown by order, not by time: file reads finish while every
 * attach is still waiting.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { Target } from '../../lib';

/** Accepts NVMe/TCP connections and never answers their ICReq. */
async function silentController(): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => sockets.push(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port, sockets };
}

describe('backend attach and the libuv thread pool', function () {
  this.timeout(30000);

  it('six attaches to a silent controller leave the thread pool free', async () => {
    const silent = await silentController();
    const gateway = new Target({ reactors: 1 });
    try {
      const settled: string[] = [];
      const attaches = Array.from({ length: 6 }, (_, i) =>
        gateway.attachNvmeController({ name: `Slow${i}`, traddr: '127.0.0.1', trsvcid: silent.port,
          subnqn: 'nqn.2026-11.io.rdmagate:silent', attachTimeoutMs: 3000, ctrlLossTmo: 0 })
          .then(() => settled.push(`Slow${i} attached`), (e: Error & { code: string }) => settled.push(`Slow${i} ${e.code}`)));
      // More pool work than libuv has threads (4), each a real read of this file.
      await Promise.all(Array.from({ length: 8 }, () => readFile(__filename)));
      assert.deepEqual(settled, [], 'the reads finished while every attach still waited');
      await Promise.all(attaches);
      assert.equal(settled.length, 6);
      for (const s of settled) assert.match(s, /ERR_NVME_TIMEOUT|ERR_NVME_CONNECT/);
      assert.deepEqual(gateway.nvmeControllers(), [], 'failed attaches leave nothing behind');
    } finally {
      gateway.closeSync();
      for (const s of silent.sockets) s.destroy();
      silent.server.close();
    }
  });

  it('a target closed while an attach waits settles it, and nothing is left', async () => {
    const silent = await silentController();
    const gateway = new Target({ reactors: 1 });
    const attach = gateway.attachNvmeController({ name: 'Slow', traddr: '127.0.0.1', trsvcid: silent.port,
      subnqn: 'nqn.2026-11.io.rdmagate:silent', attachTimeoutMs: 2000, ctrlLossTmo: 0 });
    gateway.closeSync();
    await assert.rejects(attach, (e: Error & { code: string }) => /^ERR_/.test(e.code));
    for (const s of silent.sockets) s.destroy();
    silent.server.close();
  });
});
