/**
 * The CSI driver does not load the addon: its container need not have rdma-core or a
 * build of native/, and a node must not map the SPDK-style target to answer CSI calls.
 * Each case runs in a fresh process, with process.dlopen (what require() of a .node file
 * calls) wrapped to record every file it loads.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

/** dist/lib: this file runs as dist/test/unit/csi-no-addon.test.js. */
const LIB = resolve(__dirname, '../../lib');
const MARK = 'DLOPENED ';

/** Runs `script` in a fresh node with dlopen recorded; returns the files it loaded, and its output. */
function dlopened(script: string): { files: string[]; stdout: string } {
  const record = `
    const files = [];
    const dlopen = process.dlopen;
    process.dlopen = function (module, file, ...rest) { files.push(file); return dlopen.call(this, module, file, ...rest); };
    process.on('exit', () => process.stderr.write('\\n${MARK}' + JSON.stringify(files) + '\\n'));
  `;
  const r = spawnSync(process.execPath, ['-e', record + script], { encoding: 'utf8', timeout: 30000 });
  assert.equal(r.status, 0, r.stderr);
  const line = r.stderr.split('\n').find((l) => l.startsWith(MARK));
  assert.ok(line, `no ${MARK}line in stderr:\n${r.stderr}`);
  return { files: JSON.parse(line.slice(MARK.length)) as string[], stdout: r.stdout };
}

const addon = (files: string[]) => files.filter((f) => f.endsWith('rdmagate.node'));

describe('the CSI driver without the addon', function () {
  this.timeout(60000);

  it('the check sees the addon where it is loaded: lib/native and the package root', () => {
    assert.equal(addon(dlopened(`require(${JSON.stringify(`${LIB}/native`)})`).files).length, 1);
    assert.equal(addon(dlopened(`require(${JSON.stringify(LIB)})`).files).length, 1);
  });

  it('lib/csi, lib/cli/csi, lib/cli/group, lib/jsonrpc and lib/log load without it', () => {
    for (const m of ['csi', 'cli/csi', 'cli/group', 'jsonrpc', 'log/logger']) {
      assert.deepEqual(addon(dlopened(`require(${JSON.stringify(`${LIB}/${m}`)})`).files), [], m);
    }
  });

  it('`rdmagate csi` loads only its own command\'s modules, which do without it', () => {
    const main = `${LIB}/cli/main.js`;
    const r = dlopened(`process.argv = [process.execPath, ${JSON.stringify(main)}, 'csi', '--help']; require(${JSON.stringify(main)});`);
    assert.match(r.stdout, /^usage: rdmagate csi\b/);
    assert.deepEqual(addon(r.files), []);
  });
});
