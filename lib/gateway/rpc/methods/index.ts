/**
 * The method table: name → params, handler. Adding a method is adding an entry; a group of
 * methods lives in one file and is spread here.
 */
import type { MethodTable } from '../method';
import { bdevMethods } from './bdev';
import { bdevNvmeMethods } from './bdev-nvme';
import { bdevUringMethods } from './bdev-uring';
import { configMethods } from './config';
import { keyringMethods } from './keyring';
import { nvmfMethods } from './nvmf';
import { nvmfAnaMethods } from './nvmf-ana';
import { nvmfAuthMethods } from './nvmf-auth';

export function gatewayMethods(): MethodTable {
  return {
    ...bdevMethods,
    ...bdevNvmeMethods,
    ...bdevUringMethods,
    ...nvmfMethods,
    ...nvmfAnaMethods,
    ...nvmfAuthMethods,
    ...keyringMethods,
    ...configMethods,
  };
}
