/**
 * lib/ has no import cycle, type-only imports included: a cycle lets a lower layer depend on
 * a higher one (lib/native.ts once typed itself with eight files above it), and at run time
 * it leaves one side of the cycle reading the other's exports before they are set.
 *
 * The imports come from TypeScript's own pre-processor (typescript is already a
 * devDependency), which sees what a regex would get wrong: multi-line and `import type`
 * statements, `export ... from`, `import('./x').T` in type positions and require(), and
 * none of the ones inside comments or strings.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import * as ts from 'typescript';
import { cycles } from '../support/graph-cycles';

/** The repository root: this file runs as dist/test/unit/import-graph.test.js. */
const ROOT = resolve(__dirname, '../../..');
const LIB = join(ROOT, 'lib');

function sources(dir: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files.push(...sources(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) files.push(path);
  }
  return files.sort();
}

/** The .ts file a relative specifier names, as tsc resolves it; undefined for anything else. */
function resolveSource(from: string, specifier: string): string | undefined {
  const base = resolve(dirname(from), specifier.replace(/\.js$/, ''));
  return [`${base}.ts`, join(base, 'index.ts')].find((p) => existsSync(p));
}

/** Each file's relative imports that are lib/ sources, in the order written. */
function importGraph(files: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const edges: string[] = [];
    for (const { fileName } of info.importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = resolveSource(file, fileName);
      // A JSON file or one outside lib/ cannot take part in a cycle of lib/ sources.
      if (target !== undefined && target.startsWith(LIB + '/') && !edges.includes(target)) edges.push(target);
    }
    graph.set(file, edges);
  }
  return graph;
}

describe('lib/ import graph', () => {
  const files = sources(LIB);
  const graph = importGraph(files);
  const name = (file: string) => relative(ROOT, file);

  it('reads every source, multi-line and type-only imports included', () => {
    assert.ok(files.length > 50, `${files.length} files under ${LIB}`);
    // Spot checks of the parser on shapes that a line-by-line reader misses.
    const info = ts.preProcessFile(
      "import type {\n  A,\n  B,\n} from './a';\nexport * from './b';\ntype C = import('./c').C;\n// import './d'\nconst s = '/* ./e */';\n",
      true, true);
    assert.deepEqual(info.importedFiles.map((f) => f.fileName), ['./a', './b', './c']);
  });

  it('lib/native imports nothing from the layers above it, lib/errors.ts (its error factory) aside', () => {
    const NATIVE = join(LIB, 'native') + '/';
    const allowed = (target: string) => target.startsWith(NATIVE) || target === join(LIB, 'errors.ts');
    const upward = files.filter((f) => f.startsWith(NATIVE))
      .flatMap((f) => graph.get(f)!.filter((t) => !allowed(t)).map((t) => `${name(f)} -> ${name(t)}`));
    assert.deepEqual(upward, []);
    // The addon is loaded and typed there alone: no layer loads it or recasts it to a shape of its own.
    const elsewhere = files.filter((f) => !f.startsWith(NATIVE)
      && /node-gyp-build|\.node['"]|as unknown as Native/.test(readFileSync(f, 'utf8')));
    assert.deepEqual(elsewhere.map(name), []);
  });

  it('has no cycle', () => {
    const found = cycles(graph);
    const text = found.map((c) => c.map(name).join('\n  -> ')).join('\n\n');
    assert.equal(found.length, 0, `${found.length} import cycle(s) in lib/:\n\n${text}\n`);
  });
});
