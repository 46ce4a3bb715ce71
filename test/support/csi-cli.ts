/**
 * `rdmagate csi` as a child process, for the tests that run the driver's command line: it
 * starts with its stderr (JSON log lines) captured, and is waited for until it says it listens.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/** The built command line (dist/lib/cli/main.js). */
export const CLI_MAIN = resolve(__dirname, '../../lib/cli/main.js');

export interface CsiProcess {
  child: ChildProcess;
  /** What it has written to stderr so far. */
  stderr: () => string;
}

/** Starts `rdmagate csi ARGS...`; `env` replaces the environment when given. */
export function runCsi(args: string[], env?: NodeJS.ProcessEnv): CsiProcess {
  const child = spawn(process.execPath, [CLI_MAIN, 'csi', ...args], { stdio: ['ignore', 'ignore', 'pipe'], ...(env ? { env } : {}) });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d; });
  return { child, stderr: () => err };
}

/**
 * Until the driver says it listens: the socket file appears at bind(), a moment before
 * listen(), and a connect in between is refused (seen on a loaded machine).
 */
export async function waitForCsi(path: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const listening = () => existsSync(path) && stderr().includes('"msg":"csi listening"');
  for (let i = 0; i < 400 && !listening(); i++) {
    if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(listening(), `not listening at ${path}: ${stderr()}`);
}

/** SIGTERM, then its exit code (null: it died of a signal). */
export async function stopCsi(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}
