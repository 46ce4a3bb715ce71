/** `npm run bench:matrix -- [flags]`: the command line, checked up front. */
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from '../lib/cli/args';
import { InvalidArgumentError } from '../lib/errors';
import { defaultReactorCounts } from './matrix-cases';
import { RESULTS_DIR } from './machine';
import { mkdtempSync } from 'node:fs';

export interface MatrixOptions {
  runtimeS: number;
  rampS: number;
  reactorCounts: number[];
  /** Keep the cells whose label ("tcp r2 gateway 4k randread QD64") contains this. */
  only: string | undefined;
  outDir: string;
  quick: boolean;
  /** The IPv4 address to serve NVMe/RDMA on; default: that of the first RDMA device with one. */
  rdmaAddress: string | undefined;
}

export const MATRIX_USAGE = `usage: npm run bench:matrix -- [--runtime S] [--ramp S] [--reactors 1,2,...] [--only TEXT] [--out DIR | --save]
                              [--quick] [--rdma-address IP]
  --runtime S        seconds counted per cell (default 5)
  --ramp S           seconds run first and not counted (default 1)
  --reactors LIST    reactor counts (default 1, 2, 4, ... up to this machine's ${os.availableParallelism()} CPUs)
  --only TEXT        only the cells whose label contains TEXT, e.g. "tcp r1", "gateway", "QD1"
  --out DIR          where matrix.json, matrix.md and the charts go (default: a new temporary directory)
  --save             write them to bench/results, the committed results
  --quick            runtime 1, ramp 0.5: a smoke test, not figures to keep
  --rdma-address IP  serve NVMe/RDMA on this address (default: the first RDMA device's IPv4 address)`;

const FLAGS = [
  { name: 'runtime' }, { name: 'ramp' }, { name: 'reactors' }, { name: 'only' }, { name: 'out' }, { name: 'save', boolean: true },
  { name: 'quick', boolean: true }, { name: 'rdma-address' }, { name: 'help', short: 'h', boolean: true },
];
const DEFAULT_RUNTIME_S = 5;
const DEFAULT_RAMP_S = 1;
const QUICK = { runtimeS: 1, rampS: 0.5 };
const MAX_REACTORS = 64;

function seconds(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min) {
    throw new InvalidArgumentError(`--${flag} must be a number of seconds >= ${min}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function reactorList(value: string): number[] {
  const counts = value.split(',').map((s) => s.trim());
  const parsed = counts.map((s) => Number(s));
  if (counts.some((s, i) => !/^\d+$/.test(s) || parsed[i] < 1 || parsed[i] > MAX_REACTORS)) {
    throw new InvalidArgumentError(`--reactors must be a comma-separated list of counts in [1, ${MAX_REACTORS}], got ${JSON.stringify(value)}`);
  }
  return [...new Set(parsed)].sort((a, b) => a - b);
}

/** undefined for --help. */
export function matrixOptions(argv: string[], cwd = process.cwd()): MatrixOptions | undefined {
  const { flags, positionals } = parseArgs(argv, FLAGS);
  if (flags.has('help')) return undefined;
  if (positionals.length > 0) throw new InvalidArgumentError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const text = (name: string) => {
    const v = flags.get(name);
    return typeof v === 'string' ? v : undefined;
  };
  const quick = flags.get('quick') === true;
  const runtime = text('runtime');
  const ramp = text('ramp');
  const reactors = text('reactors');
  const out = text('out');
  return {
    // An explicit --runtime or --ramp wins over --quick's.
    runtimeS: runtime !== undefined ? seconds(runtime, 'runtime', 0.1) : quick ? QUICK.runtimeS : DEFAULT_RUNTIME_S,
    rampS: ramp !== undefined ? seconds(ramp, 'ramp', 0) : quick ? QUICK.rampS : DEFAULT_RAMP_S,
    reactorCounts: reactors !== undefined ? reactorList(reactors) : defaultReactorCounts(os.availableParallelism()),
    only: text('only'),
    // The committed results only when asked (--save), as the other benches.
    outDir: out !== undefined ? path.resolve(cwd, out) : flags.get('save') === true ? RESULTS_DIR
      : mkdtempSync(path.join(os.tmpdir(), 'rdmagate-bench-matrix-')),
    quick,
    rdmaAddress: text('rdma-address'),
  };
}
