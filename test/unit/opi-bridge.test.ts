import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync, readSync, truncateSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BufferPool, JsonRpcError, OpiBridge, RpcErrorCode, Target, nvmf, opiClient } from '../../lib';
import type { GatewayRpc } from '../../lib/csi/export';
import { OpiStatus } from '../../lib/opi';
import type { AioVolume, NvmeController, NvmeNamespace, NvmePath, NvmeRemoteController, NvmeRemoteNamespace,
  NvmeSubsystem, VolumeStats } from '../../lib/opi/messages';
import { rejectsOverOpi as rejects } from '../support/csi-assert';
import { opiBridgeHarness } from '../support/opi-bridge-harness';

const BACKEND_NQN = 'nqn.2026-11.io.rdmagate:opi-backend';
const FRONT_NQN = 'nqn.2026-11.io.rdmagate:opi-front';
const BACKEND_UUID = '6a1f0c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b';
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000000bb';
const MAIN = resolve(__dirname, '../../lib/cli/main.js');

// Subsystem listeners need a real port: somewhere random, below Linux's ephemeral range.
let nextPort = 20000 + Math.floor(Math.random() * 10000);
const port = () => nextPort++;

const RC = 'NvmeRemoteControllerService';
const AIO = 'AioVolumeService';
const FE = 'FrontendNvmeService';

interface Subsystems {
  nqn: string;
  hosts: { nqn: string }[];
  allow_any_host: boolean;
  listen_addresses: { trtype: string; traddr: string; trsvcid: string }[];
  namespaces?: { nsid: number; bdev_name: string; nguid: string; uuid: string }[];
}

const tcpPath = (trsvcid: number, extra: object = {}) => ({
  trtype: 'NVME_TRANSPORT_TYPE_TCP', traddr: '127.0.0.1',
  fabrics: { trsvcid, subnqn: BACKEND_NQN, adrfam: 'NVME_ADDRESS_FAMILY_IPV4', ...extra },
});

const fabricsController = (trsvcid: number) => ({
  spec: { trtype: 'NVME_TRANSPORT_TYPE_TCP', fabrics_id: { traddr: '127.0.0.1', trsvcid: String(trsvcid), adrfam: 'NVME_ADDRESS_FAMILY_IPV4' } },
});

describe('OPI storage API bridge (opi_api.storage.v1) over the gateway', function () {
  this.timeout(60000);
  let backend: Target;
  let backendPorts: number[];
  const pool = new BufferPool({ chunkSize: 64 * 1024 });
  const h = opiBridgeHarness('rdmagate-opi-');
  const { call, gw, aioFile } = h;

  before(() => {
    backend = new Target({ reactors: 1 });
    backend.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: 4 << 20 });
    backend.addSubsystem({ nqn: BACKEND_NQN }).addNamespace({ bdev: 'Malloc0', nsid: 1, uuid: BACKEND_UUID });
    // Two addresses of the same backend: a path and its standby.
    backendPorts = [0, 0].map(() => backend.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 }).port);
  });

  after(() => backend.closeSync());

  it('refuses a bad construction with typed errors', () => {
    assert.throws(() => new OpiBridge({} as never), { code: 'ERR_INVALID_ARG', message: /rpc must be a GatewayRpc/ });
    assert.throws(() => new OpiBridge({ rpc: h.rpc, statePath: '' }), { code: 'ERR_INVALID_ARG', message: /statePath/ });
    assert.throws(() => new OpiBridge({ rpc: h.rpc, listen: 5 as never }), { code: 'ERR_INVALID_ARG', message: /listen/ });
  });

  describe('NvmeRemoteControllerService', () => {
    const ctrl = { multipath: 'NVME_MULTIPATH_FAILOVER', tcp: { hdgst: false, ddgst: false } };

    it('answers bad requests with INVALID_ARGUMENT naming the field', async () => {
      await rejects(call(RC, 'CreateNvmeRemoteController', {}), OpiStatus.INVALID_ARGUMENT, /nvme_remote_controller is required/);
      await rejects(call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: {} }), OpiStatus.INVALID_ARGUMENT,
        /nvme_remote_controller\.multipath is required/);
      await rejects(call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: ctrl, nvme_remote_controller_id: 'Bad_Id' }),
        OpiStatus.INVALID_ARGUMENT, /nvme_remote_controller_id 'Bad_Id' is not a valid id/);
      await rejects(call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: { ...ctrl, tcp: { psk: Buffer.from('key') } } }),
        OpiStatus.INVALID_ARGUMENT, /nvme_remote_controller\.tcp\.psk/);
      await rejects(call(RC, 'GetNvmeRemoteController', {}), OpiStatus.INVALID_ARGUMENT, /name is required/);
      await rejects(call(RC, 'GetNvmeRemoteController', { name: 'aioVolumes/x' }), OpiStatus.INVALID_ARGUMENT,
        /name 'aioVolumes\/x' is not a nvmeRemoteControllers\/\{id\} name/);
      await rejects(call(RC, 'GetNvmeRemoteController', { name: 'nvmeRemoteControllers/absent' }), OpiStatus.NOT_FOUND);
      await rejects(call(RC, 'DeleteNvmeRemoteController', { name: 'nvmeRemoteControllers/absent' }), OpiStatus.NOT_FOUND);
      await call(RC, 'DeleteNvmeRemoteController', { name: 'nvmeRemoteControllers/absent', allow_missing: true });
      await rejects(call(RC, 'ListNvmeRemoteNamespaces', { parent: 'nvmeRemoteControllers/absent' }), OpiStatus.NOT_FOUND);
      await rejects(call(RC, 'GetNvmeRemoteNamespace', { name: 'nvmeRemoteControllers/x/nvmeRemoteNamespaces/zero' }),
        OpiStatus.INVALID_ARGUMENT, /nvmeRemoteNamespaces\/\{nsid\}/);

      await call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: ctrl, nvme_remote_controller_id: 'rc1' });
      const parent = 'nvmeRemoteControllers/rc1';
      const bad: [object, RegExp][] = [
        [{ trtype: 'NVME_TRANSPORT_TYPE_TCP' }, /nvme_path\.traddr is required/],
        [{ traddr: '127.0.0.1' }, /nvme_path\.trtype is required/],
        [{ ...tcpPath(1), trtype: 'NVME_TRANSPORT_TYPE_PCIE' }, /nvme_path\.trtype NVME_TRANSPORT_TYPE_PCIE is not supported/],
        [{ trtype: 'NVME_TRANSPORT_TYPE_TCP', traddr: '127.0.0.1' }, /nvme_path\.fabrics is required/],
        [tcpPath(0), /nvme_path\.fabrics\.trsvcid is required/],
        [tcpPath(4420, { subnqn: '' }), /nvme_path\.fabrics\.subnqn is required/],
        [tcpPath(4420, { subnqn: 'not-an-nqn' }), /nvme_path\.fabrics\.subnqn must be an NQN/],
        [tcpPath(4420, { adrfam: 'NVME_ADDRESS_FAMILY_UNSPECIFIED' }), /nvme_path\.fabrics\.adrfam is required/],
        [tcpPath(4420, { adrfam: 'NVME_ADDRESS_FAMILY_IPV6' }), /nvme_path\.fabrics\.adrfam is NVME_ADDRESS_FAMILY_IPV6, but/],
        [{ ...tcpPath(4420), traddr: 'backend.example' }, /nvme_path\.traddr must be an IP address/],
        [tcpPath(4420, { source_traddr: '127.0.0.2' }), /nvme_path\.fabrics\.source_traddr is not supported/],
      ];
      for (const [nvme_path, message] of bad) {
        await rejects(call(RC, 'CreateNvmePath', { parent, nvme_path, nvme_path_id: 'p' }), OpiStatus.INVALID_ARGUMENT, message);
      }
      await rejects(call(RC, 'CreateNvmePath', { parent: 'nvmeRemoteControllers/absent', nvme_path: tcpPath(backendPorts[0]) }),
        OpiStatus.NOT_FOUND, /nvmeRemoteControllers\/absent does not exist/);
      await rejects(call(RC, 'CreateNvmePath', { parent: 'nvmeRemoteControllers/', nvme_path: tcpPath(backendPorts[0]) }),
        OpiStatus.INVALID_ARGUMENT, /parent/);
      await rejects(call(RC, 'UpdateNvmeRemoteController', { nvme_remote_controller: { ...ctrl, name: parent },
        update_mask: { paths: ['name'] } }), OpiStatus.INVALID_ARGUMENT, /update_mask: 'name'/);
      assert.deepEqual((await call<{ nvme_paths: NvmePath[] }>(RC, 'ListNvmePaths', { parent })).nvme_paths, []);
      assert.deepEqual(await gw('bdev_nvme_get_controllers'), [], 'nothing was attached');
    });

    it('creates idempotently: the same spec gives the same resource, another spec ALREADY_EXISTS; an empty id gets a UUID', async () => {
      const a = await call<NvmeRemoteController>(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: { ...ctrl, name: 'ignored' },
        nvme_remote_controller_id: 'rc1' });
      assert.equal(a.name, 'nvmeRemoteControllers/rc1', 'the server sets the name');
      assert.deepEqual(await call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: ctrl, nvme_remote_controller_id: 'rc1' }), a);
      await rejects(call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: { ...ctrl, tcp: { hdgst: true } },
        nvme_remote_controller_id: 'rc1' }), OpiStatus.ALREADY_EXISTS);
      const b = await call<NvmeRemoteController>(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: ctrl });
      assert.match(b.name, /^nvmeRemoteControllers\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.deepEqual(await call(RC, 'GetNvmeRemoteController', { name: b.name }), b);
    });

    it('NVME_MULTIPATH_MULTIPATH: each path a controller of its own, both connected; deleting the first leaves the second', async () => {
      const parent = 'nvmeRemoteControllers/mp1';
      await call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: { ...ctrl, multipath: 'NVME_MULTIPATH_MULTIPATH' },
        nvme_remote_controller_id: 'mp1' });
      await call(RC, 'CreateNvmePath', { parent, nvme_path: tcpPath(backendPorts[0]), nvme_path_id: 'p1' });
      await call(RC, 'CreateNvmePath', { parent, nvme_path: tcpPath(backendPorts[1]), nvme_path_id: 'p2' });
      type Ctrls = { name: string; ctrlrs: { state: string; trid: { trsvcid: string }; alternate_trids?: unknown[] }[] }[];
      let ctrls = await gw<Ctrls>('bdev_nvme_get_controllers');
      assert.deepEqual(ctrls.map((c) => [c.name, c.ctrlrs.map((x) => [x.state, x.trid.trsvcid, x.alternate_trids])]),
        [['mp1', [['enabled', String(backendPorts[0]), undefined], ['enabled', String(backendPorts[1]), undefined]]]],
        'a controller per path, no failover paths');
      const [bdev] = await gw<{ driver_specific: { paths: number } }[]>('bdev_get_bdevs', { name: 'mp1n1' });
      assert.equal(bdev!.driver_specific.paths, 2, 'one bdev reached through both');
      await call(RC, 'DeleteNvmePath', { name: `${parent}/nvmePaths/p1` });
      ctrls = await gw<Ctrls>('bdev_nvme_get_controllers');
      assert.deepEqual(ctrls.map((c) => [c.name, c.ctrlrs.map((x) => x.trid.trsvcid)]), [['mp1', [String(backendPorts[1])]]]);
      await call(RC, 'DeleteNvmePath', { name: `${parent}/nvmePaths/p2` });
      assert.deepEqual(await gw('bdev_nvme_get_controllers'), []);
      await call(RC, 'DeleteNvmeRemoteController', { name: parent });
    });

    it('attaches through the first path, keeps the second as a standby, and moves to it when the active path goes', async () => {
      const parent = 'nvmeRemoteControllers/rc1';
      await call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: ctrl, nvme_remote_controller_id: 'rc1' });
      await rejects(call(RC, 'ResetNvmeRemoteController', { name: parent }), OpiStatus.FAILED_PRECONDITION, /has no path/);
      const p1 = await call<NvmePath>(RC, 'CreateNvmePath', { parent, nvme_path: tcpPath(backendPorts[0]), nvme_path_id: 'p1' });
      assert.equal(p1.name, `${parent}/nvmePaths/p1`);
      assert.equal(p1.fabrics?.trsvcid, String(backendPorts[0]));
      assert.deepEqual(await call(RC, 'CreateNvmePath', { parent, nvme_path: tcpPath(backendPorts[0]), nvme_path_id: 'p1' }), p1);
      await rejects(call(RC, 'CreateNvmePath', { parent, nvme_path: tcpPath(backendPorts[0]), nvme_path_id: 'p1b' }),
        OpiStatus.ALREADY_EXISTS, /p1 already reaches/);
      await call(RC, 'CreateNvmePath', { parent, nvme_path: tcpPath(backendPorts[1]), nvme_path_id: 'p2' });

      type Ctrls = { name: string; ctrlrs: { trid: { trsvcid: string }; alternate_trids?: { trsvcid: string }[] }[] }[];
      let ctrls = await gw<Ctrls>('bdev_nvme_get_controllers');
      assert.deepEqual(ctrls.map((c) => [c.name, c.ctrlrs[0].trid.trsvcid]), [['rc1', String(backendPorts[0])]], 'one controller, not two');
      assert.deepEqual(ctrls[0]!.ctrlrs[0].alternate_trids?.map((t) => t.trsvcid), [String(backendPorts[1])],
        'the standby is the gateway\'s failover path');

      const ns = await call<{ nvme_remote_namespaces: NvmeRemoteNamespace[] }>(RC, 'ListNvmeRemoteNamespaces', { parent });
      assert.deepEqual(ns.nvme_remote_namespaces.map((n) => [n.name, n.nsid, n.uuid]),
        [[`${parent}/nvmeRemoteNamespaces/1`, 1, BACKEND_UUID]]);
      assert.equal((await call<NvmeRemoteNamespace>(RC, 'GetNvmeRemoteNamespace', { name: `${parent}/nvmeRemoteNamespaces/1` })).uuid,
        BACKEND_UUID);
      await rejects(call(RC, 'GetNvmeRemoteNamespace', { name: `${parent}/nvmeRemoteNamespaces/2` }), OpiStatus.NOT_FOUND);

      await rejects(call(RC, 'DeleteNvmeRemoteController', { name: parent }), OpiStatus.FAILED_PRECONDITION, /still has paths/);
      await rejects(call(RC, 'UpdateNvmeRemoteController', { nvme_remote_controller: { ...ctrl, name: parent, tcp: { hdgst: true } } }),
        OpiStatus.FAILED_PRECONDITION, /is attached: hdgst/);
      await rejects(call(RC, 'UpdateNvmeRemoteController', { nvme_remote_controller: { name: parent, multipath: 'NVME_MULTIPATH_DISABLE' },
        update_mask: { paths: ['multipath'] } }), OpiStatus.FAILED_PRECONDITION, /has 2 paths/);
      await rejects(call(RC, 'UpdateNvmeRemoteController', { nvme_remote_controller: { name: parent, multipath: 'NVME_MULTIPATH_MULTIPATH' },
        update_mask: { paths: ['multipath'] } }), OpiStatus.FAILED_PRECONDITION, /made for NVME_MULTIPATH_FAILOVER/);
      const updated = await call<NvmeRemoteController>(RC, 'UpdateNvmeRemoteController', {
        nvme_remote_controller: { name: parent, multipath: 'NVME_MULTIPATH_FAILOVER', queue_size: 1 }, update_mask: { paths: ['multipath'] } });
      assert.equal(updated.multipath, 'NVME_MULTIPATH_FAILOVER');
      assert.equal(updated.queue_size, '0', 'only the masked field changed');
      await rejects(call(RC, 'UpdateNvmePath', { nvme_path: { ...tcpPath(backendPorts[0]), name: `${parent}/nvmePaths/p1`, traddr: '127.0.0.2' },
        update_mask: { paths: ['traddr'] } }), OpiStatus.INVALID_ARGUMENT, /traddr cannot be changed/);
      const stats = await call<{ stats: VolumeStats }>(RC, 'StatsNvmePath', { name: `${parent}/nvmePaths/p2` });
      assert.equal(stats.stats.read_ops_count, 0);
      await call(RC, 'ResetNvmeRemoteController', { name: parent });

      const page = await call<{ nvme_paths: NvmePath[]; next_page_token: string }>(RC, 'ListNvmePaths', { parent, page_size: 1 });
      assert.deepEqual(page.nvme_paths.map((p) => p.name), [`${parent}/nvmePaths/p1`]);
      const rest = await call<{ nvme_paths: NvmePath[]; next_page_token: string }>(RC, 'ListNvmePaths',
        { parent, page_size: 1, page_token: page.next_page_token });
      assert.deepEqual([rest.nvme_paths.map((p) => p.name), rest.next_page_token], [[`${parent}/nvmePaths/p2`], '']);

      await call(RC, 'DeleteNvmePath', { name: `${parent}/nvmePaths/p1` });
      ctrls = await gw<Ctrls>('bdev_nvme_get_controllers');
      assert.deepEqual(ctrls.map((c) => [c.name, c.ctrlrs[0].trid.trsvcid]), [['rc1', String(backendPorts[1])]], 'moved to the standby');
      await call(RC, 'DeleteNvmePath', { name: `${parent}/nvmePaths/p2` });
      await call(RC, 'DeleteNvmePath', { name: `${parent}/nvmePaths/p2`, allow_missing: true });
      await rejects(call(RC, 'DeleteNvmePath', { name: `${parent}/nvmePaths/p2` }), OpiStatus.NOT_FOUND);
      assert.deepEqual(await gw('bdev_nvme_get_controllers'), []);
      await call(RC, 'DeleteNvmeRemoteController', { name: parent });
    });

    it('refuses a second path with multipath disabled, and leaves nothing behind when the target cannot be reached', async () => {
      const parent = 'nvmeRemoteControllers/single';
      await call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: { multipath: 'NVME_MULTIPATH_DISABLE' },
        nvme_remote_controller_id: 'single' });
      const closed = port();
      await rejects(call(RC, 'CreateNvmePath', { parent, nvme_path: tcpPath(closed), nvme_path_id: 'dead' }), OpiStatus.UNAVAILABLE);
      assert.deepEqual((await call<{ nvme_paths: NvmePath[] }>(RC, 'ListNvmePaths', { parent })).nvme_paths, []);
      assert.deepEqual(await gw('bdev_nvme_get_controllers'), []);
      await call(RC, 'CreateNvmePath', { parent, nvme_path: tcpPath(backendPorts[0]), nvme_path_id: 'p1' });
      await rejects(call(RC, 'CreateNvmePath', { parent, nvme_path: tcpPath(backendPorts[1]), nvme_path_id: 'p2' }),
        OpiStatus.FAILED_PRECONDITION, /NVME_MULTIPATH_DISABLE/);
      await call(RC, 'DeleteNvmePath', { name: `${parent}/nvmePaths/p1` });
      await call(RC, 'DeleteNvmeRemoteController', { name: parent });
    });
  });

  describe('AioVolumeService', () => {
    it('answers bad requests with INVALID_ARGUMENT naming the field', async () => {
      await rejects(call(AIO, 'CreateAioVolume', {}), OpiStatus.INVALID_ARGUMENT, /aio_volume is required/);
      await rejects(call(AIO, 'CreateAioVolume', { aio_volume: {} }), OpiStatus.INVALID_ARGUMENT, /aio_volume\.filename is required/);
      await rejects(call(AIO, 'CreateAioVolume', { aio_volume: { filename: 'rel.img' } }), OpiStatus.INVALID_ARGUMENT,
        /aio_volume\.filename must be an absolute path/);
      await rejects(call(AIO, 'CreateAioVolume', { aio_volume: { filename: '/x', block_size: 1000 } }), OpiStatus.INVALID_ARGUMENT,
        /aio_volume\.block_size/);
      await rejects(call(AIO, 'CreateAioVolume', { aio_volume: { filename: '/x', uuid: 'nope' } }), OpiStatus.INVALID_ARGUMENT,
        /aio_volume\.uuid/);
      await rejects(call(AIO, 'CreateAioVolume', { aio_volume: { filename: join(h.dir, 'absent.img') }, aio_volume_id: 'gone' }),
        OpiStatus.NOT_FOUND, /absent.img/);
      assert.deepEqual((await call<{ aio_volumes: AioVolume[] }>(AIO, 'ListAioVolumes')).aio_volumes, []);
      await rejects(call(AIO, 'GetAioVolume', { name: 'aioVolumes/a/b' }), OpiStatus.INVALID_ARGUMENT);
      await rejects(call(AIO, 'StatsAioVolume', { name: 'aioVolumes/absent' }), OpiStatus.NOT_FOUND);
      await rejects(call(AIO, 'ListAioVolumes', { page_size: -1 }), OpiStatus.INVALID_ARGUMENT, /page_size/);
      await rejects(call(AIO, 'ListAioVolumes', { page_token: 'bogus' }), OpiStatus.INVALID_ARGUMENT, /page_token/);
    });

    it('makes a file bdev, grows it by update, and deletes it', async () => {
      const filename = aioFile('aio.img', 1 << 20);
      const vol = await call<AioVolume>(AIO, 'CreateAioVolume', { aio_volume: { filename, block_size: 512 }, aio_volume_id: 'aio1' });
      assert.deepEqual([vol.name, vol.block_size, vol.blocks_count, vol.filename], ['aioVolumes/aio1', '512', '2048', filename]);
      assert.deepEqual(await call(AIO, 'CreateAioVolume', { aio_volume: { filename, block_size: 512 }, aio_volume_id: 'aio1' }), vol);
      await rejects(call(AIO, 'CreateAioVolume', { aio_volume: { filename: aioFile('other.img', 1 << 20) }, aio_volume_id: 'aio1' }),
        OpiStatus.ALREADY_EXISTS);
      const bdevs = await gw<{ name: string; uuid: string }[]>('bdev_get_bdevs', { name: 'aio1' });
      assert.equal(bdevs[0].uuid, vol.uuid);

      await rejects(call(AIO, 'UpdateAioVolume', { aio_volume: { name: vol.name, blocks_count: 4096 }, update_mask: { paths: ['blocks_count'] } }),
        OpiStatus.FAILED_PRECONDITION, /grow the file first/);
      truncateSync(filename, 2 << 20);
      const grown = await call<AioVolume>(AIO, 'UpdateAioVolume', { aio_volume: { name: vol.name, blocks_count: 4096 },
        update_mask: { paths: ['blocks_count'] } });
      assert.equal(grown.blocks_count, '4096');
      await rejects(call(AIO, 'UpdateAioVolume', { aio_volume: { ...grown, filename: '/elsewhere' } }), OpiStatus.INVALID_ARGUMENT,
        /filename cannot be changed/);
      assert.deepEqual(await call(AIO, 'UpdateAioVolume', { aio_volume: grown }), grown, 'a Get answer sent back whole changes nothing');
      await rejects(call(AIO, 'UpdateAioVolume', { aio_volume: { name: 'aioVolumes/absent', filename } }), OpiStatus.NOT_FOUND);
      const made = await call<AioVolume>(AIO, 'UpdateAioVolume', { aio_volume: { name: 'aioVolumes/upserted', filename: aioFile('u.img', 1 << 20) },
        allow_missing: true });
      assert.equal(made.name, 'aioVolumes/upserted');
      assert.equal((await call<{ stats: VolumeStats }>(AIO, 'StatsAioVolume', { name: vol.name })).stats.write_ops_count, 0);

      await call(AIO, 'DeleteAioVolume', { name: vol.name });
      await call(AIO, 'DeleteAioVolume', { name: made.name });
      await rejects(call(AIO, 'DeleteAioVolume', { name: vol.name }), OpiStatus.NOT_FOUND);
      await call(AIO, 'DeleteAioVolume', { name: vol.name, allow_missing: true });
      assert.deepEqual(await gw('bdev_get_bdevs'), []);
    });
  });

  describe('FrontendNvmeService', () => {
    it('answers bad requests with INVALID_ARGUMENT or NOT_FOUND naming the field', async () => {
      await rejects(call(FE, 'CreateNvmeSubsystem', { nvme_subsystem: {} }), OpiStatus.INVALID_ARGUMENT, /nvme_subsystem\.spec is required/);
      await rejects(call(FE, 'CreateNvmeSubsystem', { nvme_subsystem: { spec: {} } }), OpiStatus.INVALID_ARGUMENT,
        /nvme_subsystem\.spec\.nqn is required/);
      await rejects(call(FE, 'CreateNvmeSubsystem', { nvme_subsystem: { spec: { nqn: 'nqn.2026-01.x:y' } } }),
        OpiStatus.INVALID_ARGUMENT, /nvme_subsystem\.spec\.nqn must be an NQN/);
      await rejects(call(FE, 'CreateNvmeSubsystem', { nvme_subsystem: { spec: { nqn: FRONT_NQN, serial_number: 'x'.repeat(21) } } }),
        OpiStatus.INVALID_ARGUMENT, /serial_number/);
      await call(FE, 'CreateNvmeSubsystem', { nvme_subsystem: { spec: { nqn: FRONT_NQN } }, nvme_subsystem_id: 's1' });
      await rejects(call(FE, 'CreateNvmeSubsystem', { nvme_subsystem: { spec: { nqn: FRONT_NQN } }, nvme_subsystem_id: 's2' }),
        OpiStatus.ALREADY_EXISTS, /nvmeSubsystems\/s1 already has nqn/);
      await rejects(call(FE, 'CreateNvmeSubsystem', { nvme_subsystem: { spec: { nqn: FRONT_NQN, model_number: 'm' } }, nvme_subsystem_id: 's1' }),
        OpiStatus.ALREADY_EXISTS);

      const parent = 'nvmeSubsystems/s1';
      await rejects(call(FE, 'CreateNvmeController', { parent: 'nvmeSubsystems/absent', nvme_controller: fabricsController(port()) }),
        OpiStatus.NOT_FOUND, /nvmeSubsystems\/absent does not exist/);
      await rejects(call(FE, 'CreateNvmeController', { parent, nvme_controller: { spec: { trtype: 'NVME_TRANSPORT_TYPE_PCIE',
        pcie_id: { port_id: { value: 0 }, physical_function: { value: 0 }, virtual_function: { value: 0 } } } } }),
      OpiStatus.INVALID_ARGUMENT, /emulates the function over fabrics/);
      await rejects(call(FE, 'CreateNvmeController', { parent, nvme_controller: { spec: { trtype: 'NVME_TRANSPORT_TYPE_TCP' } } }),
        OpiStatus.INVALID_ARGUMENT, /nvme_controller\.spec\.fabrics_id is required/);
      await rejects(call(FE, 'CreateNvmeController', { parent, nvme_controller: { spec: { trtype: 'NVME_TRANSPORT_TYPE_TCP',
        fabrics_id: { traddr: '127.0.0.1', trsvcid: '0', adrfam: 'NVME_ADDRESS_FAMILY_IPV4' } } } }),
      OpiStatus.INVALID_ARGUMENT, /nvme_controller\.spec\.fabrics_id\.trsvcid/);
      await rejects(call(FE, 'CreateNvmeController', { parent, nvme_controller: { spec: { ...fabricsController(port()).spec,
        max_limit: { rd_iops_kiops: 5 } } } }), OpiStatus.INVALID_ARGUMENT, /max_limit: QoS/);

      const idPort = port();
      const withId = (p: number) => ({ spec: { ...fabricsController(p).spec, nvme_controller_id: 7 } });
      const c7 = await call<NvmeController>(FE, 'CreateNvmeController', { parent, nvme_controller: withId(idPort), nvme_controller_id: 'c7' });
      assert.equal(c7.spec?.nvme_controller_id, 7);
      await rejects(call(FE, 'CreateNvmeController', { parent, nvme_controller: withId(port()), nvme_controller_id: 'c8' }),
        OpiStatus.ALREADY_EXISTS, /already has nvme_controller_id 7/);
      await rejects(call(FE, 'UpdateNvmeController', { nvme_controller: { name: c7.name, spec: { ...withId(port()).spec } } }),
        OpiStatus.INVALID_ARGUMENT, /the endpoint \(trsvcid\) cannot be changed/);
      const c7b = await call<NvmeController>(FE, 'UpdateNvmeController', { nvme_controller: { name: c7.name, spec: { max_nsq: 4 } },
        update_mask: { paths: ['spec.max_nsq'] } });
      assert.deepEqual([c7b.spec?.max_nsq, c7b.spec?.nvme_controller_id], [4, 7]);
      await rejects(call(FE, 'DeleteNvmeSubsystem', { name: parent }), OpiStatus.FAILED_PRECONDITION, /still has .*c7/);
      await call(FE, 'DeleteNvmeController', { name: c7.name });
      await rejects(call(FE, 'CreateNvmeNamespace', { parent, nvme_namespace: { spec: {} } }), OpiStatus.INVALID_ARGUMENT,
        /nvme_namespace\.spec\.volume_name_ref is required/);
      await rejects(call(FE, 'CreateNvmeNamespace', { parent, nvme_namespace: { spec: { volume_name_ref: 'volumes/x' } } }),
        OpiStatus.INVALID_ARGUMENT, /nvme_namespace\.spec\.volume_name_ref 'volumes\/x' must name/);
      await rejects(call(FE, 'CreateNvmeNamespace', { parent, nvme_namespace: { spec: { volume_name_ref: 'aioVolumes/absent' } } }),
        OpiStatus.NOT_FOUND, /nvme_namespace\.spec\.volume_name_ref: aioVolumes\/absent does not exist/);
      await rejects(call(FE, 'CreateNvmeNamespace', { parent, nvme_namespace: { spec: {
        volume_name_ref: 'nvmeRemoteControllers/absent/nvmeRemoteNamespaces/1' } } }), OpiStatus.NOT_FOUND, /volume_name_ref/);
      await rejects(call(FE, 'CreateNvmeNamespace', { parent, nvme_namespace: { spec: { volume_name_ref: 'aioVolumes/a', eui64: 7 } } }),
        OpiStatus.INVALID_ARGUMENT, /nvme_namespace\.spec\.eui64/);
      await rejects(call(FE, 'CreateNvmeNamespace', { parent, nvme_namespace: { spec: { volume_name_ref: 'aioVolumes/a', nguid: 'xyz' } } }),
        OpiStatus.INVALID_ARGUMENT, /nvme_namespace\.spec\.nguid/);
      await rejects(call(FE, 'ListNvmeNamespaces', { parent: 'nvmeSubsystems/absent' }), OpiStatus.NOT_FOUND);
      await rejects(call(FE, 'GetNvmeController', { name: `${parent}/nvmeNamespaces/x` }), OpiStatus.INVALID_ARGUMENT);
      await rejects(call(FE, 'DeleteNvmeNamespace', { name: `${parent}/nvmeNamespaces/x` }), OpiStatus.NOT_FOUND);
      await call(FE, 'DeleteNvmeNamespace', { name: `${parent}/nvmeNamespaces/x`, allow_missing: true });
      await rejects(call(FE, 'UpdateNvmeSubsystem', { nvme_subsystem: { name: parent, spec: { nqn: FRONT_NQN, serial_number: 'OTHER' } } }),
        OpiStatus.INVALID_ARGUMENT, /serial_number cannot be changed/);
      await call(FE, 'DeleteNvmeSubsystem', { name: parent });
      assert.deepEqual((await gw<Subsystems[]>('nvmf_get_subsystems')).filter((s) => s.nqn !== 'nqn.2014-08.org.nvmexpress.discovery'), []);
    });

    it('pages through a list with opaque tokens, and changes the allowed host by update', async () => {
      for (let i = 0; i < 5; i++) {
        await call(FE, 'CreateNvmeSubsystem', { nvme_subsystem: { spec: { nqn: `${FRONT_NQN}-${i}` } }, nvme_subsystem_id: `s${i}` });
      }
      const names: string[] = [];
      let token = '';
      let pages = 0;
      do {
        const r = await call<{ nvme_subsystems: NvmeSubsystem[]; next_page_token: string }>(FE, 'ListNvmeSubsystems',
          { page_size: 2, page_token: token });
        names.push(...r.nvme_subsystems.map((s) => s.name));
        token = r.next_page_token;
        pages++;
      } while (token !== '');
      assert.deepEqual([names, pages], [[0, 1, 2, 3, 4].map((i) => `nvmeSubsystems/s${i}`), 3]);
      await rejects(call(FE, 'ListNvmeSubsystems', { page_token: 'x' }), OpiStatus.INVALID_ARGUMENT, /page_token/);

      const s = await call<NvmeSubsystem>(FE, 'UpdateNvmeSubsystem', { nvme_subsystem: { name: 'nvmeSubsystems/s0', spec: { hostnqn: HOSTNQN } },
        update_mask: { paths: ['spec.hostnqn'] } });
      assert.equal(s.spec?.hostnqn, HOSTNQN);
      const [there] = await gw<Subsystems[]>('nvmf_get_subsystems', { nqn: `${FRONT_NQN}-0` });
      assert.deepEqual([there.allow_any_host, there.hosts], [false, [{ nqn: HOSTNQN }]]);
      for (let i = 0; i < 5; i++) await call(FE, 'DeleteNvmeSubsystem', { name: `nvmeSubsystems/s${i}` });
    });
  });

  it('end to end: a backend and a file become namespaces of a host-facing subsystem that a host reads and writes, then all goes', async () => {
    const rcParent = 'nvmeRemoteControllers/vol1';
    await call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: { multipath: 'NVME_MULTIPATH_FAILOVER' },
      nvme_remote_controller_id: 'vol1' });
    await call(RC, 'CreateNvmePath', { parent: rcParent, nvme_path: tcpPath(backendPorts[0], { hostnqn: HOSTNQN }), nvme_path_id: 'p1' });
    const remote = await call<{ nvme_remote_namespaces: NvmeRemoteNamespace[] }>(RC, 'ListNvmeRemoteNamespaces', { parent: rcParent });
    assert.deepEqual(remote.nvme_remote_namespaces.map((n) => n.nsid), [1]);
    const filename = aioFile('vol2.img', 2 << 20);
    const vol2 = await call<AioVolume>(AIO, 'CreateAioVolume', { aio_volume: { filename, block_size: 512 }, aio_volume_id: 'vol2' });

    const sub = await call<NvmeSubsystem>(FE, 'CreateNvmeSubsystem', { nvme_subsystem: { spec: { nqn: FRONT_NQN,
      serial_number: 'DPU0001', model_number: 'rdmagate DPU', max_namespaces: 8 } }, nvme_subsystem_id: 'host' });
    assert.deepEqual([sub.name, sub.spec?.serial_number, sub.spec?.max_namespaces], ['nvmeSubsystems/host', 'DPU0001', '8']);
    const frontPort = port();
    const fc = await call<NvmeController>(FE, 'CreateNvmeController', { parent: sub.name, nvme_controller: fabricsController(frontPort),
      nvme_controller_id: 'fn0' });
    assert.deepEqual([fc.name, fc.spec?.fabrics_id?.trsvcid, fc.status?.active], [`${sub.name}/nvmeControllers/fn0`, String(frontPort), false]);
    await rejects(call(FE, 'CreateNvmeController', { parent: sub.name, nvme_controller: fabricsController(frontPort), nvme_controller_id: 'fn1' }),
      OpiStatus.ALREADY_EXISTS, /already listens/);

    const nguid1 = '00112233445566778899aabbccddeeff';
    const uuid1 = '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9';
    const ns1 = await call<NvmeNamespace>(FE, 'CreateNvmeNamespace', { parent: sub.name, nvme_namespace_id: 'ns-vol1', nvme_namespace: { spec: {
      volume_name_ref: `${rcParent}/nvmeRemoteNamespaces/1`, host_nsid: 1, nguid: nguid1, uuid: uuid1 } } });
    assert.deepEqual([ns1.name, ns1.spec?.host_nsid, ns1.spec?.nguid, ns1.spec?.uuid, ns1.status?.oper_state],
      [`${sub.name}/nvmeNamespaces/ns-vol1`, 1, nguid1, uuid1, 'OPER_STATE_ONLINE']);
    await rejects(call(FE, 'CreateNvmeNamespace', { parent: sub.name, nvme_namespace_id: 'again', nvme_namespace: { spec: {
      volume_name_ref: `${rcParent}/nvmeRemoteNamespaces/1` } } }), OpiStatus.FAILED_PRECONDITION, /already exported by/);

    // The host connects once, as to a PCIe function that is simply there; the second volume is hot-added.
    const host = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: frontPort, subnqn: FRONT_NQN, hostnqn: HOSTNQN });
    try {
      assert.deepEqual(host.namespaces.map((n) => [n.nsid, n.nguid, n.uuid]), [[1, nguid1, uuid1]]);
      const nguid2 = 'ffeeddccbbaa99887766554433221100';
      const uuid2 = '1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d';
      const changed = once(host, 'namespacesChanged');
      const ns2 = await call<NvmeNamespace>(FE, 'CreateNvmeNamespace', { parent: sub.name, nvme_namespace_id: 'ns-vol2', nvme_namespace: { spec: {
        volume_name_ref: vol2.name, host_nsid: 2, nguid: nguid2.toUpperCase(), uuid: uuid2 } } });
      assert.equal(ns2.spec?.nguid, nguid2);
      await changed;
      assert.deepEqual(host.namespaces.map((n) => [n.nsid, n.nguid, n.uuid]), [[1, nguid1, uuid1], [2, nguid2, uuid2]]);

      const [front] = await gw<Subsystems[]>('nvmf_get_subsystems', { nqn: FRONT_NQN });
      assert.deepEqual(front.namespaces?.map((n) => [n.nsid, n.bdev_name, n.nguid.toLowerCase(), n.uuid]),
        [[1, 'vol1n1', nguid1, uuid1], [2, 'vol2', nguid2, uuid2]]);
      assert.deepEqual(front.listen_addresses.map((l) => [l.trtype, l.traddr, l.trsvcid]), [['TCP', '127.0.0.1', String(frontPort)]]);
      assert.equal((await call<NvmeController>(FE, 'GetNvmeController', { name: fc.name })).status?.active, true);

      // A block through each namespace: the backend's and the file's.
      const w = pool.acquire();
      const r = pool.acquire();
      for (const nsid of [1, 2]) {
        w.fill(0x40 + nsid);
        await host.queuePairs[0].write(nsid, 8, 8, w);
        r.fill(0);
        await host.queuePairs[0].read(nsid, 8, 8, r);
        assert.ok(Buffer.from(r.buffer, r.byteOffset, 4096).equals(Buffer.from(w.buffer, w.byteOffset, 4096)), `nsid ${nsid}`);
      }
      w.release();
      r.release();
      const onFile = Buffer.alloc(4096);
      const fd = openSync(filename, 'r');
      readSync(fd, onFile, 0, 4096, 8 * 512);
      closeSync(fd);
      assert.ok(onFile.equals(Buffer.alloc(4096, 0x42)), 'the write through nsid 2 is in the file');

      await rejects(call(FE, 'DeleteNvmeSubsystem', { name: sub.name }), OpiStatus.FAILED_PRECONDITION, /still has/);
      await rejects(call(AIO, 'DeleteAioVolume', { name: vol2.name }), OpiStatus.FAILED_PRECONDITION, /is used by/);
      await rejects(call(RC, 'DeleteNvmePath', { name: `${rcParent}/nvmePaths/p1` }), OpiStatus.FAILED_PRECONDITION, /whose namespaces are used/);
      // A reset reconnects the gateway's controller with its namespaces served all along.
      await call(RC, 'ResetNvmeRemoteController', { name: rcParent });
      const [rc] = await gw<{ ctrlrs: { state: string }[] }[]>('bdev_nvme_get_controllers');
      assert.equal(rc!.ctrlrs[0]!.state, 'enabled');
      await rejects(call(FE, 'UpdateNvmeNamespace', { nvme_namespace: { name: ns2.name, spec: { ...ns2.spec, host_nsid: 5 } } }),
        OpiStatus.INVALID_ARGUMENT, /cannot be changed/);
      const nsStats = await call<{ stats: VolumeStats }>(FE, 'StatsNvmeNamespace', { name: ns1.name });
      assert.equal(typeof nsStats.stats.read_ops_count, 'number');
      const list = await call<{ nvme_namespaces: NvmeNamespace[] }>(FE, 'ListNvmeNamespaces', { parent: sub.name });
      assert.deepEqual(list.nvme_namespaces.map((n) => n.name), [ns1.name, ns2.name]);

      // Teardown, in reverse: the host sees the namespace go.
      const gone = once(host, 'namespacesChanged');
      await call(FE, 'DeleteNvmeNamespace', { name: ns2.name });
      await gone;
      assert.deepEqual(host.namespaces.map((n) => n.nsid), [1]);
    } finally {
      await host.close();
    }
    await call(FE, 'DeleteNvmeNamespace', { name: ns1.name });
    await call(FE, 'DeleteNvmeController', { name: fc.name });
    await call(FE, 'DeleteNvmeSubsystem', { name: sub.name });
    await call(AIO, 'DeleteAioVolume', { name: vol2.name });
    await call(RC, 'DeleteNvmePath', { name: `${rcParent}/nvmePaths/p1` });
    await call(RC, 'DeleteNvmeRemoteController', { name: rcParent });
    assert.deepEqual(await gw('bdev_get_bdevs'), []);
    assert.deepEqual(await gw('bdev_nvme_get_controllers'), []);
    assert.deepEqual((await gw<Subsystems[]>('nvmf_get_subsystems')).filter((s) => s.nqn !== 'nqn.2014-08.org.nvmexpress.discovery'), []);
    const saved = JSON.parse(readFileSync(h.statePath, 'utf8')) as Record<string, unknown[]>;
    for (const k of ['aioVolumes', 'remoteControllers', 'paths', 'subsystems', 'controllers', 'namespaces']) assert.deepEqual(saved[k], [], k);
  });

  async function makeExport(frontPort: number): Promise<void> {
    await call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: { multipath: 'NVME_MULTIPATH_FAILOVER' }, nvme_remote_controller_id: 'r' });
    await call(RC, 'CreateNvmePath', { parent: 'nvmeRemoteControllers/r', nvme_path: tcpPath(backendPorts[0]), nvme_path_id: 'p' });
    await call(AIO, 'CreateAioVolume', { aio_volume: { filename: aioFile('a.img', 1 << 20) }, aio_volume_id: 'a' });
    await call(FE, 'CreateNvmeSubsystem', { nvme_subsystem: { spec: { nqn: FRONT_NQN, hostnqn: HOSTNQN } }, nvme_subsystem_id: 's' });
    await call(FE, 'CreateNvmeController', { parent: 'nvmeSubsystems/s', nvme_controller: fabricsController(frontPort), nvme_controller_id: 'c' });
    await call(FE, 'CreateNvmeNamespace', { parent: 'nvmeSubsystems/s', nvme_namespace: { spec: {
      volume_name_ref: 'nvmeRemoteControllers/r/nvmeRemoteNamespaces/1' } }, nvme_namespace_id: 'n1' });
    await call(FE, 'CreateNvmeNamespace', { parent: 'nvmeSubsystems/s', nvme_namespace: { spec: { volume_name_ref: 'aioVolumes/a' } },
      nvme_namespace_id: 'n2' });
  }

  it('restarted over a gateway that lost everything, re-applies its resources with the same identifiers', async () => {
    const frontPort = port();
    await makeExport(frontPort);
    const [before] = await gw<Subsystems[]>('nvmf_get_subsystems', { nqn: FRONT_NQN });
    const aioBefore = await call<AioVolume>(AIO, 'GetAioVolume', { name: 'aioVolumes/a' });

    h.client.close();
    await h.bridge.close();
    await h.gateway.close();
    await h.startGateway();  // a fresh gateway: no config
    assert.deepEqual(await gw('bdev_get_bdevs'), []);
    await h.startBridge();

    const [after] = await gw<Subsystems[]>('nvmf_get_subsystems', { nqn: FRONT_NQN });
    assert.deepEqual(after, before, 'the same subsystem: host, listener, namespaces with their NSIDs, NGUIDs and UUIDs');
    assert.deepEqual(await call(AIO, 'GetAioVolume', { name: 'aioVolumes/a' }), aioBefore);
    const host = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: frontPort, subnqn: FRONT_NQN, hostnqn: HOSTNQN });
    assert.deepEqual(host.namespaces.map((n) => n.nsid), [1, 2]);
    await host.close();

    // Restarted again over the same gateway, which kept it all: nothing changes.
    h.client.close();
    await h.bridge.close();
    const again = new OpiBridge({ rpc: h.rpc, statePath: h.statePath, listen: '127.0.0.1:0', log: () => undefined });
    const report = await again.start();
    h.bridge = again;
    h.client = opiClient(again.address!);
    assert.deepEqual(report.failed, []);
    assert.deepEqual(report.applied.sort(), ['aioVolumes/a', 'nvmeRemoteControllers/r', 'nvmeSubsystems/s',
      'nvmeSubsystems/s/nvmeControllers/c', 'nvmeSubsystems/s/nvmeNamespaces/n1', 'nvmeSubsystems/s/nvmeNamespaces/n2']);
    assert.deepEqual((await gw<Subsystems[]>('nvmf_get_subsystems', { nqn: FRONT_NQN }))[0], before);
  });

  it('converges when a create is retried after a crash left its gateway object unrecorded', async () => {
    // What each create would have made before the bridge died, with nothing saved.
    const filename = aioFile('crash.img', 1 << 20);
    await gw('bdev_uring_create', { name: 'a', filename });
    await gw('bdev_nvme_attach_controller', { name: 'r', trtype: 'tcp', traddr: '127.0.0.1', adrfam: 'IPv4',
      trsvcid: String(backendPorts[0]), subnqn: BACKEND_NQN });
    await gw('nvmf_create_subsystem', { nqn: FRONT_NQN, allow_any_host: true });
    await gw('nvmf_subsystem_add_ns', { nqn: FRONT_NQN, namespace: { bdev_name: 'a', nsid: 3 } });

    await call(AIO, 'CreateAioVolume', { aio_volume: { filename }, aio_volume_id: 'a' });
    await rejects(call(AIO, 'CreateAioVolume', { aio_volume: { filename: aioFile('x.img', 1 << 20) }, aio_volume_id: 'r' + 'n1' }),
      OpiStatus.ALREADY_EXISTS, /not .* as asked/);
    await call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: { multipath: 'NVME_MULTIPATH_FAILOVER' }, nvme_remote_controller_id: 'r' });
    await call(RC, 'CreateNvmePath', { parent: 'nvmeRemoteControllers/r', nvme_path: tcpPath(backendPorts[0]), nvme_path_id: 'p' });
    await call(FE, 'CreateNvmeSubsystem', { nvme_subsystem: { spec: { nqn: FRONT_NQN } }, nvme_subsystem_id: 's' });
    const ns = await call<NvmeNamespace>(FE, 'CreateNvmeNamespace', { parent: 'nvmeSubsystems/s', nvme_namespace: { spec: {
      volume_name_ref: 'aioVolumes/a' } }, nvme_namespace_id: 'n' });
    assert.equal(ns.spec?.host_nsid, 3, 'the namespace made before the crash is the one recorded');
    const [front] = await gw<Subsystems[]>('nvmf_get_subsystems', { nqn: FRONT_NQN });
    assert.deepEqual(front.namespaces?.map((n) => n.nsid), [3]);
    assert.equal((await gw<unknown[]>('bdev_nvme_get_controllers')).length, 1);

    await call(FE, 'DeleteNvmeNamespace', { name: ns.name });
    await call(FE, 'DeleteNvmeSubsystem', { name: 'nvmeSubsystems/s' });
    await call(RC, 'DeleteNvmePath', { name: 'nvmeRemoteControllers/r/nvmePaths/p' });
    await call(AIO, 'DeleteAioVolume', { name: 'aioVolumes/a' });
    assert.deepEqual(await gw('bdev_get_bdevs'), []);
  });

  it('a change that fails midway undoes what it made, and the state stays as it was', async () => {
    // A second bridge whose gateway fails the methods named in `failing`, once each.
    const failing = new Set<string>();
    const faulty: GatewayRpc = { call: (method, params) => {
      if (failing.delete(method)) return Promise.reject(new JsonRpcError(RpcErrorCode.INTERNAL_ERROR, `injected failure of ${method}`));
      return h.rpc.call(method, params);
    } };
    h.client.close();
    await h.bridge.close();
    h.bridge = new OpiBridge({ rpc: faulty, statePath: h.statePath, listen: '127.0.0.1:0', log: () => undefined });
    await h.bridge.start();
    h.client = opiClient(h.bridge.address!);

    failing.add('nvmf_subsystem_add_host');
    await rejects(call(FE, 'CreateNvmeSubsystem', { nvme_subsystem: { spec: { nqn: FRONT_NQN, hostnqn: HOSTNQN } }, nvme_subsystem_id: 's' }),
      OpiStatus.INTERNAL, /injected failure of nvmf_subsystem_add_host/);
    assert.deepEqual((await call<{ nvme_subsystems: unknown[] }>(FE, 'ListNvmeSubsystems')).nvme_subsystems, []);
    assert.equal((await gw<Subsystems[]>('nvmf_get_subsystems')).some((s) => s.nqn === FRONT_NQN), false, 'the subsystem was deleted again');

    await rejects(call(AIO, 'CreateAioVolume', { aio_volume: { filename: aioFile('a.img', 1 << 20), blocks_count: 999 }, aio_volume_id: 'a' }),
      OpiStatus.INVALID_ARGUMENT, /blocks_count is 999, but .* has 2048 blocks/);
    assert.deepEqual(await gw('bdev_get_bdevs'), [], 'the bdev was deleted again');

    const parent = 'nvmeRemoteControllers/r';
    await call(RC, 'CreateNvmeRemoteController', { nvme_remote_controller: { multipath: 'NVME_MULTIPATH_FAILOVER' }, nvme_remote_controller_id: 'r' });
    await call(RC, 'CreateNvmePath', { parent, nvme_path: tcpPath(backendPorts[0]), nvme_path_id: 'p1' });
    await call(RC, 'CreateNvmePath', { parent, nvme_path: tcpPath(backendPorts[1]), nvme_path_id: 'p2' });
    failing.add('bdev_nvme_detach_controller');  // the move to the standby fails
    await rejects(call(RC, 'DeleteNvmePath', { name: `${parent}/nvmePaths/p1` }), OpiStatus.INTERNAL, /injected/);
    type Ctrls = { ctrlrs: { trid: { trsvcid: string }; alternate_trids?: { trsvcid: string }[] }[] }[];
    const ctrls = await gw<Ctrls>('bdev_nvme_get_controllers');
    assert.deepEqual(ctrls.map((c) => [c.ctrlrs[0].trid.trsvcid, c.ctrlrs[0].alternate_trids?.map((t) => t.trsvcid)]),
      [[String(backendPorts[0]), [String(backendPorts[1])]]], 'still on the path that was to go, the standby its failover path');
    assert.deepEqual((await call<{ nvme_paths: NvmePath[] }>(RC, 'ListNvmePaths', { parent })).nvme_paths.map((p) => p.name),
      [`${parent}/nvmePaths/p1`, `${parent}/nvmePaths/p2`]);
    await call(RC, 'DeleteNvmePath', { name: `${parent}/nvmePaths/p2` });
    await call(RC, 'DeleteNvmePath', { name: `${parent}/nvmePaths/p1` });
    assert.deepEqual(await gw('bdev_nvme_get_controllers'), []);
  });

  it('refuses a state file it cannot use', async () => {
    const bad = join(h.dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ version: 9 }));
    const b = new OpiBridge({ rpc: h.rpc, statePath: bad, listen: '127.0.0.1:0', log: () => undefined });
    await assert.rejects(b.start(), { code: 'ERR_OPI_STATE', message: /version 9/ });
  });

  it('rdmagate opi-bridge serves the API over a gateway socket until SIGTERM', async () => {
    const state = join(h.dir, 'cli-state.json');
    const child = spawn(process.execPath, [MAIN, 'opi-bridge', '--listen', '127.0.0.1:0', '--gateway-socket', h.gateway.socketPath!,
      '--state', state, '--log-level', 'error']);
    let out = '';
    const address = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d;
        const m = /listening on (\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`opi-bridge exited early (${code}): ${out}`)));
    });
    const c = opiClient(address);
    try {
      const v = await c.call<AioVolume>(AIO, 'CreateAioVolume', { aio_volume: { filename: aioFile('cli.img', 1 << 20) }, aio_volume_id: 'cli' });
      assert.equal(v.blocks_count, '2048');
      await c.call(AIO, 'DeleteAioVolume', { name: v.name });
    } finally {
      c.close();
      child.kill('SIGTERM');
    }
    assert.equal(await new Promise((r) => child.once('exit', r)), 0);
    const bad = spawn(process.execPath, [MAIN, 'opi-bridge', '--listen', 'nowhere']);
    let err = '';
    bad.stderr.on('data', (d: Buffer) => { err += d; });
    assert.equal(await new Promise((r) => bad.once('exit', r)), 1);
    assert.match(err, /--listen must be ADDR:PORT/);
  });
});
