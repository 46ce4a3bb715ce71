/**
 * The target's JSON config: what `rdmagate target --config FILE` reads. Bdevs first,
 * then subsystems with their namespaces and hosts, then listeners.
 */
import { InvalidArgumentError } from '../../errors';
import * as v from '../../validate';
import { Target, type BdevOptions, type ListenOptions, type NamespaceOptions, type SubsystemOptions, type TargetOptions } from './target';

export interface TargetConfig extends TargetOptions {
  bdevs?: BdevOptions[];
  subsystems?: (SubsystemOptions & { namespaces?: NamespaceOptions[] })[];
  listeners?: ListenOptions[];
}

export const DEFAULT_NQN = 'nqn.2026-11.io.rdmagate:default';

/** One RAM namespace on tcp 127.0.0.1:4420 (and discovery on the same listener). */
export function defaultTargetConfig(overrides: { address?: string; port?: number; nqn?: string; sizeMiB?: number } = {}): TargetConfig {
  return {
    bdevs: [{ type: 'malloc', name: 'Malloc0', sizeBytes: (overrides.sizeMiB ?? 64) * 1024 * 1024, blockSize: 512 }],
    subsystems: [{ nqn: overrides.nqn ?? DEFAULT_NQN, allowAnyHost: true, namespaces: [{ bdev: 'Malloc0', nsid: 1 }] }],
    listeners: [{ transport: 'tcp', address: overrides.address ?? '127.0.0.1', port: overrides.port ?? 4420 }],
  };
}

/** Builds a started target from a config; on any error the target is closed again. */
export function targetFromConfig(config: TargetConfig): Target {
  const c = v.object<TargetConfig>(config, 'config');
  for (const key of ['bdevs', 'subsystems', 'listeners'] as const) {
    if (c[key] !== undefined && !Array.isArray(c[key])) throw new InvalidArgumentError(`config.${key} must be an array`);
  }
  const target = new Target(c);
  try {
    for (const b of c.bdevs ?? []) target.createBdev(b);
    for (const s of c.subsystems ?? []) {
      const sub = target.addSubsystem(s);
      for (const n of s.namespaces ?? []) sub.addNamespace(n);
    }
    for (const l of c.listeners ?? []) target.listen(l);
  } catch (e) {
    target.closeSync();
    throw e;
  }
  return target;
}
