/**
 * A README `ts` block as a module of its own: its imports of 'rdmagate' pointed at the
 * package's built entry, the rest inside `export async function main()`, since a CommonJS
 * module has no top-level await. Type-checked by the TypeScript compiler against the
 * package's declarations, with diagnostics named by README line, and transpiled to run.
 */
import * as ts from 'typescript';

export interface Snippet {
  /** Where it goes, a .ts path. */
  path: string;
  source: string;
  /** The README line of a line of `source` (1-based both). */
  readmeLine(line: number): number;
}

/** Node's own modules and the package: what a README example may import. */
const IMPORTABLE = /^(node:.*|rdmagate)$/;

/** `code`, a block that starts at README line `firstLine`, as a module importing the package from `entry`. */
export function snippetModule(code: string, firstLine: number, path: string, entry: string): Snippet {
  const parsed = ts.createSourceFile(path, code, ts.ScriptTarget.ES2022, true);
  let importsEnd = -1;  // the 0-based line where the last leading import ends
  for (const s of parsed.statements) {
    if (!ts.isImportDeclaration(s)) break;
    const from = (s.moduleSpecifier as ts.StringLiteral).text;
    if (!IMPORTABLE.test(from)) throw new Error(`README:${firstLine + lineOf(parsed, s)}: imports '${from}'; an example may import only 'rdmagate' and node: modules`);
    importsEnd = parsed.getLineAndCharacterOfPosition(s.getEnd()).line;
  }
  const lines = code.split('\n');
  const head = lines.slice(0, importsEnd + 1).map((l) => l.replace(/(from\s+)(['"])rdmagate\2/, (_m, f: string) => `${f}${JSON.stringify(entry)}`));
  const source = [...head, 'export async function main(): Promise<void> {', ...lines.slice(importsEnd + 1), '}', ''].join('\n');
  // One line was added after the imports: the function's.
  return { path, source, readmeLine: (line) => firstLine + (line - 1 <= importsEnd ? line - 1 : line - 2) };
}

function lineOf(file: ts.SourceFile, node: ts.Node): number {
  return file.getLineAndCharacterOfPosition(node.getStart()).line;
}

/** The compiler's errors for `snippets`, each as README:LINE: message; empty when they type-check. */
export function typeErrors(snippets: readonly Snippet[], options: ts.CompilerOptions): string[] {
  const byPath = new Map(snippets.map((s) => [s.path, s]));
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  host.readFile = (file) => byPath.get(file)?.source ?? readFile(file);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (file) => byPath.has(file) || fileExists(file);
  const program = ts.createProgram([...byPath.keys()], { ...options, noEmit: true }, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    const snippet = d.file && byPath.get(d.file.fileName);
    if (!d.file || d.start === undefined) return `TS${d.code}: ${text}`;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    return snippet ? `README:${snippet.readmeLine(line + 1)}: TS${d.code}: ${text}` : `${d.file.fileName}:${line + 1}: TS${d.code}: ${text}`;
  });
}

/** The snippet as CommonJS that runs main() and exits 1 on its error. */
export function runnableJs(snippet: Snippet): string {
  const { outputText } = ts.transpileModule(snippet.source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  return `${outputText}\nmain().catch((e) => { console.error(e); process.exitCode = 1; });\n`;
}
