/**
 * Loads the addon (a prebuild or build/Release) and says, once, what lib/ expects of it:
 * one interface per layer (target.ts, host.ts, buffers.ts, rdma.ts, perf.ts). lib/native
 * imports nothing from the layers above it, which import their native types from here.
 * Right after loading, the addon's `layout` is checked against lib/native/layout.ts: a
 * stale build fails with ERR_ADDON_MISMATCH.
 */
import * as path from 'node:path';
import { errorFromNative, type RdmagateErrorCode } from '../errors';
import type { NativeBuffersAddon } from './buffers';
import type { NativeHostAddon } from './host';
import { checkLayout, type NativeLayout } from './layout';
import type { NativePerfAddon } from './perf';
import type { NativeRdmaAddon } from './rdma';
import type { NativeTargetAddon } from './target';

export type * from './buffers';
export type * from './host';
export type { NativeLayout } from './layout';
export type * from './perf';
export type * from './rdma';
export type * from './target';

export interface NativeAddon extends NativeTargetAddon, NativeHostAddon, NativeBuffersAddon, NativeRdmaAddon, NativePerfAddon {
  /**
   * The layouts and values native code shares with lib/ (submission words, host status
   * words, histogram buckets), which load() checks against lib/native/layout.ts.
   */
  readonly layout: NativeLayout;
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
  // Before anything uses it: an addon built from other sources fails here, by name. Its
  // `layout` is undefined where it was built before it had one.
  checkLayout(addon.layout as NativeLayout | undefined);
  addon.setErrorFactory(errorFromNative);
  return addon;
}

export const native: NativeAddon = load();
