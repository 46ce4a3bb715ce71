/**
 * What the tests of the gateway's keyring and the RPCs that name its keys (DH-HMAC-CHAP key
 * names, NVMe/TCP TLS) share: a check that a JSON-RPC call fails with a given code, and a
 * fixture that gives each test a fresh directory, in-process gateways that save their config
 * there and log into one list, key files written there (each remembered as a secret) and a
 * check that no secret shows in a text; the gateways and targets made are closed after each test.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway, type JsonRpcError, type Target } from '../../lib';

/** `p` rejects with a JsonRpcError of `code`, its message matching `message`; returns the error. */
export async function rpcRejects(p: Promise<unknown>, code: number, message?: RegExp): Promise<JsonRpcError> {
  let error: JsonRpcError | undefined;
  await assert.rejects(p, (e: JsonRpcError) => {
    assert.equal(e.rpcCode, code, e.message);
    if (message) assert.match(e.message, message);
    error = e;
    return true;
  });
  return error!;
}

/** One test's directory, log and secrets (set before each test); its helpers need no `this`. */
export class GatewayKeysFixture {
  dir = '';
  /** Every gateway's log lines, as JSON. */
  logs: string[] = [];
  /** What this test wrote to key files: none may show anywhere. */
  secrets: string[] = [];
  /** Closed after each test: the gateways gateway() started, and any the test adds; then the targets it adds. */
  readonly gateways: Gateway[] = [];
  readonly targets: Target[] = [];

  /** A started gateway with no RPC socket, saving its config to config.json in the test's directory. */
  readonly gateway = async (): Promise<Gateway> => {
    const g = new Gateway({ socketPath: null, configPath: join(this.dir, 'config.json'), log: (e) => this.logs.push(JSON.stringify(e)) });
    await g.start();
    this.gateways.push(g);
    return g;
  };

  /** A key file holding `text`, as nvme-cli's gen-dhchap-key or gen-tls-key output is saved: with a newline, `mode` whatever the umask made of it. */
  readonly keyFile = (name: string, text: string, mode = 0o600): string => {
    const path = join(this.dir, name);
    writeFileSync(path, `${text}\n`);
    chmodSync(path, mode);
    this.secrets.push(text);
    return path;
  };

  /** No key file's material (a key's base64, or the whole of a file that holds none) in any of `texts`. */
  readonly noSecretIn = (...texts: string[]): void => {
    assert.ok(this.secrets.length > 0);
    for (const s of this.secrets) {
      const body = s.split(':')[2] || s;
      for (const t of texts) assert.ok(!t.includes(body), `key material shows in ${t.slice(0, 300)}`);
    }
  };
}

/** Registers, in the calling describe(), the hooks that set the fixture up in a new `tmpPrefix` directory and close and remove it all after each test. */
export function gatewayKeysFixture(tmpPrefix: string): GatewayKeysFixture {
  const f = new GatewayKeysFixture();
  beforeEach(() => {
    f.dir = mkdtempSync(join(tmpdir(), tmpPrefix));
    f.logs = [];
    f.secrets = [];
  });
  afterEach(async () => {
    for (const g of f.gateways.splice(0)) await g.close();
    for (const t of f.targets.splice(0)) t.closeSync();
    rmSync(f.dir, { recursive: true, force: true });
  });
  return f;
}
