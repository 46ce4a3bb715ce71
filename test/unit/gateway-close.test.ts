/**
 * A gateway's close waits for its backends off the JS thread (Target.close): a backend
 * reached through something this process serves (here a TCP relay on its event loop) shuts
 * down cleanly, at once, and leaves no host socket behind. With the waiting on the JS
 * thread, the relay could not forward the shutdown: the close hung 5 s and left a socket.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { ClosedError, Gateway, Target, hostResources } from '../../lib';
import { settle } from './host-fake-controller';

const NQN = 'nqn.2026-12.io.rdmagate:close-backend';

describe('gateway close', function () {
  this.timeout(30000);

  it('closes a backend reached through this process\'s own event loop at once, with no socket left', async () => {
    const backend = new Target();
    backend.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: 4 << 20 });
    backend.addSubsystem({ nqn: NQN, allowAnyHost: true }).addNamespace({ bdev: 'Malloc0' });
    const port = backend.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
    const sockets = new Set<net.Socket>();
    const relay = net.createServer((client) => {
      const upstream = net.connect(port, '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => { sockets.delete(s); client.destroy(); upstream.destroy(); });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const gateway = new Gateway({ socketPath: null, configPath: null, log: () => undefined });
    try {
      await gateway.start();
      await gateway.rpc('bdev_nvme_attach_controller', { name: 'Nvme0', trtype: 'tcp', traddr: '127.0.0.1',
        trsvcid: String((relay.address() as net.AddressInfo).port), subnqn: NQN });
      const before = hostResources().sockets;
      assert.ok(before >= 2, 'the backend\'s admin and I/O queues are connected');
      await gateway.close();
      await settle();
      assert.equal(hostResources().sockets, 0, 'no host socket left: the backend shut down through the relay');
    } finally {
      await gateway.close();
      relay.close();
      for (const s of sockets) s.destroy();
      backend.closeSync();
    }
  });

  it('Target.close() is closed to every call at once and resolves once the reactors are gone', async () => {
    const target = new Target({ reactors: 2 });
    target.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: 1 << 20 });
    const port = target.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port;
    const closing = target.close();
    assert.equal(target.closed, true);
    assert.throws(() => target.bdevs(), ClosedError);
    await closing;
    await target.close();  // again: nothing left to do
    // The listener went with it: its port takes a new listener.
    const again = new Target();
    try {
      assert.equal(again.listen({ transport: 'tcp', address: '127.0.0.1', port }).port, port);
    } finally {
      await again.close();
    }
  });
});
