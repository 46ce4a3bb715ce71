/**
 * At start, every recorded resource is applied to the gateway again, idempotently: a
 * gateway that kept its config (its own config file) already has them and nothing
 * changes; one that lost it (a fresh DPU gateway) gets them back, with the same NSIDs,
 * NGUIDs and UUIDs, so hosts see the same disks. Dependencies first: volumes and remote
 * controllers, then subsystems, their listeners, their namespaces. A resource that
 * cannot be applied is logged and the others go on. TLS PSKs are added to the gateway's
 * keyring again from the bridge's key files (keys.ts), before what names them.
 */
import type { KeyFile } from '../key-dir';
import type { Logger } from '../log/logger';
import type { GatewayCalls } from './gateway-calls';
import type { OpiKeyDir } from './keys';
import { childName, Collection, parseVolumeRef, topName } from './names';
import type { BridgeState, RemoteControllerRecord } from './state';

export interface ReconcileReport {
  /** Resources that are on the gateway now (whether or not they had to be made again). */
  applied: string[];
  /** Resources that could not be applied, with why. */
  failed: { name: string; error: string }[];
}

export async function reconcile(state: BridgeState, gateway: GatewayCalls, log: Logger, keys?: OpiKeyDir): Promise<ReconcileReport> {
  const report: ReconcileReport = { applied: [], failed: [] };
  const pskFile = (name: string | undefined): KeyFile | undefined => {
    if (name === undefined) return undefined;
    if (!keys) throw new Error(`its TLS PSK '${name}' is in a key directory this bridge was not given`);
    return keys.file(name);
  };
  const apply = async (name: string, fn: () => Promise<void>) => {
    try {
      await fn();
      report.applied.push(name);
    } catch (e) {
      const error = (e as Error).message;
      report.failed.push({ name, error });
      log.error('opi: could not re-apply a resource to the gateway', { resource: name, error });
    }
  };

  for (const v of state.aioVolumes.values()) {
    await apply(v.name, async () => {
      if (!(await gateway.bdev(v.id))) await gateway.createFileBdev(v.id, v.spec.filename, v.spec.blockSize, v.uuid);
    });
  }
  for (const c of state.remoteControllers.values()) {
    if (c.activePath !== null) await apply(c.name, () => attachSomePath(state, gateway, c, log, pskFile(c.pskKey)));
  }
  for (const s of state.subsystems.values()) {
    await apply(s.name, async () => {
      let there = await gateway.subsystem(s.spec.nqn);
      if (!there) {
        await gateway.createSubsystem({ ...s.spec, ...s.applied });
        there = await gateway.subsystem(s.spec.nqn);
      }
      if (there) await gateway.setHosts(s.spec.nqn, s.spec.hostnqn, there, pskFile(s.pskKey));
    });
  }
  for (const c of state.controllers.values()) {
    await apply(c.name, async () => {
      const sub = state.subsystems.get(topName(Collection.subsystems, c.subsystem));
      if (!sub) throw new Error(`its subsystem ${c.subsystem} is not recorded`);
      await gateway.ensureTransport(c.spec.trtype);
      await gateway.addListener(sub.spec.nqn, c.spec, sub.pskKey !== undefined);
    });
  }
  for (const n of state.namespaces.values()) {
    await apply(n.name, async () => {
      const nqn = state.subsystems.get(topName(Collection.subsystems, n.subsystem))?.spec.nqn;
      if (!nqn) throw new Error(`its subsystem ${n.subsystem} is not recorded`);
      const bdev = parseVolumeRef(n.spec.volumeNameRef, 'volume_name_ref').bdev;
      const there = (await gateway.subsystem(nqn))?.namespaces.find((x) => x.nsid === n.applied.nsid);
      if (there?.bdev_name === bdev) return;
      if (there) throw new Error(`nsid ${n.applied.nsid} of ${nqn} is bdev ${there.bdev_name}, not ${bdev}`);
      await gateway.addNamespace(nqn, { bdev, nsid: n.applied.nsid, nguid: n.applied.nguid, uuid: n.applied.uuid });
    });
  }
  return report;
}

/**
 * Attaches the controller through its active path, or, if that fails, the first standby that
 * works; the others become its failover paths.
 */
async function attachSomePath(state: BridgeState, gateway: GatewayCalls, c: RemoteControllerRecord, log: Logger,
  psk: KeyFile | undefined): Promise<void> {
  if (await gateway.nvmeController(c.id)) return;
  const paths = state.pathsOf(c.id);
  const ordered = [...paths.filter((p) => p.id === c.activePath), ...paths.filter((p) => p.id !== c.activePath)];
  let last: unknown = new Error('it has no paths');
  for (const p of ordered) {
    try {
      await gateway.attachController(c.id, p.spec, c.spec, psk);
      for (const other of paths) if (other !== p) await gateway.addPath(c.id, other.spec, c.spec.multipath);
      if (p.id !== c.activePath) {
        log.warn('opi: remote controller attached through a standby path', { controller: c.name, path: p.name,
          was: childName(Collection.remoteControllers, c.id, Collection.paths, c.activePath ?? '') });
        c.activePath = p.id;
      }
      return;
    } catch (e) {
      last = e;
    }
  }
  throw last;
}
