/** The package's version, for `rdmagate --version`: read from its package.json, the one source of it. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RdmagateError } from '../errors';

/**
 * Walks up from this file: package.json is two levels up from lib/cli, and three from
 * dist/lib/cli where the built command runs.
 */
export function packageVersion(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const version = versionIn(join(dir, 'package.json'));
    if (version !== undefined) return version;
    if (dirname(dir) === dir) throw new RdmagateError('ERR_NOT_FOUND', `no package.json of rdmagate above ${from}`);
  }
}

function versionIn(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;  // not at this level: look further up
  }
  const pkg = JSON.parse(text) as { name?: unknown; version?: unknown };
  return pkg.name === 'rdmagate' && typeof pkg.version === 'string' ? pkg.version : undefined;
}
