/** What keeps a DPU from starting, each with a code of its own. */
import { RdmagateError, type RdmagateErrorCode } from '../errors';

/** The DPU's codes; RdmagateErrorCode (lib/errors.ts) says what each means. */
export type DpuErrorCode = Extract<RdmagateErrorCode, `ERR_DPU_${string}`>;

export class DpuError extends RdmagateError {
  declare readonly code: DpuErrorCode;
  constructor(code: DpuErrorCode, message: string) {
    super(code, message);
  }
}
