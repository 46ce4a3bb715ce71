/**
 * What the mayastor tests share: the v0 OpenAPI spec where it is at hand (reference
 * material kept beside the repository, not in it), a fake control plane that checks
 * every exchange against it, and a plugin opened on that fake.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { CsiLogger, MayastorPlugin } from '../../lib/csi';
import { MayastorFakeServer, type FakePool } from './mayastor-fake-server';
import { OpenApi } from './openapi';

/** From dist/test/support: the repository root is three levels up, `shared` beside it. */
export const MAYASTOR_SPEC_PATH = resolve(__dirname, '../../..', '..', 'shared', 'reference', 'mayastor-rest-v0.openapi.yaml');
export const MAYASTOR_SPEC = existsSync(MAYASTOR_SPEC_PATH) ? OpenApi.load(MAYASTOR_SPEC_PATH) : undefined;

/** A fake Mayastor control plane, checked against the spec when there is one. */
export function startFakeMayastor(options: { pools?: FakePool[] } = {}): Promise<MayastorFakeServer> {
  return MayastorFakeServer.start({ ...(MAYASTOR_SPEC ? { spec: MAYASTOR_SPEC } : {}), ...options });
}

/**
 * Closes the fake and returns the spec violations it saw, taken before it closes: the
 * caller asserts there are none once it has cleaned up.
 */
export async function closeFakeMayastor(fake: MayastorFakeServer): Promise<string[]> {
  const violations = [...fake.violations];
  await fake.close();
  return violations;
}

/** A mayastor plugin on `endpoint`, opened; a 2 s REST timeout keeps the slow-server tests short. */
export async function openMayastorPlugin(endpoint: string, stateDir: string, log: CsiLogger): Promise<MayastorPlugin> {
  const plugin = new MayastorPlugin({ endpoint, stateDir, log, timeoutMs: 2000 });
  await plugin.open();
  return plugin;
}
