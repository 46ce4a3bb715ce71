/**
 * NVMe/TCP TLS PSKs in OPI requests (NvmeRemoteController.tcp.psk, NvmeSubsystem.spec.psk):
 * bytes holding the interchange string `NVMeTLSkey-1:0X:<base64>:` that `nvme gen-tls-key`
 * writes. Checked before anything changes, kept in the bridge's key directory (keys.ts) and
 * named to the gateway, never answered (Get and List give psk empty), logged or saved in the
 * state file; no message repeats one.
 */
import type { KeyFile } from '../key-dir';
import { checkTlsPskForm } from '../nvmf/tls';
import { failedPrecondition, invalidArgument } from './errors';
import { bytes, message, type Raw } from './fields';
import type { KeyOwner } from './keys';
import type { ServiceContext } from './services/context';

/** The PSK in field `key` of `raw`, '' when it is empty; INVALID_ARGUMENT naming `path` for anything but a PSK. */
export function readPsk(raw: Raw | undefined, key: string, path: string): string {
  const b = bytes(raw, key, path);
  if (b.length === 0) return '';
  const text = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8').trim();
  checkTlsPskForm(text, path, invalidArgument);
  return text;
}

/** Whether the key named `name` (undefined: none) is PSK `psk` ('' : none). */
export async function samePsk(ctx: ServiceContext, name: string | undefined, psk: string): Promise<boolean> {
  if (name === undefined || psk === '') return name === undefined && psk === '';
  return (await ctx.keys?.holds(name, psk)) ?? false;
}

/**
 * What an update does to a resource's PSK: `psk` undefined keeps the one there, '' clears it,
 * anything else replaces it; `changed` when that differs from the key named `current`. The PSK
 * is never answered, so the merged resource carries the request's PSK or none: none keeps
 * it, unless the update's mask names the PSK (`masked`).
 */
export async function updatedPsk(ctx: ServiceContext, asked: string, masked: boolean, current: string | undefined):
    Promise<{ psk: string | undefined; changed: boolean }> {
  const psk = asked !== '' || masked ? asked : undefined;
  return { psk, changed: psk !== undefined && !(await samePsk(ctx, current, psk)) };
}

/** Whether an update's mask names `field` (the PSK, or a message holding it): an update without a mask never clears it. */
export function masksField(req: Raw, ...fields: string[]): boolean {
  const paths = (message(req, 'update_mask', 'update_mask')?.paths ?? []) as string[];
  return fields.some((f) => paths.includes(f));
}

/** A new key file for PSK `psk` of `owner` `id`: its name. FAILED_PRECONDITION for a bridge without a key directory. */
export async function storePsk(ctx: ServiceContext, owner: KeyOwner, id: string, psk: string): Promise<string> {
  if (!ctx.keys) {
    throw failedPrecondition('this bridge has no key directory (OpiBridgeOptions.keyDir, default beside its state file): ' +
      'it cannot give the gateway a TLS PSK');
  }
  return (await ctx.keys.store(owner, id, psk)).name;
}

/** The file of key `name` (undefined: no key). */
export function pskFile(ctx: ServiceContext, name: string | undefined): KeyFile | undefined {
  if (name === undefined) return undefined;
  if (!ctx.keys) throw failedPrecondition(`this bridge has no key directory: the PSK '${name}' it recorded cannot be read`);
  return ctx.keys.file(name);
}

/**
 * Takes the keys no record names any more off the gateway's keyring (those of this bridge:
 * `opi_` names) and out of the key directory, as a change of its own, after the change that
 * stopped using them. A failure is logged: the next prune takes them.
 */
export async function prunePsks(ctx: ServiceContext): Promise<void> {
  const keys = ctx.keys;
  if (!keys) return;
  await ctx.changes.run(async () => {
    const keep = ctx.state.keyNames();
    // A keyring that cannot be listed has nothing taken off; the files go all the same.
    const listed = await ctx.gateway.keyring.names().catch(() => undefined);
    await ctx.gateway.keyring.removeByPrefix('opi_', listed, keep);
    await keys.prune(keep);
  }).catch((e: unknown) => ctx.log.warn('opi: could not remove unused TLS PSKs', { error: (e as Error).message }));
}
