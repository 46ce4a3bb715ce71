/**
 * Loads the addon (a prebuild or build/Release) and says, once, what lib/ expects of it:
 * one interface per layer (target.ts, host.ts, buffers.ts, rdma.ts, perf.ts). lib/native
 * imports nothing from the layers above it, which import their native types from here.
 */
import * as path from 'node:path';
import { errorFromNative, type RdmagateErrorCode } from '../errors';
import type { NativeBuffersAddon } from './buffers';
import type { NativeHostAddon } from './host';
import type { NativePerfAddon } from './perf';
import type { NativeRdmaAddon } from './rdma';
import type { NativeTargetAddon } from './target';

export type * from './buffers';
export type * from './host';
export type * from './perf';
export type * from './rdma';
export type * from './target';

export interface NativeAddon extends NativeTargetAddon, NativeHostAddon, NativeBuffersAddon, NativeRdmaAddon, NativePerfAddon {
  /**
   * How native code makes the errors it throws: lib/errors.ts's classes, by code. Native code
   * names only codes of RdmagateErrorCode (test/unit/error-codes.test.ts reads native/ to check).
   */
  setErrorFactory(factory: (code: RdmagateErrorCode, message: string, errno: number) => Error): void;
}

function load(): NativeAddon {
  // dist/lib/native/index.js -> package root
  const root = path.resolve(__dirname, '..', '..', '..');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const addon = require('node-gyp-build')(root) as NativeAddon;
  addon.setErrorFactory(errorFromNative);
  return addon;
}

export const native: NativeAddon = load();
