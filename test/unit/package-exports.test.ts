/**
 * package.json's `exports` (issue 19, item 7): the entry points a consumer can name
 * (`rdmagate`, `rdmagate/csi`, ...). Each resolves through Node's own resolution to a built
 * CommonJS module beside its declarations, loads, and is the root's namespace of that name or
 * a part of the root; TypeScript finds the same declarations under node10 resolution
 * (`typesVersions`) and node16 (`exports`); those meant to run without the addon do; and
 * typedoc.json documents these entry points and no others.
 *
 * The package is resolved as a consumer resolves it: from a temporary directory whose
 * node_modules/rdmagate links to this checkout, not from inside the package.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ts from 'typescript';

/** The repository root: this file runs as dist/test/unit/package-exports.test.js. */
const ROOT = resolve(__dirname, '../../..');

interface Conditions {
  types: string;
  default: string;
}

interface PackageJson {
  type?: string;
  main: string;
  types: string;
  bin: Record<string, string>;
  exports: Record<string, Conditions | string>;
  typesVersions: Record<string, Record<string, string[]>>;
}

const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;

/** The entry points that must load without the addon: the CSI driver's, and what a client needs. */
const ADDON_FREE = ['./errors', './jsonrpc', './csi'];

interface Entry {
  /** The key in `exports`: '.', './csi'. */
  subpath: string;
  /** What a consumer writes: 'rdmagate', 'rdmagate/csi'. */
  specifier: string;
  /** The namespace's name, '' for the root. */
  name: string;
  conditions: Conditions;
}

const entries: Entry[] = Object.entries(PKG.exports).filter(([subpath]) => subpath !== './package.json')
  .map(([subpath, conditions]) => {
    assert.equal(typeof conditions, 'object', `exports['${subpath}'] has conditions`);
    return { subpath, specifier: `rdmagate${subpath.slice(1)}`, name: subpath.slice(2), conditions: conditions as Conditions };
  });

/** A file of this checkout, as Node and tsc name it once the link is followed. */
const real = (relativePath: string) => realpathSync(join(ROOT, relativePath));

/** The root's namespaces: `export * as rdma from './rdma'` in lib/index.ts. */
function rootNamespaces(): string[] {
  const source = readFileSync(join(ROOT, 'lib/index.ts'), 'utf8');
  return [...source.matchAll(/^export \* as (\w+) from '\.\/(\w+)';$/gm)].map((m) => {
    assert.equal(m[1], m[2], `lib/index.ts exports ./${m[2]} as ${m[1]}: a namespace named as its folder`);
    return m[1]!;
  });
}

/** Runs `script` in a fresh node in `cwd`; the addon files it loaded (process.dlopen, recorded). */
function addonLoads(cwd: string, script: string): string[] {
  const mark = 'DLOPENED ';
  const record = `
    const files = [];
    const dlopen = process.dlopen;
    process.dlopen = function (module, file, ...rest) { files.push(file); return dlopen.call(this, module, file, ...rest); };
    process.on('exit', () => process.stderr.write('\\n${mark}' + JSON.stringify(files) + '\\n'));
  `;
  const r = spawnSync(process.execPath, ['-e', record + script], { cwd, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const line = r.stderr.split('\n').find((l) => l.startsWith(mark));
  assert.ok(line, `no ${mark}line in stderr:\n${r.stderr}`);
  return (JSON.parse(line.slice(mark.length)) as string[]).filter((f) => f.endsWith('.node'));
}

describe('package.json exports', function () {
  this.timeout(60_000);
  let consumer: string;
  let consumerRequire: NodeJS.Require;

  before(() => {
    consumer = mkdtempSync(join(tmpdir(), 'rdmagate-consumer-'));
    mkdirSync(join(consumer, 'node_modules'));
    symlinkSync(ROOT, join(consumer, 'node_modules/rdmagate'), 'dir');
    consumerRequire = createRequire(join(consumer, 'consumer.js'));
  });
  after(() => rmSync(consumer, { recursive: true, force: true }));

  it('names the root, package.json and each of the root\'s namespaces, each with types and a CommonJS default', () => {
    assert.deepEqual(PKG.exports['.'], { types: `./${PKG.types}`, default: `./${PKG.main}` }, 'the root is main and types');
    assert.equal(PKG.exports['./package.json'], './package.json');
    for (const name of rootNamespaces()) assert.ok(PKG.exports[`./${name}`], `lib/index.ts's namespace ${name} has no entry point`);
    for (const e of entries) {
      // "types" first: TypeScript takes the first condition that matches.
      assert.deepEqual(Object.keys(e.conditions), ['types', 'default'], e.subpath);
      assert.match(e.conditions.default, /^\.\/dist\/lib\/[\w/-]+\.js$/, e.subpath);
      assert.equal(e.conditions.types, e.conditions.default.replace(/\.js$/, '.d.ts'), e.subpath);
    }
    // "default" is CommonJS: tsc emits it (tsconfig's module), and no "type" makes .js ESM.
    const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), (p) => ts.sys.readFile(p));
    assert.equal((config.config as { compilerOptions: { module: string } }).compilerOptions.module.toLowerCase(), 'commonjs');
    assert.equal(PKG.type, undefined);
  });

  it('resolves each, as a consumer does, to its built module beside its declarations', () => {
    for (const e of entries) {
      assert.equal(consumerRequire.resolve(e.specifier), real(e.conditions.default), e.specifier);
      assert.ok(existsSync(join(ROOT, e.conditions.types)), `${e.specifier}: ${e.conditions.types} is missing`);
    }
    assert.equal(consumerRequire.resolve('rdmagate/package.json'), real('package.json'));
  });

  it('loads each, and each is the root\'s namespace of its name or a part of the root', () => {
    const root = consumerRequire('rdmagate') as Record<string, unknown>;
    const namespaces = rootNamespaces();
    for (const e of entries.filter((x) => x.subpath !== '.')) {
      const m = consumerRequire(e.specifier) as Record<string, unknown>;
      assert.ok(Object.keys(m).length > 0, `${e.specifier} exports nothing`);
      if (namespaces.includes(e.name)) {
        assert.equal(root[e.name], m, `${e.specifier} is not the root's ${e.name}`);
      } else {
        assert.deepEqual(Object.keys(m).filter((k) => root[k] !== m[k]), [], `${e.specifier}'s exports that the root lacks`);
      }
    }
  });

  it(`loads ${ADDON_FREE.join(', ')} without the addon`, () => {
    // The check sees the addon where it is loaded.
    assert.equal(addonLoads(consumer, "require('rdmagate')").length, 1, 'the root loads the addon');
    for (const subpath of ADDON_FREE) {
      assert.ok(PKG.exports[subpath], subpath);
      assert.deepEqual(addonLoads(consumer, `require('rdmagate${subpath.slice(1)}')`), [], subpath);
    }
  });

  it('gives TypeScript each entry\'s declarations, under node10 and node16 resolution', () => {
    const from = join(consumer, 'consumer.ts');
    const kinds: [string, ts.CompilerOptions][] = [
      ['node10', { moduleResolution: ts.ModuleResolutionKind.Node10 }],
      ['node16', { module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16 }],
    ];
    for (const [kind, options] of kinds) {
      for (const e of entries) {
        const r = ts.resolveModuleName(e.specifier, from, options, ts.sys).resolvedModule;
        assert.equal(r?.resolvedFileName, real(e.conditions.types), `${e.specifier} under ${kind}`);
      }
    }
  });

  it('runs the bin, and closes the paths that are no entry point', () => {
    const bin = join(ROOT, PKG.bin.rdmagate!);
    const r = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\d+\.\d+\.\d+/);
    assert.throws(() => consumerRequire.resolve(`rdmagate/${PKG.bin.rdmagate}`), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
  });

  it('is what typedoc.json documents: the entry points\' sources, no more, no fewer', () => {
    const text = readFileSync(join(ROOT, 'typedoc.json'), 'utf8');
    // typedoc.json has comments, which JSON.parse refuses and TypeScript's reader allows.
    const { config, error } = ts.parseConfigFileTextToJson('typedoc.json', text);
    assert.equal(error, undefined, 'typedoc.json reads');
    const sources = entries.map((e) => e.conditions.types.replace(/^\.\/dist\//, '').replace(/\.d\.ts$/, '.ts'));
    for (const s of sources) assert.ok(existsSync(join(ROOT, s)), `${s} is missing`);
    assert.deepEqual([...(config as { entryPoints: string[] }).entryPoints].sort(), sources.sort());
  });
});
