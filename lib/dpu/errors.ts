/** What keeps a DPU from starting, each with a code of its own. */
import { RdmagateError } from '../errors';

export type DpuErrorCode =
  /** A --rdma-device that does not exist, has no active port, or cannot be looked at. */
  | 'ERR_DPU_RDMA_DEVICE'
  /** The host-facing NVMe function cannot be made as asked, or was made otherwise before. */
  | 'ERR_DPU_HOST_FUNCTION';

export class DpuError extends RdmagateError {
  constructor(code: DpuErrorCode, message: string) {
    super(code, message);
  }
}
