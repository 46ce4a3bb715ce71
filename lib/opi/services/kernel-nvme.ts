/**
 * KernelNvmeService (rdmagate.dpu.v1, our extension beside OPI's services): the DPU's
 * own kernel NVMe-oF host, for AIO mode, where the DPU connects to the storage gateway
 * with nvme-tcp or nvme-rdma and shows the block device it gets to its host as an
 * AioVolume. OPI has no call for a kernel connect. It drives a VolumeAttacher (the
 * kernel's, KernelNvmeAttacher), which finds a volume's connection by the volume's
 * subsystem NQN; nothing is recorded here: the kernel's own view (sysfs) is the state,
 * so a retry after a crash finds what was connected.
 */
import { stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { VolumeAttacher } from '../../csi/attach';
import { blockDeviceBytes } from '../../csi/node-system';
import { VOLUME_NQN_PREFIX, volumeIdOfNqn, volumeNqn, type ConnectTuning, type PublishContext } from '../../csi/parameters';
import { RdmagateError } from '../../errors';
import type { Logger } from '../../log/logger';
import { deadlineExceeded, invalidArgument, notFound } from '../errors';
import { flag, integer, message, requiredText, text, type Raw } from '../fields';
import type { KernelNvmeDevice } from '../messages';
import { PerKeyQueue } from '../per-key';
import type { OpiHandlers } from './context';
import { checkNqn } from './transport';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** An NQN is at most 223 bytes; a volume's is the prefix and its id. */
const MAX_VOLUME_ID_BYTES = 223 - Buffer.byteLength(VOLUME_NQN_PREFIX);
/** nvme-cli's ranges, as the StorageClass parameters have them. */
const TUNING: Record<keyof ConnectTuning, [number, number]> = {
  nr_io_queues: [1, 1024],
  ctrl_loss_tmo: [-1, 2 ** 31 - 1],
  keep_alive_tmo: [0, 65535],
  reconnect_delay: [1, 86400],
};

/** How long Rescan waits for the new size: the kernel rescans in the background. */
const SETTLE_MS = 2000;

/** The size of the volume's device in bytes; a file stands in for one in tests (FakeKernelAttacher). */
async function deviceSize(path: string): Promise<number> {
  const st = await stat(path);
  if (st.isFile()) return st.size;
  if (!st.isBlockDevice()) throw new RdmagateError('ERR_DEVICE', `${path} is neither a block device nor a file`);
  return blockDeviceBytes(path);
}

/** The volume a request names, by volume_id or subnqn (both: they must agree). */
function readVolume(req: Raw): { volumeId: string; subnqn: string } {
  const given = text(req, 'volume_id', 'volume_id');
  const subnqn = text(req, 'subnqn', 'subnqn');
  if (given === '' && subnqn === '') throw invalidArgument('volume_id is required (or subnqn, the volume\'s NQN)');
  let volumeId = given;
  if (subnqn !== '') {
    const named = volumeIdOfNqn(checkNqn(subnqn, 'subnqn'));
    if (named === undefined) {
      throw invalidArgument(`subnqn '${subnqn}' is not a volume's NQN (${VOLUME_NQN_PREFIX}<volume_id>): ` +
        'the kernel host finds a volume\'s connection by it');
    }
    if (given !== '' && given !== named) throw invalidArgument(`volume_id '${given}' does not match subnqn '${subnqn}' (volume '${named}')`);
    volumeId = named;
  }
  if (!/^[\x21-\x7e]+$/.test(volumeId) || Buffer.byteLength(volumeId) > MAX_VOLUME_ID_BYTES) {
    throw invalidArgument(`volume_id '${volumeId}' must be printable ASCII without spaces, at most ${MAX_VOLUME_ID_BYTES} characters`);
  }
  return { volumeId, subnqn: volumeNqn(volumeId) };
}

function readTuning(raw: Raw | undefined): ConnectTuning {
  const out: ConnectTuning = {};
  for (const [key, [min, max]] of Object.entries(TUNING) as [keyof ConnectTuning, [number, number]][]) {
    const wrapper = message(raw, key, `tuning.${key}`);
    if (wrapper) out[key] = integer(wrapper, 'value', `tuning.${key}.value`, min, max);
  }
  return out;
}

function readConnect(req: Raw): { volumeId: string; ctx: PublishContext; hostnqn: string; tuning: ConnectTuning } {
  const { volumeId, subnqn } = readVolume(req);
  const trtype = requiredText(req, 'trtype', 'trtype').toLowerCase();
  if (trtype !== 'tcp' && trtype !== 'rdma') throw invalidArgument(`trtype must be tcp or rdma, got '${trtype}'`);
  const traddr = requiredText(req, 'traddr', 'traddr');
  if (isIP(traddr) === 0) throw invalidArgument(`traddr must be an IP address, got '${traddr}'`);
  const trsvcid = requiredText(req, 'trsvcid', 'trsvcid');
  if (!/^\d{1,5}$/.test(trsvcid) || Number(trsvcid) < 1 || Number(trsvcid) > 65535) {
    throw invalidArgument(`trsvcid must be a port in [1, 65535], got '${trsvcid}'`);
  }
  const hostnqn = checkNqn(requiredText(req, 'hostnqn', 'hostnqn'), 'hostnqn');
  const nguid = requiredText(req, 'nguid', 'nguid').replace(/-/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(nguid)) throw invalidArgument('nguid must be 32 hex digits');
  const uuid = requiredText(req, 'uuid', 'uuid').toLowerCase();
  if (!UUID.test(uuid)) throw invalidArgument(`uuid must be a UUID, got '${uuid}'`);
  const tuning = readTuning(message(req, 'tuning', 'tuning'));
  return { volumeId, ctx: { transport: trtype, traddr, trsvcid, subnqn, uuid, nguid }, hostnqn, tuning };
}

export class KernelNvmeService {
  readonly #queue = new PerKeyQueue();

  constructor(private readonly attacher: VolumeAttacher, private readonly log: Logger) {}

  handlers(): OpiHandlers {
    return {
      ConnectKernelNvme: (r) => this.connect(r),
      DisconnectKernelNvme: (r) => this.disconnect(r),
      RescanKernelNvme: (r) => this.rescan(r),
    };
  }

  /** Whether this machine can connect at all (nvme-cli there); a warning only: the OPI services serve regardless. */
  async probe(): Promise<void> {
    try {
      await this.attacher.probe();
    } catch (e) {
      this.log.warn('kernel nvme host unavailable: ConnectKernelNvme will fail', { error: (e as Error).message });
    }
  }

  async connect(req: Raw): Promise<KernelNvmeDevice> {
    const { volumeId, ctx, hostnqn, tuning } = readConnect(req);
    // One call per volume at a time; the attacher connects only what is not connected.
    return this.#queue.run(volumeId, async () => {
      const device = await this.attacher.attach(ctx, tuning, hostnqn);
      this.log.info('kernel nvme connected', { volume: volumeId, device, traddr: ctx.traddr, trtype: ctx.transport });
      return { volume_id: volumeId, device, size_bytes: await deviceSize(device) };
    });
  }

  async disconnect(req: Raw): Promise<object> {
    const { volumeId, subnqn } = readVolume(req);
    const allowMissing = flag(req, 'allow_missing', 'allow_missing');
    return this.#queue.run(volumeId, async () => {
      if (!allowMissing && (await this.attacher.device(volumeId)) === undefined) {
        throw notFound(`volume ${volumeId} is not connected (no kernel controller of ${subnqn} with its namespace)`);
      }
      // With allow_missing, a controller whose namespace never showed is taken down too.
      await this.attacher.detach(volumeId);
      return {};
    });
  }

  async rescan(req: Raw): Promise<KernelNvmeDevice> {
    const { volumeId, subnqn } = readVolume(req);
    const minBytes = integer(req, 'min_size_bytes', 'min_size_bytes', 0, Number.MAX_SAFE_INTEGER);
    return this.#queue.run(volumeId, async () => {
      const device = await this.attacher.device(volumeId);
      if (device === undefined) throw notFound(`volume ${volumeId} is not connected (no kernel controller of ${subnqn} with its namespace)`);
      if (minBytes) {
        // The attacher waits for the size to reach (a VolumeAttacher's rescan contract).
        const size = await this.attacher.rescan(volumeId, minBytes);
        if (size < minBytes) throw deadlineExceeded(`${device} holds ${size} bytes after the rescan, not yet ${minBytes}`);
        return { volume_id: volumeId, device, size_bytes: size };
      }
      const before = await deviceSize(device);
      await this.attacher.rescan(volumeId);
      return { volume_id: volumeId, device, size_bytes: await this.#settledSize(device, before) };
    });
  }

  /** The size once it differs from `before`, or after SETTLE_MS (the volume may not have grown). */
  async #settledSize(device: string, before: number): Promise<number> {
    const end = Date.now() + SETTLE_MS;
    for (;;) {
      const size = await deviceSize(device);
      if (size !== before || Date.now() >= end) return size;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
