/** The status line fio keeps on a terminal while it runs; nothing when stderr is not a TTY. */
import { formatMiB, formatShort } from './units';

export interface PerfProgress {
  elapsedS: number;
  /** ramp_time + runtime. */
  totalS: number;
  /** Over the last interval. */
  iops: number;
  bytesPerS: number;
}

export class ProgressLine {
  readonly #stream: NodeJS.WriteStream;
  readonly #jobs: number;
  #width = 0;

  constructor(jobs: number, stream: NodeJS.WriteStream = process.stderr) {
    this.#stream = stream;
    this.#jobs = jobs;
  }

  get enabled(): boolean {
    return this.#stream.isTTY === true;
  }

  update(p: PerfProgress): void {
    if (!this.enabled) return;
    const pct = Math.min(100, (p.elapsedS / p.totalS) * 100);
    const text = `Jobs: ${this.#jobs}: [${pct.toFixed(1)}%][${formatMiB(p.bytesPerS)}/s][${formatShort(p.iops)} IOPS]` +
      `[elapsed ${Math.round(p.elapsedS)}s/${Math.round(p.totalS)}s]`;
    this.#stream.write(`\r${text.padEnd(this.#width)}`);
    this.#width = text.length;
  }

  /** Erases the line, so that the report starts on a clean one. */
  clear(): void {
    if (!this.enabled || this.#width === 0) return;
    this.#stream.write(`\r${' '.repeat(this.#width)}\r`);
    this.#width = 0;
  }
}
