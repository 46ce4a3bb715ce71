/**
 * That no secret shows in a text (an error message, the log): neither a secret as it was
 * given, nor the base64 part of a DH-HMAC-CHAP secret (`DHHC-1:hh:<base64>:`) or of a TLS PSK
 * (`NVMeTLSkey-1:hh:<base64>:`), which is the key itself, however the rest is quoted.
 */
import assert from 'node:assert/strict';
import { secretBody } from './dhchap-secret';

/** None of `secrets` in `text`; `where` names the text in the message of a failure. */
export function assertNoSecretIn(text: string, secrets: readonly string[], where = text): void {
  for (const s of secrets) {
    assert.ok(!text.includes(s), `a secret in ${where}`);
    if (/^(DHHC-1|NVMeTLSkey-1):/.test(s)) assert.ok(!text.includes(secretBody(s)), `a key in ${where}`);
  }
}
