/**
 * The NQN grammar the CSI driver checks node ids with (issue 20, item 14), against the
 * NVMe Base spec's forms and against the native valid_nqn that the target applies to a
 * Connect's host NQN: both must take and refuse the same names.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { nvmf } from '../../lib';
import { DISCOVERY_NQN, isHostNqn, isValidNqn } from '../../lib/csi/nqn';

const UUID = randomUUID();
const pad = (prefix: string, bytes: number) => prefix + 'x'.repeat(bytes - Buffer.byteLength(prefix));

const VALID: string[] = [
  'nqn.2014-08.org.example:host-1',
  'nqn.2019-06.io.rdmagate:dpu-host-function',
  'nqn.2026-11.io.rdmagate:vol:0b5c3d0e-1111-4222-8333-944444444444',
  `nqn.2014-08.org.nvmexpress:uuid:${UUID}`,
  `nqn.2014-08.org.nvmexpress:uuid:${UUID.toUpperCase()}`,
  'nqn.1999-12.com.a-b.c0:x',
  'nqn.2014-08.com.example:name with spaces, colons: and ünïcödé',
  DISCOVERY_NQN,
  pad('nqn.2014-08.org.example:', 223),
  pad('nqn.2014-08.org.example:é', 223),
];

const INVALID: string[] = [
  '',
  'worker-1',
  'fakeNodeID',
  'nqn.',
  'nqn.2014-08',
  'nqn.2014-08.org.example',           // no name
  'nqn.2014-08.org.example:',          // an empty name
  'nqn.2014-13.org.example:host',      // month 13
  'nqn.2014-00.org.example:host',      // month 0
  'nqn.2014-8.org.example:host',       // one-digit month
  'nqn.14-08.org.example:host',        // two-digit year
  'nqn.abcd-08.org.example:host',
  'nqn.2014-08.example:host',          // one label
  'nqn.2014-08.org..example:host',     // an empty label
  'nqn.2014-08.-org.example:host',     // a label starting with a hyphen
  'nqn.2014-08.org.example-:host',     // a label ending with one
  'nqn.2014-08.org.exa_mple:host',
  `nqn.2014-08.org.${'a'.repeat(64)}:host`, // a label over 63 characters
  'nqn.2014-08.org.nvmexpress:uuid:not-a-uuid',
  `nqn.2014-08.org.nvmexpress:uuid:${UUID}0`,
  'nqn.2014-08.org.example:host\u0001',
  'nqn.2014-08.org.example:host\u007f',
  'nqn.2014-08.org.example:host\n',
  'NQN.2014-08.org.example:host',
  pad('nqn.2014-08.org.example:', 224),
  pad('nqn.2014-08.org.example:é', 224), // 223 characters, 224 bytes
];

describe('CSI NQN grammar (issue 20, item 14)', () => {
  it('takes the NVMe forms and refuses the rest', () => {
    for (const n of VALID) assert.equal(isValidNqn(n), true, `valid: ${JSON.stringify(n)}`);
    for (const n of INVALID) assert.equal(isValidNqn(n), false, `invalid: ${JSON.stringify(n)}`);
  });

  it('a host NQN is any valid NQN but the discovery NQN', () => {
    assert.equal(isHostNqn(DISCOVERY_NQN), false);
    for (const n of VALID.filter((x) => x !== DISCOVERY_NQN)) assert.equal(isHostNqn(n), true, n);
    for (const n of INVALID) assert.equal(isHostNqn(n), false, JSON.stringify(n));
  });

  it('agrees with the native valid_nqn, name for name', async () => {
    // The native host checks its host NQN with the target's valid_nqn before it connects:
    // ERR_INVALID_ARG is a refusal, a refused TCP connection (port 1) means the name passed.
    const nativeAccepts = async (hostnqn: string): Promise<boolean> => {
      try {
        const c = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: 1, subnqn: 'nqn.2014-08.org.example:sub', hostnqn, timeoutMs: 2000 });
        await c.close();
        return true;
      } catch (e) {
        return (e as { code?: string }).code !== 'ERR_INVALID_ARG';
      }
    };
    for (const n of [...VALID, ...INVALID]) {
      assert.equal(await nativeAccepts(n), isValidNqn(n), `native and TypeScript disagree on ${JSON.stringify(n)}`);
    }
  });
});
