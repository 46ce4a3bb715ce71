/**
 * More than one path on the commands that connect as a host (id-ctrl, id-ns, perf): -a/--traddr
 * and -s/--trsvcid repeated, the i-th -s with the i-th -a (or one -s for every -a), and
 * --multipath-policy and --multipath-selector with SPDK's names (bdev_nvme_set_multipath_policy). One -a is the
 * single-path command as it always was; more make one multipath controller of the host's.
 */
import { InvalidArgumentError } from '../errors';
import { SPDK_MULTIPATH_POLICIES, SPDK_MULTIPATH_SELECTORS, type MultipathPolicy, type PathInfo } from '../nvmf/host';
import { stringFlags, type FlagSpec, type ParsedArgs } from './args';

export const MULTIPATH_POLICY_FLAG: FlagSpec = {
  name: 'multipath-policy', choices: Object.keys(SPDK_MULTIPATH_POLICIES),
  help: 'with more than one -a: active_passive (default; the first usable path takes every command) '
    + 'or active_active (commands take turns over the usable paths, round robin)',
};

export const MULTIPATH_SELECTOR_FLAG: FlagSpec = {
  name: 'multipath-selector', choices: Object.keys(SPDK_MULTIPATH_SELECTORS),
  help: 'with --multipath-policy active_active: round_robin (default) or queue_depth (each command down the path with '
    + 'the fewest outstanding)',
};

/** One path as the flags give it; the port still a string, for the command to check as it always has. */
export interface PathFlags {
  traddr: string;
  /** Undefined: no -s, the transport's default port. */
  trsvcid: string | undefined;
}

/** A repeatable flag's values: the parser joins repeats with commas (args.ts' list flags). */
function values(args: ParsedArgs, name: string): string[] {
  const v = stringFlags(args)(name);
  if (v === undefined) return [];
  const list = v.split(',');
  // One empty value is left to the command, which has always had its say on it.
  if (list.length > 1 && list.some((x) => x === '')) throw new InvalidArgumentError(`--${name} got an empty value in '${v}'`);
  return list;
}

/**
 * -a and -s paired into paths: the i-th -s goes with the i-th -a, a single -s with every -a;
 * any other count of -s is a usage error. None when -a is not given.
 */
export function pathFlags(args: ParsedArgs): PathFlags[] {
  const addresses = values(args, 'traddr');
  const ports = values(args, 'trsvcid');
  if (ports.length > 1 && ports.length !== addresses.length) {
    throw new InvalidArgumentError(`-s/--trsvcid given ${ports.length} times for ${addresses.length} -a/--traddr: `
      + 'give one -s for each -a, in the same order, or a single -s for all');
  }
  return addresses.map((traddr, i) => ({ traddr, trsvcid: ports.length > 1 ? ports[i] : ports[0] }));
}

/**
 * --multipath-policy (and --multipath-selector) as the host's policy (its default where not
 * given); refused with one path, where there is nothing to choose.
 */
export function multipathPolicy(args: ParsedArgs, paths: number): MultipathPolicy | undefined {
  const name = stringFlags(args)(MULTIPATH_POLICY_FLAG.name);
  const selector = stringFlags(args)(MULTIPATH_SELECTOR_FLAG.name);
  if (selector !== undefined && name !== 'active_active') {
    throw new InvalidArgumentError('--multipath-selector chooses among active_active\'s paths: give --multipath-policy active_active');
  }
  if (name === undefined) return undefined;
  if (paths < 2) throw new InvalidArgumentError('--multipath-policy applies to more than one path (-a given more than once)');
  // The parser allows only these names.
  if (selector !== undefined) return SPDK_MULTIPATH_SELECTORS[selector as keyof typeof SPDK_MULTIPATH_SELECTORS];
  return SPDK_MULTIPATH_POLICIES[name as keyof typeof SPDK_MULTIPATH_POLICIES];
}

/** A path as nvme-cli's list-subsys prints one: ` +- tcp traddr=10.0.0.1,trsvcid=4420 live ana=1:optimized`. */
export function formatPath(p: PathInfo): string {
  const ana = Object.entries(p.ana).map(([group, state]) => `${group}:${state}`).join(',');
  return ` +- ${p.transport} traddr=${p.traddr},trsvcid=${p.trsvcid} ${p.state}${ana ? ` ana=${ana}` : ''}`
    + (p.failovers > 0 ? ` failovers=${p.failovers}` : '');
}
