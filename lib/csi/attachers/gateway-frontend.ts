/**
 * AIO mode: the DPU runs an rdmagate gateway whose host-facing subsystem is the NVMe
 * function its host sees. A volume is exposed by a file bdev over the block device the DPU
 * connected to (the gateway's bdev_uring_create, SPDK's bdev_aio_create in rdmagate) and a
 * namespace of that subsystem with the volume's NGUID and UUID, by which the host finds it.
 * Each step looks first, so that a retried NodeStageVolume finishes rather than fails.
 */
import { JsonRpcError, RpcErrorCode } from '../../jsonrpc';
import { CsiError, failedPrecondition, GrpcStatus, invalidArgument } from '../errors';
import { methodMissing, type GatewayRpc } from '../export';
import type { DpuFrontend, DpuSource, ExposedVolume } from './dpu-frontend';

export interface GatewayDpuFrontendOptions {
  /** The DPU gateway's JSON-RPC (socketGatewayRpc(--dpu-rpc-socket)). */
  rpc: GatewayRpc;
  /** The NQN of the host-facing subsystem (--dpu-subsystem), made when the DPU was set up. */
  subsystem: string;
}

interface SubsystemJson {
  nqn: string;
  namespaces?: { nsid: number; bdev_name: string; nguid?: string; uuid?: string }[];
}

export class GatewayDpuFrontend implements DpuFrontend {
  readonly #rpc: GatewayRpc;
  readonly #nqn: string;

  constructor(options: GatewayDpuFrontendOptions) {
    if (!options.subsystem?.startsWith('nqn.')) throw invalidArgument(`the DPU subsystem must be an NQN, got "${options.subsystem}"`);
    this.#rpc = options.rpc;
    this.#nqn = options.subsystem;
  }

  /** The bdev a volume is exposed through: named after it, so that remove needs no record. */
  static bdevName(volumeId: string): string {
    return `dpu_${volumeId}`;
  }

  async probe(): Promise<void> {
    await this.#subsystem();
  }

  async expose(volume: ExposedVolume, source: DpuSource): Promise<void> {
    if (source.kind !== 'block') throw invalidArgument('AIO mode exposes a block device of the DPU\'s, not an NVMe-oF subsystem');
    const bdev = GatewayDpuFrontend.bdevName(volume.volumeId);
    const sub = await this.#subsystem();
    const namespaces = sub.namespaces ?? [];
    if (namespaces.some((n) => n.bdev_name === bdev)) return;
    const clash = namespaces.find((n) => n.nguid?.toLowerCase() === volume.nguid);
    if (clash) {
      throw failedPrecondition(`${this.#nqn} nsid ${clash.nsid} (bdev ${clash.bdev_name}) already has NGUID ${volume.nguid}: ` +
        `the host could not tell it from volume ${volume.volumeId}`);
    }
    // A bdev no namespace uses is left from a stage that stopped halfway; the kernel may have
    // named the device differently since (a reconnect), so it is made again over this one.
    if (await this.#hasBdev(bdev)) await this.#rpc.call('bdev_uring_delete', { name: bdev });
    await this.#rpc.call('bdev_uring_create', { name: bdev, filename: source.device, uuid: volume.uuid });
    await this.#rpc.call('nvmf_subsystem_add_ns', { nqn: this.#nqn, namespace: { bdev_name: bdev, uuid: volume.uuid, nguid: volume.nguid } });
  }

  async remove(volumeId: string): Promise<void> {
    const bdev = GatewayDpuFrontend.bdevName(volumeId);
    // Without the subsystem there is no namespace to remove; the bdev may still be there.
    const sub = await this.#subsystem().catch((e: unknown) => {
      if (e instanceof CsiError && e.grpcCode === GrpcStatus.FAILED_PRECONDITION) return undefined;
      throw e;
    });
    for (const n of (sub?.namespaces ?? []).filter((x) => x.bdev_name === bdev)) {
      await this.#rpc.call('nvmf_subsystem_remove_ns', { nqn: this.#nqn, nsid: n.nsid });
    }
    if (await this.#hasBdev(bdev)) await this.#rpc.call('bdev_uring_delete', { name: bdev });
  }

  /** The DPU's block device grew: the file bdev takes its size, and the host gets a notice. */
  async grown(volumeId: string): Promise<void> {
    const bdev = GatewayDpuFrontend.bdevName(volumeId);
    if (await this.#hasBdev(bdev)) {
      await this.#rpc.call('bdev_uring_rescan', { name: bdev })
        .catch(methodMissing('bdev_uring_rescan', 'let the host see the volume grow until it is restaged'));
    }
  }

  async exposed(volumeId: string): Promise<boolean> {
    const bdev = GatewayDpuFrontend.bdevName(volumeId);
    return ((await this.#subsystem()).namespaces ?? []).some((n) => n.bdev_name === bdev);
  }

  async #subsystem(): Promise<SubsystemJson> {
    try {
      const list = (await this.#rpc.call('nvmf_get_subsystems', { nqn: this.#nqn })) as unknown as SubsystemJson[];
      if (list[0]) return list[0];
    } catch (e) {
      if (!(e instanceof JsonRpcError && e.rpcCode === RpcErrorCode.ENODEV)) throw e;
    }
    throw failedPrecondition(`the DPU gateway has no subsystem ${this.#nqn}: create the host-facing subsystem (--dpu-subsystem) first`);
  }

  async #hasBdev(name: string): Promise<boolean> {
    try {
      await this.#rpc.call('bdev_get_bdevs', { name });
      return true;
    } catch (e) {
      if (e instanceof JsonRpcError && e.rpcCode === RpcErrorCode.ENODEV) return false;
      throw e;
    }
  }
}
