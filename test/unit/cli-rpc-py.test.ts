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
