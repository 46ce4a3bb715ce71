/**
 * csi/csi.proto, loaded at run time with @grpc/proto-loader (no generated code to keep in
 * step with the proto). The decoding options are the ones lib/csi/types.ts describes.
 */
import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { RdmagateError } from '../errors';

const PROTO_OPTIONS: Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

/** The proto at the package root: lib/csi from the sources, dist/lib/csi once built. */
function protoPath(): string {
  for (const p of [resolve(__dirname, '../../csi/csi.proto'), resolve(__dirname, '../../../csi/csi.proto')]) {
    if (existsSync(p)) return p;
  }
  throw new RdmagateError('ERR_NOT_FOUND', `csi/csi.proto is missing from the package (looked from ${__dirname})`);
}

export type CsiServiceName = 'Identity' | 'Controller' | 'Node';

let loaded: Record<CsiServiceName, ServiceClientConstructor> | undefined;

/** The three services' constructors; each has `.service`, the definition a Server adds. */
export function csiServices(): Record<CsiServiceName, ServiceClientConstructor> {
  if (!loaded) {
    const pkg = loadPackageDefinition(loadSync(protoPath(), PROTO_OPTIONS));
    const v1 = (pkg.csi as GrpcObject).v1 as GrpcObject;
    loaded = {
      Identity: v1.Identity as ServiceClientConstructor,
      Controller: v1.Controller as ServiceClientConstructor,
      Node: v1.Node as ServiceClientConstructor,
    };
  }
  return loaded;
}
