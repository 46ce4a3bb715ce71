/**
 * native/ is layered, and its includes say so: no file includes one that includes it back,
 * no layer (a folder: spec, util, reactor, tcp, target, transport/tcp, ...) uses one that
 * uses it back, the target's core knows no transport, and only native/napi sees Node.
 * A transport registers itself (target/transport.h) and sees of the target only that
 * narrow interface, as SPDK's transports see spdk_nvmf_transport_ops.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { cycles } from '../support/graph-cycles';

/** The repository root: this file runs as dist/test/unit/native-include-graph.test.js. */
const ROOT = resolve(__dirname, '../../..');
const NATIVE = join(ROOT, 'native');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(h|cc)$/.test(name) ? [relative(NATIVE, path)] : [];
  }).sort();
}

/** `#include "x"` and `#include <x>` lines, outside comments (the files keep includes at the top). */
function includes(file: string): { quoted: string[]; system: string[] } {
  const text = readFileSync(join(NATIVE, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const quoted = [...text.matchAll(/^\s*#\s*include\s+"([^"]+)"/gm)].map((m) => m[1]);
  const system = [...text.matchAll(/^\s*#\s*include\s+<([^>]+)>/gm)].map((m) => m[1]);
  return { quoted, system };
}

/** A file's layer: its folder, with transport/tcp and transport/rdma layers of their own. */
function layer(file: string): string {
  const parts = file.split('/');
  return parts[0] === 'transport' ? parts.slice(0, 2).join('/') : parts[0];
}

describe('native/ include graph', () => {
  const files = sources(NATIVE);
  const graph = new Map(files.map((f) => [f, includes(f).quoted] as const));
  const layers = new Map<string, string[]>();
  for (const [file, targets] of graph) {
    const from = layer(file);
    const edges = layers.get(from) ?? [];
    for (const t of targets) if (layer(t) !== from && !edges.includes(layer(t))) edges.push(layer(t));
    layers.set(from, edges);
  }

  it('reads every source, and every quoted include names one of them', () => {
    assert.ok(files.length > 100, `${files.length} files under native/`);
    const unresolved = [...graph].flatMap(([f, targets]) => targets.filter((t) => !graph.has(t)).map((t) => `${f}: ${t}`));
    assert.deepEqual(unresolved, []);
  });

  it('has no include cycle between files', () => {
    const found = cycles(graph);
    assert.equal(found.length, 0, found.map((c) => c.join(' -> ')).join('\n'));
  });

  it('has no cycle between layers', () => {
    const found = cycles(layers);
    assert.equal(found.length, 0, found.map((c) => c.join(' -> ')).join('\n'));
  });

  it("keeps the target's core free of transports, and transports off target.h", () => {
    const wrong = [...graph].flatMap(([f, targets]) => targets
      .filter((t) => (layer(f) === 'target' && t.startsWith('transport/')) || (f.startsWith('transport/') && t === 'target/target.h'))
      .map((t) => `${f} includes ${t}`));
    assert.deepEqual(wrong, []);
  });

  it('lets native/napi alone include Node', () => {
    const node = /^(napi\.h|node_api\.h|node\.h|uv\.h)$/;
    const seeing = files.filter((f) => includes(f).system.some((s) => node.test(s)));
    assert.ok(seeing.some((f) => layer(f) === 'napi'), 'the bindings include napi.h');
    assert.deepEqual(seeing.filter((f) => layer(f) !== 'napi'), []);
  });
});
