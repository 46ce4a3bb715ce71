/** `rdmagate rpc` takes rpc.py's own command lines for the first methods one meets (issue 20 item 1). */
import assert from 'node:assert/strict';
import { isRpcPyForm, rpcPyParams } from '../../lib/cli/rpc-py-forms';

describe('rdmagate rpc: rpc.py\'s forms', () => {
  const params = (method: string, line: string) => {
    const args = line.split(' ');
    assert.ok(isRpcPyForm(method, args), `${method} ${line} is rpc.py's form`);
    return rpcPyParams(method, args);
  };

  it('turns SPDK\'s documented command lines into the methods\' params', () => {
    assert.deepEqual(params('nvmf_create_transport', '-t tcp'), { trtype: 'tcp' });
    assert.deepEqual(params('bdev_malloc_create', '-b Malloc0 64 512'), { name: 'Malloc0', num_blocks: 131072, block_size: 512 });
    assert.deepEqual(params('bdev_null_create', 'Null0 8 4096'), { name: 'Null0', num_blocks: 2048, block_size: 4096 });
    assert.deepEqual(params('nvmf_create_subsystem', 'nqn.2016-06.io.spdk:cnode1 -a -s SPDK00000000000001 -m SPDK_Controller1'),
      { nqn: 'nqn.2016-06.io.spdk:cnode1', allow_any_host: true, serial_number: 'SPDK00000000000001', model_number: 'SPDK_Controller1' });
    assert.deepEqual(params('nvmf_subsystem_add_ns', 'nqn.2016-06.io.spdk:cnode1 Malloc0 -n 3'),
      { nqn: 'nqn.2016-06.io.spdk:cnode1', namespace: { bdev_name: 'Malloc0', nsid: 3 } });
    assert.deepEqual(params('nvmf_subsystem_add_listener', 'nqn.2016-06.io.spdk:cnode1 -t tcp -a 10.0.0.1 -s 4420'),
      { nqn: 'nqn.2016-06.io.spdk:cnode1', listen_address: { trtype: 'tcp', traddr: '10.0.0.1', trsvcid: '4420' } });
    assert.deepEqual(params('bdev_nvme_attach_controller', '-b Nvme0 -t tcp -a 10.0.0.5 -s 4421 -n nqn.2019-05.io.openebs:nexus-1'),
      { name: 'Nvme0', trtype: 'tcp', traddr: '10.0.0.5', trsvcid: '4421', subnqn: 'nqn.2019-05.io.openebs:nexus-1' });
    // A failover path, and taking one path off (rpc.py's -x, and detach's transport ID).
    assert.deepEqual(params('bdev_nvme_attach_controller', '-b Nvme0 -t tcp -a 10.0.0.6 -s 4421 -n nqn.2019-05.io.openebs:nexus-1 -x failover'),
      { name: 'Nvme0', trtype: 'tcp', traddr: '10.0.0.6', trsvcid: '4421', subnqn: 'nqn.2019-05.io.openebs:nexus-1', multipath: 'failover' });
    assert.deepEqual(params('bdev_nvme_detach_controller', 'Nvme0 -t tcp -a 10.0.0.6 -s 4421'),
      { name: 'Nvme0', trtype: 'tcp', traddr: '10.0.0.6', trsvcid: '4421' });
    assert.deepEqual(params('bdev_nvme_set_multipath_policy', '-b Nvme0n1 -p active_active -s round_robin -r 4'),
      { name: 'Nvme0n1', policy: 'active_active', selector: 'round_robin', rr_min_io: 4 });
  });

  it('takes rpc.py\'s keyring and DH-HMAC-CHAP lines: key names, never secrets', () => {
    const nqn = 'nqn.2016-06.io.spdk:cnode1';
    const host = 'nqn.2016-06.io.spdk:host1';
    assert.deepEqual(params('keyring_file_add_key', 'key0 /etc/keys/key0'), { name: 'key0', path: '/etc/keys/key0' });
    assert.deepEqual(params('keyring_file_remove_key', 'key0'), { name: 'key0' });
    assert.deepEqual(params('nvmf_subsystem_add_host', `${nqn} ${host} --dhchap-key key0 --dhchap-ctrlr-key ckey0`),
      { nqn, host, dhchap_key: 'key0', dhchap_ctrlr_key: 'ckey0' });
    assert.deepEqual(params('nvmf_subsystem_add_host', `${nqn} ${host} --psk psk0`), { nqn, host, psk: 'psk0' });
    assert.deepEqual(params('nvmf_subsystem_set_keys', `${nqn} ${host} --dhchap-key key1`), { nqn, host, dhchap_key: 'key1' });
    assert.deepEqual(params('nvmf_subsystem_set_keys', `${nqn} ${host}`), { nqn, host }, 'no key: the keys are cleared');
    assert.deepEqual(params('bdev_nvme_attach_controller', `-b Nvme0 -t tcp -a 10.0.0.5 -s 4420 -n ${nqn} --dhchap-key key0`),
      { name: 'Nvme0', trtype: 'tcp', traddr: '10.0.0.5', trsvcid: '4420', subnqn: nqn, dhchap_key: 'key0' });
    // rpc.py's own long options are dashed; the params' names (--dhchap_digests) stay the general form's.
    assert.deepEqual(params('nvmf_set_config', '--dhchap-digests sha256,sha384 --dhchap-dhgroups null,ffdhe2048'),
      { dhchap_digests: ['sha256', 'sha384'], dhchap_dhgroups: ['null', 'ffdhe2048'] });
    assert.equal(isRpcPyForm('nvmf_set_config', ['--dhchap_digests', '["sha256"]']), false);
    assert.throws(() => rpcPyParams('keyring_file_add_key', ['key0']), /missing path/);
  });

  it('takes rpc.py\'s TLS lines: -k/--secure-channel on a listener, --psk NAME on a host and a backend', () => {
    const nqn = 'nqn.2016-06.io.spdk:cnode1';
    const host = 'nqn.2016-06.io.spdk:host1';
    const listen_address = { trtype: 'tcp', traddr: '127.0.0.1', trsvcid: '4420' };
    assert.deepEqual(params('nvmf_subsystem_add_listener', `${nqn} -t tcp -a 127.0.0.1 -s 4420 -k`), { nqn, listen_address, secure_channel: true });
    assert.deepEqual(params('nvmf_subsystem_add_listener', `${nqn} -t tcp -a 127.0.0.1 -s 4420 --secure-channel`),
      { nqn, listen_address, secure_channel: true });
    assert.deepEqual(params('nvmf_subsystem_add_listener', `-k ${nqn} -t tcp -a 127.0.0.1 -s 4420`), { nqn, listen_address, secure_channel: true });
    assert.deepEqual(params('nvmf_subsystem_add_host', `${nqn} ${host} --psk key0 --dhchap-key key1`), { nqn, host, psk: 'key0', dhchap_key: 'key1' });
    assert.deepEqual(params('bdev_nvme_attach_controller', `-b Nvme0 -t tcp -a 127.0.0.1 -s 4420 -f ipv4 -n ${nqn} -q ${host} --psk key0`),
      { name: 'Nvme0', trtype: 'tcp', traddr: '127.0.0.1', trsvcid: '4420', adrfam: 'ipv4', subnqn: nqn, hostnqn: host, psk: 'key0' });
    assert.throws(() => rpcPyParams('bdev_nvme_attach_controller', ['-b', 'Nvme0', '--psk']), /--psk needs a value/);
  });

  it('leaves --key value pairs and JSON to the general form', () => {
    assert.equal(isRpcPyForm('nvmf_create_transport', ['--trtype', 'tcp']), false);
    assert.equal(isRpcPyForm('nvmf_subsystem_add_ns', ['{"nqn":"x"}']), false);
    assert.equal(isRpcPyForm('nvmf_get_subsystems', ['x']), false, 'a method without a form');
  });

  it('says what is wrong with a bad line', () => {
    assert.throws(() => rpcPyParams('bdev_malloc_create', ['-b', 'M', '64']), /missing block_size/);
    assert.throws(() => rpcPyParams('bdev_malloc_create', ['-b', 'M', '1', '3000']), /whole number of blocks/);
    assert.throws(() => rpcPyParams('nvmf_create_transport', ['-x', 'tcp']), /unknown option -x \(it takes -t\)/);
    assert.throws(() => rpcPyParams('nvmf_create_transport', ['-t']), /-t needs a value/);
    // As argparse: the next option is not a value (-s left empty here), a negative number is.
    assert.throws(() => rpcPyParams('nvmf_create_subsystem', ['nqn', '-s', '-a']), /nvmf_create_subsystem: -s needs a value/);
    assert.deepEqual(rpcPyParams('nvmf_subsystem_add_ns', ['nqn', 'bdev', '-n', '-1']), { nqn: 'nqn', namespace: { bdev_name: 'bdev', nsid: -1 } });
    assert.throws(() => rpcPyParams('nvmf_subsystem_add_ns', ['nqn', 'bdev', 'extra']), /unexpected argument 'extra'/);
  });
});
