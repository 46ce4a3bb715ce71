/**
 * A fake NVMe/TCP controller for host tests: a small Node server that speaks just enough
 * NVMe/TCP to get a host through connect and simple I/O, with hooks that let a test
 * bend one thing (ICResp, Connect, an I/O command).
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { hostResources, type ConnectOptions } from '../../lib';

export const SUBNQN = 'nqn.2026-11.io.rdmagate:fake';
export const BLOCKS = 1024;
export const BLOCK = 512;

export interface Command {
  conn: FakeConnection;
  opcode: number;
  fctype: number;
  cid: number;
  nsid: number;
  cdw10: number;
  cdw11: number;
  cdw12: number;
  sqe: Buffer;
  data: Buffer;
}

type IoHook = (cmd: Command) => boolean;  // true: handled

export class FakeConnection {
  qid = -1;
  #buf = Buffer.alloc(0);
  readonly #writes = new Map<number, { slba: number; length: number; data: Buffer }>();

  constructor(readonly fake: FakeController, readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d) => this.#onData(d));
    socket.on('error', () => undefined);
  }

  #onData(d: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, d]);
    while (this.#buf.length >= 8 && this.#buf.length >= this.#buf.readUInt32LE(4)) {
      const plen = this.#buf.readUInt32LE(4);
      const pdu = this.#buf.subarray(0, plen);
      this.#buf = this.#buf.subarray(plen);
      this.#onPdu(pdu);
    }
  }

  #onPdu(p: Buffer): void {
    const type = p[0];
    if (type === 0) {
      if (!this.fake.onIcReq?.(this, p)) this.send(icResp(0x10000));
    } else if (type === 4) {
      const sqe = p.subarray(8, 72);
      const pdo = p[3];
      this.fake.command({
        conn: this, sqe, opcode: sqe[0], fctype: sqe[4], cid: sqe.readUInt16LE(2), nsid: sqe.readUInt32LE(4),
        cdw10: sqe.readUInt32LE(40), cdw11: sqe.readUInt32LE(44), cdw12: sqe.readUInt32LE(48),
        data: pdo ? Buffer.from(p.subarray(pdo)) : Buffer.alloc(0),
      });
    } else if (type === 6) {
      const cid = p.readUInt16LE(8);
      const offset = p.readUInt32LE(12);
      const len = p.readUInt32LE(16);
      this.fake.h2cPdus++;
      const w = this.#writes.get(cid);
      if (!w) return;
      p.copy(w.data, offset, p[3], p[3] + len);
      if (offset + len === w.length) {
        this.#writes.delete(cid);
        w.data.copy(this.fake.disk, w.slba * BLOCK);
        this.respond(cid);
      }
    }
  }

  send(b: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(b);
  }

  respond(cid: number, opts: { status?: number; dw0?: number; dw1?: number } = {}): void {
    this.ioDone(cid);
    const b = Buffer.alloc(24);
    b[0] = 5; b[2] = 24; b.writeUInt32LE(24, 4);
    b.writeUInt32LE(opts.dw0 ?? 0, 8);
    b.writeUInt32LE(opts.dw1 ?? 0, 12);
    b.writeUInt16LE(Math.max(this.qid, 0), 18);
    b.writeUInt16LE(cid, 20);
    b.writeUInt16LE(((opts.status ?? 0) << 1) & 0xffff, 22);
    this.send(b);
  }

  /** I/O commands sent to the fake and not yet answered, by command id. */
  readonly ioCids = new Set<number>();

  ioDone(cid: number): void {
    if (this.ioCids.delete(cid)) this.fake.ioInFlight--;
  }

  c2h(cid: number, data: Buffer, flags = 0x04): void {
    if (flags & 0x08) this.ioDone(cid);  // SUCCESS: no response capsule follows
    const h = Buffer.alloc(24);
    h[0] = 7; h[1] = flags; h[2] = 24; h[3] = 24; h.writeUInt32LE(24 + data.length, 4);
    h.writeUInt16LE(cid, 8);
    h.writeUInt32LE(0, 12);
    h.writeUInt32LE(data.length, 16);
    this.send(Buffer.concat([h, data]));
  }

  r2t(cid: number, slba: number, length: number): void {
    this.#writes.set(cid, { slba, length, data: Buffer.alloc(length) });
    const h = Buffer.alloc(24);
    h[0] = 9; h[2] = 24; h.writeUInt32LE(24, 4);
    h.writeUInt16LE(cid, 8);
    h.writeUInt16LE(cid, 10);
    h.writeUInt32LE(0, 12);
    h.writeUInt32LE(length, 16);
    this.send(h);
  }

  termReq(fes: number): void {
    const h = Buffer.alloc(24);
    h[0] = 3; h[2] = 24; h.writeUInt32LE(24, 4);
    h.writeUInt16LE(fes, 8);
    this.send(h);
  }
}

export function icResp(maxh2cdata: number, pfv = 0): Buffer {
  const b = Buffer.alloc(128);
  b[0] = 1; b[2] = 128; b.writeUInt32LE(128, 4);
  b.writeUInt16LE(pfv, 8);
  b.writeUInt32LE(maxh2cdata, 12);
  return b;
}

export class FakeController {
  readonly server: Server;
  readonly connections: FakeConnection[] = [];
  readonly disk = Buffer.alloc(BLOCKS * BLOCK);
  onIcReq: ((conn: FakeConnection, pdu: Buffer) => boolean) | undefined;
  onConnect: ((cmd: Command) => boolean) | undefined;
  onIo: IoHook | undefined;
  incapsule = 8192;
  maxQueues = 4;
  keepAlives = 0;
  aborts: number[] = [];
  h2cPdus = 0;
  ioInFlight = 0;
  maxIoInFlight = 0;
  #cc = 0;

  constructor() {
    this.server = createServer((s) => this.connections.push(new FakeConnection(this, s)));
  }

  async listen(host = '127.0.0.1'): Promise<number> {
    this.server.listen(0, host);
    await once(this.server, 'listening');
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  dropAll(): void {
    for (const c of this.connections) c.socket.destroy();
  }

  command(cmd: Command): void {
    if (cmd.opcode === 0x7f) return this.#fabrics(cmd);
    if (cmd.conn.qid === 0) return this.#admin(cmd);
    cmd.conn.ioCids.add(cmd.cid);
    this.ioInFlight++;
    this.maxIoInFlight = Math.max(this.maxIoInFlight, this.ioInFlight);
    if (this.onIo?.(cmd)) return;
    this.#io(cmd);
  }

  #fabrics(cmd: Command): void {
    const { conn, cid, sqe } = cmd;
    if (cmd.fctype === 0x01) {
      if (this.onConnect?.(cmd)) return;
      conn.qid = sqe.readUInt16LE(42);
      conn.respond(cid, { dw0: 1 });
    } else if (cmd.fctype === 0x04) {
      const offset = sqe.readUInt32LE(44);
      if (offset === 0x00) conn.respond(cid, { dw0: 127 | 1 << 24, dw1: 0 });  // MQES 127, TO 500 ms
      else if (offset === 0x08) conn.respond(cid, { dw0: 0x10300 });
      else if (offset === 0x1c) conn.respond(cid, { dw0: (this.#cc & 1) | ((this.#cc >> 14) & 3 ? 2 << 2 : 0) });
      else conn.respond(cid);
    } else if (cmd.fctype === 0x00) {
      if (sqe.readUInt32LE(44) === 0x14) this.#cc = sqe.readUInt32LE(48);
      conn.respond(cid);
    } else {
      conn.respond(cid, { status: 0x001 });
    }
  }

  #admin(cmd: Command): void {
    const { conn, cid } = cmd;
    switch (cmd.opcode) {
      case 0x06:
        conn.c2h(cid, this.#identify(cmd.cdw10 & 0xff));
        conn.respond(cid);
        return;
      case 0x09: {
        const n = Math.min((cmd.cdw11 & 0xffff) + 1, this.maxQueues) - 1;
        conn.respond(cid, { dw0: n | n << 16 });
        return;
      }
      case 0x18:
        this.keepAlives++;
        conn.respond(cid);
        return;
      case 0x08:
        this.aborts.push(cmd.cdw10 >>> 16);
        conn.respond(cid, { dw0: 1 });  // not aborted
        return;
      default:
        conn.respond(cid, { status: 0x001 });  // invalid opcode
    }
  }

  #identify(cns: number): Buffer {
    const b = Buffer.alloc(4096);
    if (cns === 1) {
      b.write('FAKE0001'.padEnd(20), 4, 'latin1');
      b.write('fake controller'.padEnd(40), 24, 'latin1');
      b.write('1.0'.padEnd(8), 64, 'latin1');
      b[77] = 5;
      b.writeUInt16LE(1, 78);
      b.writeUInt32LE(0x10300, 80);
      b[111] = 1;
      b[512] = 0x66; b[513] = 0x44;
      b.writeUInt16LE(128, 514);
      b.writeUInt32LE(1, 516);
      b.writeUInt16LE(0x0c, 520);
      b.writeUInt32LE(0x100001, 536);
      b.write(SUBNQN, 768, 'utf8');
      b.writeUInt32LE((64 + this.incapsule) / 16, 1792);
      b.writeUInt32LE(1, 1796);
    } else if (cns === 0) {
      b.writeBigUInt64LE(BigInt(BLOCKS), 0);
      b.writeBigUInt64LE(BigInt(BLOCKS), 8);
      b[128 + 2] = 9;
    } else if (cns === 2) {
      b.writeUInt32LE(1, 0);
    } else if (cns === 3) {
      b[0] = 3; b[1] = 16;
      Buffer.from('00112233445566778899aabbccddeeff', 'hex').copy(b, 4);
    }
    return b;
  }

  #io(cmd: Command): void {
    const { conn, cid } = cmd;
    const slba = cmd.cdw10;
    const length = ((cmd.cdw12 & 0xffff) + 1) * BLOCK;
    switch (cmd.opcode) {
      case 0x02:
        conn.c2h(cid, Buffer.from(this.disk.subarray(slba * BLOCK, slba * BLOCK + length)));
        conn.respond(cid);
        return;
      case 0x01:
        if (cmd.data.length) {
          cmd.data.copy(this.disk, slba * BLOCK);
          conn.respond(cid);
        } else {
          conn.r2t(cid, slba, length);
        }
        return;
      default:
        conn.respond(cid);
    }
  }
}

export async function withFake<T>(setup: (f: FakeController) => void, body: (f: FakeController, o: ConnectOptions) => Promise<T>,
  host = '127.0.0.1'): Promise<T> {
  const fake = new FakeController();
  setup(fake);
  const port = await fake.listen(host);
  try {
    return await body(fake, { traddr: host, trsvcid: port, subnqn: SUBNQN, timeoutMs: 5000 });
  } finally {
    await fake.close();
  }
}


/** Waits (briefly) for host sockets to be closed: close() resolves once they are. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 50 && hostResources().sockets > 0; i++) await new Promise((r) => setTimeout(r, 20));
}
