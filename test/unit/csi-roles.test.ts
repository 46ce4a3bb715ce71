/**
 * `rdmagate csi --role`'s list (lib/csi/roles.ts): the controller, one node role, or the
 * controller with one node role; anything else is a CsiRoleError saying why, in one line.
 */
import assert from 'node:assert/strict';
import { RdmagateError } from '../../lib/errors';
import { CSI_ROLES, CsiRoleError, parseCsiRoles, type CsiRoleErrorReason, type CsiRoles } from '../../lib/csi';

describe('CSI role lists (--role)', () => {
  it('one role, or the controller with one node role, in any order', () => {
    const cases: [string, CsiRoles][] = [
      ['controller', { controller: true, node: undefined, label: 'controller' }],
      ['default', { controller: false, node: 'default', label: 'default' }],
      ['host', { controller: false, node: 'host', label: 'host' }],
      ['dpu', { controller: false, node: 'dpu', label: 'dpu' }],
      ['controller,default', { controller: true, node: 'default', label: 'controller,default' }],
      // The order given does not matter; the label puts the controller first.
      ['default,controller', { controller: true, node: 'default', label: 'controller,default' }],
      [' controller , host ', { controller: true, node: 'host', label: 'controller,host' }],
      ['controller,dpu', { controller: true, node: 'dpu', label: 'controller,dpu' }],
    ];
    for (const [text, roles] of cases) assert.deepEqual(parseCsiRoles(text), roles, text);
    assert.deepEqual(CSI_ROLES, ['controller', 'default', 'host', 'dpu']);
  });

  it('refuses an empty, unknown, repeated or second node role with ERR_CSI_ROLE and a one-line reason', () => {
    const cases: [string, CsiRoleErrorReason, RegExp][] = [
      ['', 'empty', /--role '' has an empty role/],
      ['controller,', 'empty', /has an empty role/],
      ['controller,,default', 'empty', /has an empty role/],
      ['worker', 'unknown', /--role must be one of controller, default, host, dpu, or controller,<node role>; 'worker' is none of them/],
      ['Controller', 'unknown', /'Controller' is none of them/],
      ['controller,node', 'unknown', /'node' is none of them/],
      ['controller,controller', 'duplicate', /names controller twice/],
      ['default,controller,default', 'duplicate', /names default twice/],
      ['host,dpu', 'conflict', /names node roles host and dpu: one process serves one node role/],
      ['default,host', 'conflict', /node roles default and host/],
      ['controller,default,dpu', 'conflict', /node roles default and dpu/],
    ];
    for (const [text, reason, message] of cases) {
      assert.throws(() => parseCsiRoles(text), (e: unknown) => {
        assert.ok(e instanceof CsiRoleError && e instanceof RdmagateError, `${text}: ${String(e)}`);
        assert.equal(e.code, 'ERR_CSI_ROLE');
        assert.equal(e.reason, reason, text);
        assert.match(e.message, message);
        assert.ok(!e.message.includes('\n'), 'one line');
        return true;
      });
    }
    assert.throws(() => parseCsiRoles('worker', 'roles'), /^CsiRoleError: roles must be one of/);
  });
});
