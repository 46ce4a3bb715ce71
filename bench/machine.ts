/** What the benchmark ran on, recorded next to its numbers so that results can be compared. */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Machine {
  cpu: string;
  nproc: number;
  kernel: string;
  node: string;
  date: string;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    // not Linux, or /proc is hidden: fall back to what Node knows
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

export function machine(): Machine {
  return {
    cpu: cpuModel(),
    nproc: os.availableParallelism(),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    date: new Date().toISOString(),
  };
}

/** bench/results in the source tree (these scripts run from dist/bench). */
export const RESULTS_DIR = path.resolve(__dirname, '..', '..', 'bench', 'results');
