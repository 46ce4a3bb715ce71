#!/usr/bin/env node
// npm's install step for the addon. node-gyp-build alone takes whatever build/Release
// holds, even when native/ changed since it was built (npm ci in a checkout after a pull):
// such an addon is rebuilt here. Without build/Release (an install from the registry), the
// prebuild for this platform serves when it loads; else the addon is built.
// RDMAGATE_WERROR=1 (CI, our own builds) makes compiler warnings errors, and builds even
// where a prebuild would serve; a user's compiler, which may warn where ours does not,
// builds without.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const addon = path.join(root, 'build', 'Release', 'rdmagate.node');
const werror = process.env.RDMAGATE_WERROR === '1';

/** The newest modification time of binding.gyp and the native sources. */
function newestSource() {
  let newest = fs.statSync(path.join(root, 'binding.gyp')).mtimeMs;
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  walk(path.join(root, 'native'));
  return newest;
}

/** Whether a prebuild for this platform is there and loads (glibc, N-API version). */
function prebuildServes() {
  try {
    const nodeGypBuild = require(require.resolve('node-gyp-build', { paths: [root] }));
    require(nodeGypBuild.path(root));
    return true;
  } catch {
    return false;
  }
}

/** node-gyp rebuild: the package's node-gyp where it has one, else npm's (on PATH in npm's scripts). */
function rebuild() {
  const args = ['rebuild', ...(werror ? ['--werror=true'] : [])];
  let bin;
  try {
    bin = require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] });
  } catch {
    bin = undefined;
  }
  const r = bin ? spawnSync(process.execPath, [bin, ...args], { cwd: root, stdio: 'inherit' })
    : spawnSync('node-gyp', args, { cwd: root, stdio: 'inherit' });
  if (r.error) throw r.error;
  process.exit(r.status ?? 1);
}

if (fs.existsSync(addon)) {
  if (fs.statSync(addon).mtimeMs >= newestSource()) process.exit(0);
  process.stderr.write('rdmagate: native/ changed since build/Release/rdmagate.node was built: rebuilding\n');
  rebuild();
} else if (werror || !prebuildServes()) {
  rebuild();
}
