/**
 * A test that needs what a machine may lack (root, a mount, a free default path). Under CI
 * (.ci/run sets RDMAGATE_CI) the lack fails the test, so that it cannot pass by skipping;
 * elsewhere the test says what it lacks, and skips.
 */
export function needs(ctx: Mocha.Context, ok: boolean, what: string): void {
  if (ok) return;
  if (process.env.RDMAGATE_CI) throw new Error(`this test needs ${what}, and CI must provide it`);
  console.log(`      skipped: needs ${what}`);
  ctx.skip();
}
