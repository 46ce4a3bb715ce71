/**
 * scripts/install-native.js, npm's install step: an addon older than native/ is rebuilt (not
 * loaded stale), one newer is kept, and with no build/Release a prebuild for the platform
 * that loads serves (else a build); RDMAGATE_WERROR=1 builds with warnings as errors. Run on
 * a copy of the script in a scratch package, with a node-gyp stand-in that records how it
 * was called, and this checkout's addon as the scratch package's prebuild.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(__dirname, '..', '..', '..');
const SCRIPT = resolve(REPO, 'scripts', 'install-native.js');

describe('scripts/install-native.js (npm install)', () => {
  let root: string;
  let bin: string;
  const calls = () => (existsSync(join(root, 'calls')) ? readFileSync(join(root, 'calls'), 'utf8').trim().split('\n') : []);
  const install = (env: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'install-native.js')],
      { encoding: 'utf8', env: { ...process.env, RDMAGATE_WERROR: '', ...env, PATH: `${bin}:${process.env.PATH}` } });
    assert.equal(r.status, 0, r.stderr);
    return r;
  };
  const age = (file: string, secondsAgo: number) => {
    const t = Date.now() / 1000 - secondsAgo;
    utimesSync(file, t, t);
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'rdmagate-install-'));
    bin = join(root, 'bin');
    for (const d of ['scripts', 'native/util', 'build/Release', 'bin']) mkdirSync(join(root, d), { recursive: true });
    copyFileSync(SCRIPT, join(root, 'scripts', 'install-native.js'));
    writeFileSync(join(root, 'binding.gyp'), '{}');
    writeFileSync(join(root, 'native', 'util', 'x.cc'), '');
    writeFileSync(join(root, 'build', 'Release', 'rdmagate.node'), '');
    writeFileSync(join(bin, 'node-gyp'), `#!/bin/sh\necho "node-gyp $*" >> "${root}/calls"\n`);
    chmodSync(join(bin, 'node-gyp'), 0o755);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('keeps an addon built after the last change to native/ and binding.gyp', () => {
    age(join(root, 'binding.gyp'), 60);
    age(join(root, 'native', 'util', 'x.cc'), 60);
    install();
    assert.deepEqual(calls(), []);
  });

  it('rebuilds an addon older than a native source, or than binding.gyp', () => {
    age(join(root, 'build', 'Release', 'rdmagate.node'), 60);
    const r = install();
    assert.deepEqual(calls(), ['node-gyp rebuild']);
    assert.match(r.stderr, /native\/ changed/);
    rmSync(join(root, 'calls'));
    age(join(root, 'native', 'util', 'x.cc'), 120);
    install({ RDMAGATE_WERROR: '1' });
    assert.deepEqual(calls(), ['node-gyp rebuild --werror=true'], 'binding.gyp is newer still');
  });

  it('with no build/Release: the prebuild where one loads, else a build; ours always build, with -Werror', () => {
    rmSync(join(root, 'build'), { recursive: true });
    install();
    assert.deepEqual(calls(), ['node-gyp rebuild'], 'no prebuild: built');
    rmSync(join(root, 'calls'));
    mkdirSync(join(root, 'node_modules'));
    symlinkSync(resolve(REPO, 'node_modules', 'node-gyp-build'), join(root, 'node_modules', 'node-gyp-build'));
    mkdirSync(join(root, 'prebuilds', `linux-${process.arch}`), { recursive: true });
    copyFileSync(resolve(REPO, 'build', 'Release', 'rdmagate.node'), join(root, 'prebuilds', `linux-${process.arch}`, 'rdmagate.node'));
    install();
    assert.deepEqual(calls(), [], 'the prebuild serves');
    install({ RDMAGATE_WERROR: '1' });
    assert.deepEqual(calls(), ['node-gyp rebuild --werror=true']);
  });
});
