/**
 * OPI resource names (AIP-122): `collection/{id}` and `parent/{pid}/collection/{id}`,
 * relative, as opi-api's patterns have them. The server makes every name; a client
 * chooses only the {resource}_id, or gets a UUID.
 */
import { randomUUID } from 'node:crypto';
import { invalidArgument } from './errors';

export const Collection = {
  remoteControllers: 'nvmeRemoteControllers',
  paths: 'nvmePaths',
  remoteNamespaces: 'nvmeRemoteNamespaces',
  aioVolumes: 'aioVolumes',
  subsystems: 'nvmeSubsystems',
  controllers: 'nvmeControllers',
  namespaces: 'nvmeNamespaces',
} as const;
export type Collection = (typeof Collection)[keyof typeof Collection];

/**
 * Lower-case letters, digits and '-', 63 at most, not starting or ending with '-'. A
 * leading digit is allowed (AIP-122 would not), so that a UUID, the id we generate and
 * the one a CSI volume has, is a valid id too.
 */
const ID = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function isId(text: string): boolean {
  return ID.test(text);
}

/** The id a create uses: the client's after checking it, or a fresh UUID. */
export function resourceId(requested: string, field: string): string {
  if (requested === '') return randomUUID();
  if (!isId(requested)) {
    throw invalidArgument(`${field} '${requested}' is not a valid id: lower-case letters, digits and '-', ` +
      'at most 63, not starting or ending with \'-\'');
  }
  return requested;
}

export function topName(collection: Collection, id: string): string {
  return `${collection}/${id}`;
}

export function childName(parent: Collection, parentId: string, collection: Collection, id: string): string {
  return `${parent}/${parentId}/${collection}/${id}`;
}

function required(name: string, field: string): string {
  if (name === '') throw invalidArgument(`${field} is required`);
  return name;
}

/** The id in `collection/{id}`; INVALID_ARGUMENT naming `field` for anything else. */
export function parseTop(name: string, collection: Collection, field: string): string {
  const parts = required(name, field).split('/');
  if (parts.length !== 2 || parts[0] !== collection || !isId(parts[1])) {
    throw invalidArgument(`${field} '${name}' is not a ${collection}/{id} name`);
  }
  return parts[1];
}

/** The ids in `parent/{pid}/collection/{id}`. */
export function parseChild(name: string, parent: Collection, collection: Collection, field: string):
  { parentId: string; id: string } {
  const parts = required(name, field).split('/');
  if (parts.length !== 4 || parts[0] !== parent || !isId(parts[1]) || parts[2] !== collection || !isId(parts[3])) {
    throw invalidArgument(`${field} '${name}' is not a ${parent}/{id}/${collection}/{id} name`);
  }
  return { parentId: parts[1], id: parts[3] };
}

/** A remote namespace's name: its controller and the namespace's NSID. */
export function parseRemoteNamespace(name: string, field: string): { controller: string; nsid: number } {
  const parts = required(name, field).split('/');
  const nsid = /^[1-9]\d{0,9}$/.test(parts[3] ?? '') ? Number(parts[3]) : 0;
  if (parts.length !== 4 || parts[0] !== Collection.remoteControllers || !isId(parts[1])
    || parts[2] !== Collection.remoteNamespaces || nsid < 1 || nsid > 0xfffffffe) {
    throw invalidArgument(`${field} '${name}' is not a ${Collection.remoteControllers}/{id}/${Collection.remoteNamespaces}/{nsid} name`);
  }
  return { controller: parts[1], nsid };
}

/** The gateway's bdev for a remote controller's namespace, as bdev_nvme names it. */
export function remoteNamespaceBdev(controller: string, nsid: number): string {
  return `${controller}n${nsid}`;
}

/** What a namespace's volume_name_ref names: the resource that owns it, and the gateway bdev behind it. */
export interface VolumeRef {
  kind: 'aio' | 'remote';
  /** aioVolumes/{id}, or the remote namespace's controller nvmeRemoteControllers/{id}. */
  owner: string;
  bdev: string;
}

export function parseVolumeRef(ref: string, field: string): VolumeRef {
  if (ref.startsWith(`${Collection.remoteControllers}/`)) {
    const { controller, nsid } = parseRemoteNamespace(ref, field);
    return { kind: 'remote', owner: topName(Collection.remoteControllers, controller), bdev: remoteNamespaceBdev(controller, nsid) };
  }
  if (ref.startsWith(`${Collection.aioVolumes}/`)) {
    const id = parseTop(ref, Collection.aioVolumes, field);
    return { kind: 'aio', owner: ref, bdev: id };
  }
  required(ref, field);
  throw invalidArgument(`${field} '${ref}' must name an ${Collection.aioVolumes}/{id} or a ` +
    `${Collection.remoteControllers}/{id}/${Collection.remoteNamespaces}/{nsid}`);
}
