/**
 * The host-facing NVMe function, made through the bridge's own OPI API (the path every
 * OPI client takes): the subsystem `host-function` and its controller
 * `host-function-0`, the fabrics listener the host's kernel connects to once, as to the
 * PCIe function a real DPU presents. Volumes then come and go as its namespaces.
 *
 * Idempotent at every start: what the bridge's state restored is kept; an allowed host
 * that changed is updated; a controller whose endpoint changed is made again (its host
 * reconnects to the new address). What the subsystem fixed at creation (NQN, model,
 * namespace limit, a serial given explicitly) cannot change under its volumes: a start
 * that asks otherwise fails.
 */
import type { Logger } from '../log/logger';
import { OpiClientError, OpiStatus, type OpiClient } from '../opi';
import type { NvmeController, NvmeSubsystem } from '../opi/messages';
import { DpuError } from './errors';
import type { HostFacing } from './host-facing';

export const HOST_SUBSYSTEM_ID = 'host-function';
export const HOST_CONTROLLER_ID = 'host-function-0';
export const HOST_FUNCTION_MODEL = 'rdmagate DPU function';
export const HOST_FUNCTION_MAX_NAMESPACES = 256;

export interface HostFunctionSpec {
  nqn: string;
  /** The one host let in; '': any host. */
  hostNqn: string;
  /** Given explicitly: must match. Otherwise `defaultSerial` at creation, and whatever it was since. */
  serial?: string;
  defaultSerial: string;
  endpoint: HostFacing;
}

/** Where the host's kernel connects: `nvme connect -t trtype -a traddr -s trsvcid -n nqn`. */
export interface HostFunction {
  nqn: string;
  trtype: 'tcp' | 'rdma';
  traddr: string;
  trsvcid: number;
  /** The OPI names: nvmeSubsystems/host-function and its controller. */
  subsystem: string;
  controller: string;
}

const FE = 'FrontendNvmeService';

/** The resource, or undefined when the bridge answers NOT_FOUND. */
async function find<T>(client: OpiClient, method: string, name: string): Promise<T | undefined> {
  try {
    return await client.call<T>(FE, method, { name });
  } catch (e) {
    if (e instanceof OpiClientError && e.grpcCode === OpiStatus.NOT_FOUND) return undefined;
    throw e;
  }
}

function endpointOf(h: HostFacing) {
  return {
    trtype: h.trtype === 'tcp' ? 'NVME_TRANSPORT_TYPE_TCP' : 'NVME_TRANSPORT_TYPE_RDMA',
    fabrics_id: { traddr: h.traddr, trsvcid: String(h.trsvcid), adrfam: h.adrfam === 'IPv4' ? 'NVME_ADDRESS_FAMILY_IPV4' : 'NVME_ADDRESS_FAMILY_IPV6' },
  };
}

const sameEndpoint = (a: ReturnType<typeof endpointOf>, c: NvmeController) =>
  c.spec?.trtype === a.trtype && c.spec.fabrics_id?.traddr === a.fabrics_id.traddr
  && c.spec.fabrics_id.trsvcid === a.fabrics_id.trsvcid && c.spec.fabrics_id.adrfam === a.fabrics_id.adrfam;

export async function ensureHostFunction(client: OpiClient, want: HostFunctionSpec, log: Logger): Promise<HostFunction> {
  const subsystem = `nvmeSubsystems/${HOST_SUBSYSTEM_ID}`;
  const existing = await find<NvmeSubsystem>(client, 'GetNvmeSubsystem', subsystem);
  if (existing?.spec) {
    const s = existing.spec;
    const fixed = [
      ['nqn', s.nqn, want.nqn],
      ['model_number', s.model_number, HOST_FUNCTION_MODEL],
      ['max_namespaces', String(s.max_namespaces), String(HOST_FUNCTION_MAX_NAMESPACES)],
      ...(want.serial === undefined ? [] : [['serial_number', s.serial_number, want.serial]]),
    ].filter(([, has, asked]) => has !== asked);
    if (fixed.length > 0) {
      throw new DpuError('ERR_DPU_HOST_FUNCTION', `the host function ${subsystem} exists with ` +
        `${fixed.map(([f, has, asked]) => `${f} '${has}' (asked: '${asked}')`).join(', ')}, fixed at its creation: ` +
        'start with the settings it was made with, or delete it (after its namespaces) through the OPI API');
    }
    if (s.hostnqn !== want.hostNqn) {
      await client.call(FE, 'UpdateNvmeSubsystem', { nvme_subsystem: { name: subsystem, spec: { hostnqn: want.hostNqn } },
        update_mask: { paths: ['spec.hostnqn'] } });
      log.info('dpu: the host function lets in another host', { from: s.hostnqn, to: want.hostNqn });
    }
  } else {
    await client.call(FE, 'CreateNvmeSubsystem', { nvme_subsystem_id: HOST_SUBSYSTEM_ID, nvme_subsystem: { spec: {
      nqn: want.nqn, serial_number: want.serial ?? want.defaultSerial, model_number: HOST_FUNCTION_MODEL,
      max_namespaces: HOST_FUNCTION_MAX_NAMESPACES, hostnqn: want.hostNqn } } });
    log.info('dpu: host function subsystem made', { name: subsystem, nqn: want.nqn });
  }

  const controller = `${subsystem}/nvmeControllers/${HOST_CONTROLLER_ID}`;
  const spec = endpointOf(want.endpoint);
  const current = await find<NvmeController>(client, 'GetNvmeController', controller);
  if (current && !sameEndpoint(spec, current)) {
    log.warn('dpu: the host function moves to another endpoint; its host reconnects there',
      { from: `${current.spec?.trtype} ${current.spec?.fabrics_id?.traddr}:${current.spec?.fabrics_id?.trsvcid}`,
        to: `${spec.trtype} ${spec.fabrics_id.traddr}:${spec.fabrics_id.trsvcid}` });
    await client.call(FE, 'DeleteNvmeController', { name: controller });
  }
  if (!current || !sameEndpoint(spec, current)) {
    await client.call(FE, 'CreateNvmeController', { parent: subsystem, nvme_controller_id: HOST_CONTROLLER_ID,
      nvme_controller: { spec } });
    log.info('dpu: host function controller made', { name: controller, trtype: want.endpoint.trtype,
      traddr: want.endpoint.traddr, trsvcid: want.endpoint.trsvcid });
  }
  const { trtype, traddr, trsvcid } = want.endpoint;
  return { nqn: want.nqn, trtype, traddr, trsvcid, subsystem, controller };
}
