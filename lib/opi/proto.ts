/**
 * opi/storage/*.proto (the project's own wire-compatible copy of opi-api's storage
 * package) and opi/rdmagate/*.proto (our extensions, in a package of our own), loaded at
 * run time with @grpc/proto-loader, with the decoding options messages.ts describes.
 */
import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { RdmagateError } from '../errors';

export const OPI_PROTO_FILES = ['storage/backend_nvme.proto', 'storage/backend_aio.proto', 'storage/frontend_nvme.proto'];
/** What OPI has no API for, served beside it: package rdmagate.dpu.v1. */
export const EXTENSION_PROTO_FILES = ['rdmagate/kernel_nvme.proto'];

/** The directory the imports ("storage/opicommon.proto") resolve from: lib/opi from the sources, dist/lib/opi once built. */
function protoRoot(): string {
  for (const dir of [resolve(__dirname, '../../opi'), resolve(__dirname, '../../../opi')]) {
    if (existsSync(resolve(dir, 'storage/opicommon.proto'))) return dir;
  }
  throw new RdmagateError('ERR_NOT_FOUND', `opi/storage/*.proto is missing from the package (looked from ${__dirname})`);
}

export type OpiServiceName = 'NvmeRemoteControllerService' | 'AioVolumeService' | 'FrontendNvmeService';
export const OPI_SERVICES: readonly OpiServiceName[] = ['NvmeRemoteControllerService', 'AioVolumeService', 'FrontendNvmeService'];

export type ExtensionServiceName = 'KernelNvmeService';
export const EXTENSION_SERVICES: readonly ExtensionServiceName[] = ['KernelNvmeService'];
/** Every service a bridge may serve: OPI's and ours. */
export type BridgeServiceName = OpiServiceName | ExtensionServiceName;

let loaded: Record<BridgeServiceName, ServiceClientConstructor> | undefined;

function load(): Record<BridgeServiceName, ServiceClientConstructor> {
  if (!loaded) {
    const options: Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [protoRoot()] };
    const pkg = loadPackageDefinition(loadSync([...OPI_PROTO_FILES, ...EXTENSION_PROTO_FILES], options));
    const v1 = ((pkg.opi_api as GrpcObject).storage as GrpcObject).v1 as GrpcObject;
    const ours = ((pkg.rdmagate as GrpcObject).dpu as GrpcObject).v1 as GrpcObject;
    loaded = Object.fromEntries([
      ...OPI_SERVICES.map((s) => [s, v1[s] as ServiceClientConstructor]),
      ...EXTENSION_SERVICES.map((s) => [s, ours[s] as ServiceClientConstructor]),
    ]) as Record<BridgeServiceName, ServiceClientConstructor>;
  }
  return loaded;
}

/** The three OPI services' constructors; each has `.service`, the definition a Server adds. */
export function opiServices(): Record<OpiServiceName, ServiceClientConstructor> {
  const all = load();
  return Object.fromEntries(OPI_SERVICES.map((s) => [s, all[s]])) as Record<OpiServiceName, ServiceClientConstructor>;
}

/** OPI's services and our extensions, by name. */
export function bridgeServices(): Record<BridgeServiceName, ServiceClientConstructor> {
  return load();
}
