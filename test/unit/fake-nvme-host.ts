/**
 * A fake Linux NVMe-oF host for KernelNvmeAttacher (its `system` option): nvme-cli's
 * connect and disconnect as the kernel with native multipath answers them, in a fake sysfs
 * and /dev under a temp directory. Each connect makes a controller (nvmeN, with its
 * subsysnqn, state and address); the first controller of a subsystem also makes the
 * namespace's head block device (nvmeNn1, with the uuid and nguid the test registered),
 * and each controller a path entry (nvmeNcMn1) in its directory. Every command is recorded;
 * addresses in `refuse` fail to connect as nvme-cli does. `nvme ns-rescan` takes a grown
 * namespace's size in the background, `rescanDelayMs` later, as the kernel's scan work does,
 * while `nvme id-ns` answers it at once (in 4 KiB blocks, the namespace's second format).
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KernelNvmeSystem } from '../../lib/csi';

export interface FakeNamespace {
  uuid: string;
  nguid: string;
  /** Bytes; default 1 MiB. */
  size?: number;
}

export class FakeNvmeHost implements KernelNvmeSystem {
  readonly sysfsRoot: string;
  readonly devRoot: string;
  /** Every command run: ['nvme', 'connect', ...]. */
  readonly commands: string[][] = [];
  /** "traddr:trsvcid" that refuse connections. */
  readonly refuse = new Set<string>();
  readonly #namespaces = new Map<string, FakeNamespace>();
  /** The head device of each connected subsystem. */
  readonly #heads = new Map<string, string>();
  #next = 0;
  /** How long after `nvme ns-rescan` the head device shows the namespace's size. */
  rescanDelayMs = 0;

  constructor(root: string) {
    this.sysfsRoot = join(root, 'sys');
    this.devRoot = join(root, 'dev');
    for (const d of [join(this.sysfsRoot, 'class', 'nvme'), join(this.sysfsRoot, 'block'), join(this.sysfsRoot, 'module', 'nvme_tcp'), this.devRoot]) {
      mkdirSync(d, { recursive: true });
    }
  }

  /** What the subsystem's namespace 1 is, once connected. */
  subsystem(nqn: string, ns: FakeNamespace): void {
    this.#namespaces.set(nqn, ns);
  }

  /** The target grew the subsystem's namespace: a rescan shows it. */
  grow(nqn: string, bytes: number): void {
    this.#namespaces.get(nqn)!.size = bytes;
  }

  /** The nvme-cli subcommands run (connect, disconnect, ...), with -a:-s for connects. */
  nvme(): string[] {
    return this.commands.filter((c) => c[0] === 'nvme').map((c) => {
      if (c[1] !== 'connect') return c.slice(1).join(' ');
      return `connect ${c[c.indexOf('-a') + 1]}:${c[c.indexOf('-s') + 1]}`;
    });
  }

  /** The controllers (name, address) connected to `nqn`. */
  controllers(nqn: string): { name: string; address: string }[] {
    return [...this.#controllers.entries()].filter(([, c]) => c.nqn === nqn).map(([name, c]) => ({ name, address: c.address }));
  }

  readonly #controllers = new Map<string, { nqn: string; address: string }>();

  async exec(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    this.commands.push([cmd, ...args]);
    if (cmd === 'modprobe') return { code: 0, stdout: '', stderr: '' };
    if (cmd !== 'nvme') return { code: 127, stdout: '', stderr: `${cmd}: not faked` };
    const opt = (flag: string) => args[args.indexOf(flag) + 1]!;
    switch (args[0]) {
      case 'version':
        return { code: 0, stdout: 'nvme version 2.8\n', stderr: '' };
      case 'connect': {
        const [traddr, trsvcid, nqn] = [opt('-a'), opt('-s'), opt('-n')];
        if (this.refuse.has(`${traddr}:${trsvcid}`)) {
          return { code: 1, stdout: '', stderr: `could not add new controller: failed to write to nvme-fabrics device\n` };
        }
        const ns = this.#namespaces.get(nqn);
        if (!ns) return { code: 1, stdout: '', stderr: 'could not add new controller: subsystem not found\n' };
        const n = this.#next++;
        const name = `nvme${n}`;
        const address = `traddr=${traddr},trsvcid=${trsvcid},src_addr=127.0.0.1`;
        const dir = join(this.sysfsRoot, 'class', 'nvme', name);
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'subsysnqn'), `${nqn}\n`);
        writeFileSync(join(dir, 'state'), 'live\n');
        writeFileSync(join(dir, 'address'), `${address}\n`);
        let head = this.#heads.get(nqn);
        if (!head) {
          head = `nvme${n}n1`;
          this.#heads.set(nqn, head);
          mkdirSync(join(this.sysfsRoot, 'block', head), { recursive: true });
          writeFileSync(join(this.sysfsRoot, 'block', head, 'uuid'), `${ns.uuid}\n`);
          writeFileSync(join(this.sysfsRoot, 'block', head, 'nguid'), `${ns.nguid}\n`);
          this.#writeSize(nqn);
          writeFileSync(join(this.devRoot, head), '');
        }
        // The path's entry, nvme<subsys>c<ctrl>n1, as native multipath names it.
        mkdirSync(join(dir, head.replace(/n1$/, `c${n}n1`)));
        this.#controllers.set(name, { nqn, address });
        return { code: 0, stdout: `connecting to device: ${name}\n`, stderr: '' };
      }
      case 'disconnect': {
        const nqn = opt('-n');
        const mine = this.controllers(nqn);
        for (const c of mine) {
          rmSync(join(this.sysfsRoot, 'class', 'nvme', c.name), { recursive: true, force: true });
          this.#controllers.delete(c.name);
        }
        const head = this.#heads.get(nqn);
        if (head) {
          rmSync(join(this.sysfsRoot, 'block', head), { recursive: true, force: true });
          rmSync(join(this.devRoot, head), { force: true });
          this.#heads.delete(nqn);
        }
        return { code: 0, stdout: `NQN:${nqn} disconnected ${mine.length} controller(s)\n`, stderr: '' };
      }
      case 'id-ns': {
        // The controller's view, which a rescan has yet to bring to sysfs.
        const nqn = [...this.#heads.entries()].find(([, h]) => h === args[1]!.replace(/^.*\//, ''))?.[0];
        if (!nqn) return { code: 1, stdout: '', stderr: `${args[1]}: No such file or directory\n` };
        const size = this.#namespaces.get(nqn)!.size ?? 1 << 20;
        return { code: 0, stdout: JSON.stringify({ nsze: size / 4096, flbas: 1, lbafs: [{ ms: 0, ds: 9, rp: 0 }, { ms: 0, ds: 12, rp: 0 }] }), stderr: '' };
      }
      case 'ns-rescan': {
        const c = this.#controllers.get(args[1]!.replace(/^.*\//, ''));
        if (!c) return { code: 1, stdout: '', stderr: `${args[1]}: No such file or directory\n` };
        setTimeout(() => this.#writeSize(c.nqn), this.rescanDelayMs);
        return { code: 0, stdout: '', stderr: '' };
      }
      default:
        return { code: 1, stdout: '', stderr: `nvme ${args[0]}: not faked` };
    }
  }

  /** sysfs `size` of the subsystem's head: 512-byte sectors. */
  #writeSize(nqn: string): void {
    const head = this.#heads.get(nqn);
    // Gone meanwhile (disconnected, or the test's directory removed): nothing to show.
    if (head && existsSync(join(this.sysfsRoot, 'block', head))) writeFileSync(join(this.sysfsRoot, 'block', head, 'size'), `${(this.#namespaces.get(nqn)!.size ?? 1 << 20) / 512}\n`);
  }
}
