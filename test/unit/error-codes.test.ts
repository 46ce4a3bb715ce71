/**
 * RdmagateErrorCode (lib/errors.ts) is every code an RdmagateError carries, and nothing
 * else. The codes are read from the sources, not listed here again: each 'ERR_…' string
 * that lib/ writes (a quoted code, a code-table key, the fixed head of a `ERR_X_${…}`
 * template) and each "ERR_…" that native/ writes must be in the union, so that a code added
 * on either side without it fails here; and each code the union names must be written
 * somewhere, so that a code nothing throws any more leaves it.
 *
 * The union is read with TypeScript's checker (typescript is already a devDependency),
 * which expands its `ERR_CSI_${GrpcStatusName}` members into the codes they stand for.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import * as ts from 'typescript';
import { CsiError, GrpcStatus } from '../../lib/csi/errors';
import { OpiError } from '../../lib/opi/errors';

/** The repository root: this file runs as dist/test/unit/error-codes.test.js. */
const ROOT = resolve(__dirname, '../../..');
const ERRORS_TS = join(ROOT, 'lib/errors.ts');
const UNION = 'RdmagateErrorCode';

function files(dir: string, ext: RegExp): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...files(path, ext));
    else if (ext.test(name) && !name.endsWith('.d.ts')) found.push(path);
  }
  return found.sort();
}

interface Union {
  /** Every code the union admits, its templates expanded. */
  codes: Set<string>;
  /** The members as written: a code, or a template's fixed head (`ERR_OPI_`). */
  written: { text: string; template: boolean }[];
  /** Where the union's declaration lies in lib/errors.ts, to be left out of the search for uses. */
  span: [number, number];
}

function readUnion(): Union {
  const program = ts.createProgram([ERRORS_TS], { strict: true, noEmit: true, types: [], lib: ['lib.es2022.d.ts'] });
  const source = program.getSourceFile(ERRORS_TS)!;
  const checker = program.getTypeChecker();
  const alias = source.statements.find((s): s is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(s) && s.name.text === UNION);
  assert.ok(alias, `lib/errors.ts declares no type ${UNION}`);
  assert.ok(alias.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword), `${UNION} is exported`);
  assert.ok(ts.isUnionTypeNode(alias.type), `${UNION} is a union`);

  const type = checker.getTypeAtLocation(alias.name);
  const members = type.isUnion() ? type.types : [type];
  const codes = new Set<string>();
  for (const t of members) {
    assert.ok(t.isStringLiteral(), `${UNION} has a member that is not one string: ${checker.typeToString(t)}`);
    codes.add(t.value);
  }

  const written = alias.type.types.map((node) => {
    if (ts.isLiteralTypeNode(node) && ts.isStringLiteral(node.literal)) return { text: node.literal.text, template: false };
    if (ts.isTemplateLiteralTypeNode(node)) return { text: node.head.text, template: true };
    throw new Error(`${UNION} has a member that is neither a code nor a template: ${node.getText(source)}`);
  });
  return { codes, written, span: [alias.getStart(source), alias.getEnd()] };
}

interface Use {
  code: string;
  /** A template's fixed head, which stands for the codes that start with it. */
  template: boolean;
  where: string;
}

/** Where `text`, the contents of `file` (lib/ or native/), writes a code. */
function usesIn(file: string, text: string, native: boolean): Use[] {
  const line = (at: number) => `${relative(ROOT, file)}:${text.slice(0, at).split('\n').length}`;
  const uses: Use[] = [];
  if (native) {
    for (const m of text.matchAll(/"(ERR_[A-Z0-9_]+)"/g)) uses.push({ code: m[1]!, template: false, where: line(m.index!) });
    return uses;
  }
  for (const m of text.matchAll(/(['"`])(ERR_[A-Z0-9_]+)\1/g)) uses.push({ code: m[2]!, template: false, where: line(m.index!) });
  // A code table's keys: `ERR_INVALID_ARG: status.INVALID_ARGUMENT,`.
  for (const m of text.matchAll(/^\s*(ERR_[A-Z0-9_]+)\s*:/gm)) uses.push({ code: m[1]!, template: false, where: line(m.index!) });
  for (const m of text.matchAll(/`(ERR_[A-Z0-9_]*_)\$\{/g)) uses.push({ code: m[1]!, template: true, where: line(m.index!) });
  return uses;
}

describe('error codes: RdmagateErrorCode and the sources', () => {
  let union: Union;
  const uses: Use[] = [];
  let nativeFiles: string[];

  before(() => {
    union = readUnion();
    for (const file of files(join(ROOT, 'lib'), /\.ts$/)) {
      let text = readFileSync(file, 'utf8');
      // The union's own list is not a use of its codes.
      const [start, end] = union.span;
      if (file === ERRORS_TS) text = text.slice(0, start) + ' '.repeat(end - start) + text.slice(end);
      uses.push(...usesIn(file, text, false));
    }
    nativeFiles = files(join(ROOT, 'native'), /\.(cc|cpp|h|hpp)$/);
    for (const file of nativeFiles) uses.push(...usesIn(file, readFileSync(file, 'utf8'), true));
  });

  it('reads the union and both sides\' sources', () => {
    assert.ok(union.codes.size > 50, `${union.codes.size} codes in ${UNION}`);
    assert.ok(nativeFiles.length > 20, `${nativeFiles.length} files under native/`);
    // Spot checks that each side was read, each kind of use included.
    const found = (code: string, where: string) => uses.some((u) => u.code === code && u.where.startsWith(where));
    assert.ok(found('ERR_RDMA_VERBS', 'native/'), 'a native code');
    assert.ok(found('ERR_NVME_CONNECT', 'native/host/failure.h'), 'a native code named by a constant');
    assert.ok(found('ERR_CSI_ROLE', 'lib/csi/'), 'a quoted code in lib/');
    assert.ok(found('ERR_ADDRESS_IN_USE', 'lib/jsonrpc/errors.ts'), 'a code table\'s key');
    assert.ok(uses.some((u) => u.template && u.code === 'ERR_OPI_'), 'OpiError\'s template');
  });

  it('has every code that lib/ and native/ write', () => {
    const missing = uses.filter((u) => u.template ? ![...union.codes].some((c) => c.startsWith(u.code)) : !union.codes.has(u.code))
      .map((u) => `${u.where}: ${u.code}${u.template ? '${…}' : ''}`);
    assert.deepEqual(missing, [], `codes missing from ${UNION} in lib/errors.ts: add each, with what it means`);
  });

  it('has no code that nothing writes', () => {
    const unused = union.written.filter((m) => !uses.some((u) => m.template ? u.code.startsWith(m.text) : u.code === m.text))
      .map((m) => m.text + (m.template ? '${…}' : ''));
    assert.deepEqual(unused, [], `codes in ${UNION} that neither lib/ nor native/ writes`);
  });

  it('has the codes that CsiError and OpiError make from a gRPC status', () => {
    // Their codes are made at run time (CsiError's from a table typed string), so each is made here.
    const statuses = Object.values(GrpcStatus).filter((v): v is GrpcStatus => typeof v === 'number');
    assert.equal(statuses.length, 17);
    const made = statuses.flatMap((s) => [new CsiError(s, 'm').code, new OpiError(s, 'm').code]);
    assert.deepEqual(made.filter((c) => !union.codes.has(c)), []);
  });
});
