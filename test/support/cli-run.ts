/**
 * The `rdmagate` CLI as a child process, spawned rather than spawnSync'd: the targets and
 * gateways it talks to often run in the test's own process, which must keep serving.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export const CLI_MAIN = resolve(__dirname, '../../lib/cli/main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[]): Promise<CliResult> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [CLI_MAIN, ...args]);
    let stdout = '', stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    p.on('close', (code) => res({ code, stdout, stderr }));
  });
}
