/**
 * The Linux kernel NVMe-oF target (nvmet) set up through configfs, for lab suites that
 * need a real controller: one subsystem with one namespace on a block device, exported
 * on one NVMe/TCP (or NVMe/RDMA) port. Same steps as lab.sh's selftest.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';

const NVMET = '/sys/kernel/config/nvmet';

function modprobe(...args: string[]): void {
  spawnSync('modprobe', args, { stdio: 'ignore' });
}

/** Root, and nvmet's configfs tree: true in the lab guest, which loads nvmet at boot. */
export function kernelNvmetAvailable(): boolean {
  return process.getuid?.() === 0 && existsSync(NVMET);
}

/** A RAM block device (brd), so data written through the target is kept and read back. */
export function ramDisk(mib = 64): string {
  if (!existsSync('/dev/ram0')) modprobe('brd', 'rd_nr=1', `rd_size=${mib * 1024}`);
  if (!existsSync('/dev/ram0')) throw new Error('brd did not create /dev/ram0');
  return '/dev/ram0';
}

export interface KernelTargetOptions {
  nqn: string;
  device: string;
  address?: string;
  port?: number;
  /** configfs port directory name; distinct per concurrent target. */
  portId?: number;
  /** Default 'tcp'. 'rdma' needs an RDMA device on `address` (scripts/lab-rdma-env.sh). */
  trtype?: 'tcp' | 'rdma';
  /** A file `device` on a file system without O_DIRECT (tmpfs) needs the page cache. */
  bufferedIo?: boolean;
  /** The hosts allowed in (none: any host), each with its DH-HMAC-CHAP settings (needs NVME_TARGET_AUTH). */
  hosts?: KernelTargetHost[];
  /**
   * NVMe/TCP TLS 1.3 required on the port (addr_tsas tls1.3, addr_treq required; needs
   * NVME_TARGET_TCP_TLS and tlshd running, the PSKs in the kernel's .nvme keyring).
   */
  tls?: boolean;
}

/** configfs' hosts/<nqn>: dhchap_key, dhchap_ctrl_key, dhchap_hash, dhchap_dhgroup. */
export interface KernelTargetHost {
  nqn: string;
  dhchapKey?: string;
  dhchapCtrlKey?: string;
  /** 'hmac(sha256)', 'hmac(sha384)' or 'hmac(sha512)'. */
  hash?: string;
  /** 'null', 'ffdhe2048' ... 'ffdhe8192'. */
  dhgroup?: string;
}

/** A port the subsystem is offered on. */
export interface KernelPort {
  readonly port: number;
  /** Takes the subsystem off the port: nvmet drops its controllers, and the port closes. */
  unlink(): void;
  /** Puts it back. */
  link(): void;
}

export interface KernelTarget extends KernelPort {
  readonly nqn: string;
  readonly address: string;
  /** Offers the subsystem on another port too (same transport and address): a second path. */
  addPort(port: number, portId: number): KernelPort;
  /** Removes everything this target created; safe to call twice. */
  close(): void;
}

function tryDo(f: () => void): void {
  try {
    f();
  } catch {
    // teardown goes on: whatever is left is reported by the next setup's mkdir
  }
}

export function startKernelTarget(o: KernelTargetOptions): KernelTarget {
  const address = o.address ?? '127.0.0.1';
  const port = o.port ?? 4420;
  const sub = `${NVMET}/subsystems/${o.nqn}`;
  const ns = `${sub}/namespaces/1`;
  const trtype = o.trtype ?? 'tcp';
  modprobe(`nvmet-${trtype}`);  // a port of that type needs it; loaded already in the lab
  mkdirSync(sub);
  writeFileSync(`${sub}/attr_allow_any_host`, o.hosts ? '0' : '1');
  const hosts = (o.hosts ?? []).map((h) => {
    const dir = `${NVMET}/hosts/${h.nqn}`;
    if (!existsSync(dir)) mkdirSync(dir);
    if (h.dhchapKey) writeFileSync(`${dir}/dhchap_key`, h.dhchapKey);
    if (h.dhchapCtrlKey) writeFileSync(`${dir}/dhchap_ctrl_key`, h.dhchapCtrlKey);
    if (h.hash) writeFileSync(`${dir}/dhchap_hash`, h.hash);
    if (h.dhgroup) writeFileSync(`${dir}/dhchap_dhgroup`, h.dhgroup);
    const allowed = `${sub}/allowed_hosts/${h.nqn}`;
    symlinkSync(dir, allowed);
    return { dir, allowed };
  });
  mkdirSync(ns);
  writeFileSync(`${ns}/device_path`, o.device);
  if (o.bufferedIo) writeFileSync(`${ns}/buffered_io`, '1');
  writeFileSync(`${ns}/enable`, '1');
  const portDirs: string[] = [];
  const openPort = (at: number, id: number): KernelPort => {
    const dir = `${NVMET}/ports/${id}`;
    const linked = `${dir}/subsystems/${o.nqn}`;
    mkdirSync(dir);
    portDirs.push(dir);
    writeFileSync(`${dir}/addr_trtype`, trtype);
    writeFileSync(`${dir}/addr_adrfam`, isIP(address) === 6 ? 'ipv6' : 'ipv4');
    writeFileSync(`${dir}/addr_traddr`, address);
    writeFileSync(`${dir}/addr_trsvcid`, String(at));
    if (o.tls) {
      writeFileSync(`${dir}/addr_tsas`, 'tls1.3');
      writeFileSync(`${dir}/addr_treq`, 'required');
    }
    symlinkSync(sub, linked);
    return { port: at, unlink: () => unlinkSync(linked), link: () => symlinkSync(sub, linked) };
  };
  const first = openPort(port, o.portId ?? 1);
  return {
    nqn: o.nqn,
    address,
    port,
    unlink: first.unlink,
    link: first.link,
    addPort: openPort,
    close: () => {
      for (const dir of portDirs) {
        const linked = `${dir}/subsystems/${o.nqn}`;
        if (existsSync(linked)) tryDo(() => unlinkSync(linked));
        if (existsSync(dir)) tryDo(() => rmdirSync(dir));
      }
      if (existsSync(ns)) {
        tryDo(() => writeFileSync(`${ns}/enable`, '0'));
        tryDo(() => rmdirSync(ns));
      }
      for (const h of hosts) {
        if (existsSync(h.allowed)) tryDo(() => unlinkSync(h.allowed));
        if (existsSync(h.dir)) tryDo(() => rmdirSync(h.dir));
      }
      if (existsSync(sub)) tryDo(() => rmdirSync(sub));
    },
  };
}
