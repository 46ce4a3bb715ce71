/** The CSI Identity service: who we are, what we serve, and whether we are ready. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { GetPluginCapabilitiesResponse, GetPluginInfoResponse, PluginCapability, ProbeResponse } from './types';
import type { RpcHandlers } from './server';

export const DRIVER_NAME = 'rdmagate.csi.io';

export interface IdentityServiceOptions {
  /** Whether the Controller service is served by this endpoint. */
  controller: boolean;
  /** Written into GetPluginInfo's manifest, e.g. the node role. */
  manifest?: Record<string, string>;
  /** Throws (a CsiError) when the plugin is unhealthy; see Probe. */
  probe?: () => Promise<void>;
}

export class IdentityService {
  readonly #options: IdentityServiceOptions;

  constructor(options: IdentityServiceOptions) {
    this.#options = options;
  }

  handlers(): RpcHandlers {
    return {
      GetPluginInfo: async () => this.getPluginInfo(),
      GetPluginCapabilities: async () => this.getPluginCapabilities(),
      Probe: () => this.probe(),
    };
  }

  getPluginInfo(): GetPluginInfoResponse {
    return { name: DRIVER_NAME, vendor_version: packageVersion(), manifest: this.#options.manifest ?? {} };
  }

  getPluginCapabilities(): GetPluginCapabilitiesResponse {
    const capabilities: PluginCapability[] = [{ service: { type: 'VOLUME_ACCESSIBILITY_CONSTRAINTS' } }];
    if (this.#options.controller) {
      capabilities.unshift({ service: { type: 'CONTROLLER_SERVICE' } });
      // Published volumes grow too: the gateway tells their hosts (bdev_uring_rescan, or the
      // backend's own notice for a storage system's volume).
      capabilities.push({ volume_expansion: { type: 'ONLINE' } });
    }
    return { capabilities };
  }

  /** CSI: an unhealthy plugin answers an error; a healthy one ready=true. */
  async probe(): Promise<ProbeResponse> {
    await this.#options.probe?.();
    return { ready: { value: true } };
  }
}

let version: string | undefined;

function packageVersion(): string {
  if (version === undefined) {
    version = 'unknown';
    for (const p of [resolve(__dirname, '../../package.json'), resolve(__dirname, '../../../package.json')]) {
      try {
        const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'rdmagate' && pkg.version) {
          version = pkg.version;
          break;
        }
      } catch {
        // not this one
      }
    }
  }
  return version;
}
