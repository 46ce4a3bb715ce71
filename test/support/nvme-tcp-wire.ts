/**
 * A deliberately small NVMe/TCP host for tests: it frames PDUs by hand, so tests can send
 * both correct and malformed traffic to the target and look at every byte it answers.
 */
import { Socket, connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { crc32c } from '../../lib/perf/crc32c';

export const PDU = { IcReq: 0, IcResp: 1, H2CTermReq: 2, C2HTermReq: 3, Cmd: 4, Rsp: 5, H2CData: 6, C2HData: 7, R2T: 9 } as const;
export const DISCOVERY_NQN = 'nqn.2014-08.org.nvmexpress.discovery';
export const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:6f1f3c1e-8d0b-4b53-9d2e-0c6b1f0a7a11';
export const HOSTID = Buffer.from('6f1f3c1e8d0b4b539d2e0c6b1f0a7a11', 'hex');

export interface Pdu {
  type: number;
  flags: number;
  hlen: number;
  pdo: number;
  plen: number;
  header: Buffer;
  data: Buffer;
}

export interface Completion {
  dw0: number;
  dw1: number;
  sqhd: number;
  sqid: number;
  cid: number;
  sct: number;
  sc: number;
  dnr: boolean;
}

export class WireClient {
  readonly socket: Socket;
  hdgst = false;
  ddgst = false;
  private buf = Buffer.alloc(0);
  private waiters: ((p: Pdu | null) => void)[] = [];
  private queue: Pdu[] = [];
  closed = false;
  private nextCid = 1;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d) => this.onData(d));
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w(null);
    });
    socket.on('error', () => undefined);
  }

  static async open(port: number, host = '127.0.0.1'): Promise<WireClient> {
    const s = netConnect({ port, host });
    await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
    s.setNoDelay(true);
    return new WireClient(s);
  }

  /**
   * Over TLS 1.3 with an external PSK (Node's OpenSSL binds it with SHA-256): `identity` and
   * `psk` (the TLS PSK itself, as tls-psk.ts derives it) are offered as they are, so a test
   * can offer one host's identity and then Connect as another.
   */
  static async openTls(port: number, identity: string, psk: Buffer, host = '127.0.0.1'): Promise<WireClient> {
    const s = tlsConnect({ port, host, minVersion: 'TLSv1.3', ciphers: 'TLS_AES_128_GCM_SHA256',
      pskCallback: () => ({ identity, psk }), checkServerIdentity: () => undefined });
    await new Promise<void>((resolve, reject) => { s.once('secureConnect', resolve); s.once('error', reject); });
    s.setNoDelay(true);
    return new WireClient(s);
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 8) {
      const plen = this.buf.readUInt32LE(4);
      if (this.buf.length < plen) break;
      const raw = this.buf.subarray(0, plen);
      this.buf = this.buf.subarray(plen);
      const type = raw[0], flags = raw[1], hlen = raw[2], pdo = raw[3];
      const ddg = (flags & 0x02) !== 0 ? 4 : 0;
      const pdu: Pdu = { type, flags, hlen, pdo, plen, header: Buffer.from(raw.subarray(0, hlen)),
        data: pdo ? Buffer.from(raw.subarray(pdo, plen - ddg)) : Buffer.alloc(0) };
      const w = this.waiters.shift();
      if (w) w(pdu); else this.queue.push(pdu);
    }
  }

  /** The next PDU, or null once the target has closed the connection. */
  next(timeoutMs = 5000): Promise<Pdu | null> {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const waiter = (p: Pdu | null) => { clearTimeout(t); resolve(p); };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);  // a later PDU must not go to a caller that gave up
        reject(new Error('no PDU within timeout'));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  waitClosed(timeoutMs = 10000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('connection not closed within timeout')), timeoutMs);
      this.socket.once('close', () => { clearTimeout(t); resolve(); });
    });
  }

  raw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }

  sendIcReq(opts: { hdgst?: boolean; ddgst?: boolean } = {}): void {
    const p = Buffer.alloc(128);
    p.writeUInt8(PDU.IcReq, 0);
    p.writeUInt8(128, 2);
    p.writeUInt32LE(128, 4);
    p.writeUInt16LE(0, 8);   // pfv
    p.writeUInt8(0, 10);     // hpda
    p.writeUInt8((opts.hdgst ? 1 : 0) | (opts.ddgst ? 2 : 0), 11);
    this.raw(p);
  }

  async icreq(opts: { hdgst?: boolean; ddgst?: boolean } = {}): Promise<Pdu> {
    this.sendIcReq(opts);
    const rsp = await this.next();
    if (!rsp || rsp.type !== PDU.IcResp) throw new Error(`expected ICResp, got ${rsp?.type}`);
    this.hdgst = (rsp.header[11] & 1) !== 0;
    this.ddgst = (rsp.header[11] & 2) !== 0;
    return rsp;
  }

  /** Sends a command capsule; `data` goes in-capsule. Returns the cid used. */
  sendCommand(sqe: Buffer, data?: Buffer): number {
    const cid = this.nextCid++ & 0xffff;
    sqe.writeUInt16LE(cid, 2);
    const hd = this.hdgst ? 4 : 0;
    const hlen = 72;
    const pdo = data ? hlen + hd : 0;
    const dd = data && this.ddgst ? 4 : 0;
    const plen = hlen + hd + (data ? data.length + dd : 0);
    const h = Buffer.alloc(hlen);
    h.writeUInt8(PDU.Cmd, 0);
    h.writeUInt8((this.hdgst ? 1 : 0) | (data && this.ddgst ? 2 : 0), 1);
    h.writeUInt8(hlen, 2);
    h.writeUInt8(pdo, 3);
    h.writeUInt32LE(plen, 4);
    sqe.copy(h, 8);
    const parts: Buffer[] = [h];
    if (this.hdgst) parts.push(digest(h));
    if (data) {
      parts.push(data);
      if (this.ddgst) parts.push(digest(data));
    }
    this.raw(Buffer.concat(parts));
    return cid;
  }

  sendH2CData(cccid: number, ttag: number, offset: number, data: Buffer, last: boolean): void {
    const hd = this.hdgst ? 4 : 0;
    const h = Buffer.alloc(24);
    h.writeUInt8(PDU.H2CData, 0);
    h.writeUInt8((this.hdgst ? 1 : 0) | (this.ddgst ? 2 : 0) | (last ? 4 : 0), 1);
    h.writeUInt8(24, 2);
    h.writeUInt8(24 + hd, 3);
    h.writeUInt32LE(24 + hd + data.length + (this.ddgst ? 4 : 0), 4);
    h.writeUInt16LE(cccid, 8);
    h.writeUInt16LE(ttag, 10);
    h.writeUInt32LE(offset, 12);
    h.writeUInt32LE(data.length, 16);
    const parts: Buffer[] = [h];
    if (this.hdgst) parts.push(digest(h));
    parts.push(data);
    if (this.ddgst) parts.push(digest(data));
    this.raw(Buffer.concat(parts));
  }

  /**
   * Runs one command to completion: answers R2Ts from `writeData`, gathers C2HData.
   * `inCapsule` sends writeData in the capsule instead.
   */
  async execute(sqe: Buffer, opts: { writeData?: Buffer; inCapsule?: boolean } = {}):
    Promise<{ cqe: Completion; data: Buffer }> {
    const { writeData, inCapsule } = opts;
    if (writeData) {
      setSgl(sqe, inCapsule ? 'incapsule' : 'transport', writeData.length);
    }
    const cid = this.sendCommand(sqe, inCapsule ? writeData : undefined);
    const chunks: Buffer[] = [];
    for (;;) {
      const p = await this.next();
      if (!p) throw new Error('connection closed by the target');
      if (p.type === PDU.R2T) {
        const ttag = p.header.readUInt16LE(10), r2to = p.header.readUInt32LE(12), r2tl = p.header.readUInt32LE(16);
        if (!writeData) throw new Error('unexpected R2T');
        for (let off = r2to; off < r2to + r2tl; off += 32768) {
          const end = Math.min(off + 32768, r2to + r2tl);
          this.sendH2CData(cid, ttag, off, writeData.subarray(off, end), end === r2to + r2tl);
        }
      } else if (p.type === PDU.C2HData) {
        chunks.push(p.data);
        if (p.flags & 0x08) {
          return { cqe: { dw0: 0, dw1: 0, sqhd: 0, sqid: 0, cid, sct: 0, sc: 0, dnr: false }, data: Buffer.concat(chunks) };
        }
      } else if (p.type === PDU.Rsp) {
        return { cqe: parseCqe(p.header.subarray(8, 24)), data: Buffer.concat(chunks) };
      } else {
        throw new Error(`unexpected PDU type ${p.type}`);
      }
    }
  }

  /** ICReq + Connect + (admin queue) CC.EN=1. Returns the Connect completion. */
  async connectQueue(opts: { subnqn: string; hostnqn?: string; qid?: number; cntlid?: number; sqsize?: number;
    kato?: number; hostid?: Buffer; hdgst?: boolean; ddgst?: boolean; enable?: boolean }): Promise<Completion> {
    await this.icreq({ hdgst: opts.hdgst, ddgst: opts.ddgst });
    const sqe = Buffer.alloc(64);
    sqe.writeUInt8(0x7f, 0);
    sqe.writeUInt8(0x40, 1);
    sqe.writeUInt8(0x01, 4);                  // fctype connect
    sqe.writeUInt16LE(opts.qid ?? 0, 42);
    sqe.writeUInt16LE((opts.sqsize ?? 32) - 1, 44);
    sqe.writeUInt32LE(opts.kato ?? 0, 48);
    const data = Buffer.alloc(1024);
    (opts.hostid ?? HOSTID).copy(data, 0);
    data.writeUInt16LE(opts.cntlid ?? 0xffff, 16);
    data.write(opts.subnqn, 256, 'ascii');
    data.write(opts.hostnqn ?? HOSTNQN, 512, 'ascii');
    const { cqe } = await this.execute(sqe, { writeData: data, inCapsule: true });
    if (cqe.sc === 0 && cqe.sct === 0 && (opts.qid ?? 0) === 0 && opts.enable !== false) {
      await this.propertySet(0x14, 0x460001);  // CC: EN, IOSQES 6, IOCQES 4
    }
    return cqe;
  }

  async propertyGet(offset: number, size8 = false): Promise<{ cqe: Completion; value: bigint }> {
    const sqe = Buffer.alloc(64);
    sqe.writeUInt8(0x7f, 0);
    sqe.writeUInt8(0x04, 4);
    sqe.writeUInt8(size8 ? 1 : 0, 40);
    sqe.writeUInt32LE(offset, 44);
    const { cqe } = await this.execute(sqe);
    return { cqe, value: BigInt(cqe.dw0 >>> 0) | (BigInt(cqe.dw1 >>> 0) << 32n) };
  }

  async propertySet(offset: number, value: number): Promise<Completion> {
    const sqe = Buffer.alloc(64);
    sqe.writeUInt8(0x7f, 0);
    sqe.writeUInt8(0x00, 4);
    sqe.writeUInt32LE(offset, 44);
    sqe.writeUInt32LE(value, 48);
    return (await this.execute(sqe)).cqe;
  }
}

export function sqe(opcode: number, fields: { nsid?: number; cdw10?: number; cdw11?: number; cdw12?: number; cdw13?: number } = {}): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt8(opcode, 0);
  b.writeUInt8(0x40, 1);  // PSDT: SGL
  b.writeUInt32LE(fields.nsid ?? 0, 4);
  b.writeUInt32LE(fields.cdw10 ?? 0, 40);
  b.writeUInt32LE(fields.cdw11 ?? 0, 44);
  b.writeUInt32LE(fields.cdw12 ?? 0, 48);
  b.writeUInt32LE(fields.cdw13 ?? 0, 52);
  setSgl(b, 'transport', 0);
  return b;
}

/** Read (0x02) or write (0x01) of `nlb` blocks at `slba`. */
export function rw(opcode: number, nsid: number, slba: number, nlb: number, blockSize = 512): Buffer {
  const b = sqe(opcode, { nsid, cdw10: slba >>> 0, cdw11: Math.floor(slba / 2 ** 32), cdw12: nlb - 1 });
  setSgl(b, 'transport', nlb * blockSize);
  return b;
}

export function setSgl(sqe: Buffer, kind: 'incapsule' | 'transport', length: number): void {
  sqe.fill(0, 24, 40);
  sqe.writeUInt32LE(length, 32);
  sqe.writeUInt8(kind === 'incapsule' ? 0x01 : 0x5a, 39);
}

export function parseCqe(b: Buffer): Completion {
  const status = b.readUInt16LE(14);
  return { dw0: b.readUInt32LE(0), dw1: b.readUInt32LE(4), sqhd: b.readUInt16LE(8), sqid: b.readUInt16LE(10),
    cid: b.readUInt16LE(12), sc: (status >> 1) & 0xff, sct: (status >> 9) & 0x7, dnr: (status & 0x8000) !== 0 };
}

export function digest(b: Buffer): Buffer {
  const d = Buffer.alloc(4);
  d.writeUInt32LE(crc32c(b) >>> 0, 0);
  return d;
}
