/**
 * checkTlsPskForm, the one check of a TLS PSK's interchange form that the CSI driver's
 * Secrets, OPI's psk fields and the gateway's key files share: what it takes, what it refuses
 * (in the caller's error type, naming what was checked), and that no message repeats the key.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { checkTlsPskForm, encodeTlsPsk } from '../../lib/nvmf/tls';

class CallersError extends Error {}
const invalid = (message: string) => new CallersError(message);

describe('checkTlsPskForm', () => {
  const good = encodeTlsPsk(randomBytes(32), 1);
  const body = good.split(':')[2]!;

  it('takes a PSK as nvme gen-tls-key writes it: 01 with 32 bytes, 02 with 48, 00 with either, the last colon optional', () => {
    for (const psk of [good, encodeTlsPsk(randomBytes(48), 2), encodeTlsPsk(randomBytes(32), 0), encodeTlsPsk(randomBytes(48), 0),
      good.slice(0, -1)]) {
      assert.doesNotThrow(() => checkTlsPskForm(psk, 'tls-psk', invalid), psk.slice(0, 16));
    }
  });

  it('refuses anything else with the caller\'s error, naming what it checked and never the key', () => {
    // The last base64 digit of the CRC changed: the form holds, the check value does not.
    const badCrc = good.replace(/(.)(=*):$/, (_m, c: string, pad: string) => `${c === 'A' ? 'B' : 'A'}${pad}:`);
    const cases: [string, RegExp][] = [
      [badCrc, /^spec\.psk is not an NVMe\/TCP TLS PSK: its CRC-32 does not match its key$/],
      [encodeTlsPsk(randomBytes(48), 1), /^spec\.psk is not an NVMe\/TCP TLS PSK: it must be NVMeTLSkey-1:0X:/],  // 01 takes 32 bytes
      [`NVMeTLSkey-1:03:${body}:`, /it must be NVMeTLSkey-1:0X:/],
      ['NVMeTLSkey-1:01:not*base64*at*all:', /it must be NVMeTLSkey-1:0X:/],
      [`DHHC-1:01:${body}:`, /it must be NVMeTLSkey-1:0X:/],
      ['', /it must be NVMeTLSkey-1:0X:/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => checkTlsPskForm(text, 'spec.psk', invalid), (e: unknown) => {
        assert.ok(e instanceof CallersError, String(e));
        assert.match(e.message, message);
        assert.ok(!e.message.includes(body), 'the key stays out of the message');
        return true;
      });
    }
  });
});
