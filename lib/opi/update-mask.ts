/**
 * Update with a field mask (AIP-134): the masked fields of the request's resource are
 * laid over the stored one, and the result is checked like a create. No mask, an empty
 * one or "*" means every updatable field.
 */
import { invalidArgument } from './errors';
import { message, type Raw } from './fields';

/**
 * The mask's paths, each checked against `known` (dotted paths; a path may also name a
 * field inside a known message, e.g. "tcp.hdgst" under "tcp").
 */
export function maskPaths(requestRaw: Raw, known: readonly string[], all: readonly string[]): string[] {
  const mask = message(requestRaw, 'update_mask', 'update_mask');
  const paths = mask?.paths ?? [];
  if (!Array.isArray(paths) || paths.some((p) => typeof p !== 'string')) throw invalidArgument('update_mask.paths must be strings');
  if (paths.length === 0 || (paths.length === 1 && paths[0] === '*')) return [...all];
  for (const p of paths as string[]) {
    if (p === '*') throw invalidArgument('update_mask: "*" must be the only path');
    if (!known.includes(p)) throw invalidArgument(`update_mask: '${p}' is not a field that can be updated (${known.join(', ')})`);
  }
  return paths as string[];
}

/** A copy of `base` with each of `paths` taken from `patch` (absent in `patch`: cleared). */
export function overlay(base: Raw, patch: Raw, paths: readonly string[]): Raw {
  const out = structuredClone(base);
  for (const path of paths) {
    const keys = path.split('.');
    let to: Raw = out;
    let from: Raw | undefined = patch;
    for (const k of keys.slice(0, -1)) {
      if (to[k] === null || typeof to[k] !== 'object') to[k] = {};
      to = to[k] as Raw;
      const next: unknown = from?.[k];
      from = next !== null && typeof next === 'object' ? next as Raw : undefined;
    }
    const last = keys[keys.length - 1];
    to[last] = from?.[last] ?? null;
  }
  return out;
}
