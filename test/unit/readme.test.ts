/**
 * README.md runs as written (issue 20, item 2): every fenced block is an `sh` or `ts` block
 * that runs here, or is marked not to run with its reason (see test/support/readme-blocks.ts
 * for the markers); a block that is neither fails.
 *
 * - sh: each command runs in bash, `rdmagate` (and `npx rdmagate`) being the package's bin,
 *   against a backend and a gateway this test starts for the block (a fresh pair per block,
 *   as on a fresh machine; `rdmagate gateway --demo`'s exports for a block marked demo).
 *   The README's addresses and ports become theirs: 10.0.0.5 and 192.168.1.10 127.0.0.1;
 *   4421 the backend's port, 4420 a free one for the export, 9464 the metrics'; the
 *   default socket (root's) the gateway's temporary one, which `rdmagate rpc` is given.
 *   Each command must exit 0, and some outputs must show what the README says they do.
 *   A usage synopsis (`[--flag VALUE]`) is checked against the command's --help: each flag
 *   exists, and each default shown is the one the help gives.
 * - ts: each block is type-checked against the package's declarations (its import of
 *   'rdmagate' pointed at the built entry), and run with Node unless marked skip.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ts from 'typescript';
import { Gateway, Target, nvmf, type JsonObject } from '../../lib';
import { exportDemo, startDemoBackend } from '../../lib/cli/gateway-demo';
import { fencedBlocks, shCommands, type FencedBlock, type ShCommand } from '../support/readme-blocks';
import { runnableJs, snippetModule, typeErrors, type Snippet } from '../support/ts-snippet';

/** The repository root: this file runs as dist/test/unit/readme.test.js. */
const ROOT = resolve(__dirname, '../../..');
const README = join(ROOT, 'README.md');
const MAIN = join(ROOT, 'dist/lib/cli/main.js');
/** The package's entry as its package.json names it, without .js: what `import 'rdmagate'` loads. */
const ENTRY = join(ROOT, (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { main: string }).main).replace(/\.js$/, '');
/** A Mayastor nexus's NQN, the README's backend. */
const NEXUS_NQN = 'nqn.2019-05.io.openebs:nexus-1';
const VOL1_NQN = 'nqn.2026-11.io.rdmagate:vol1';
const COMMAND_TIMEOUT_MS = 30_000;

/** `rdmagate` as the package's bin; `rpc` given the test gateway's socket, since the default is root's /var/run one. */
const SHIM = `
rdmagate() {
  if [ "$1" = rpc ]; then shift; set -- rpc -s "$README_SOCKET" "$@"; fi
  node "$README_MAIN" "$@"
}
npx() {
  if [ "$1" = rdmagate ]; then shift; rdmagate "$@"; return; fi
  echo "readme test: only npx rdmagate runs here, not npx $1" >&2; return 127
}
`;

interface Fixture {
  dir: string;
  sock: string;
  ports: { backend: number; frontend: number; metrics: number };
  backend: Target;
  gateway: Gateway;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** What a command's output must show, where the README says what it does; found by a piece of its text. */
const OUTPUTS: readonly { command: string; stdout: RegExp }[] = [
  { command: 'rdmagate id-ctrl', stdout: /^mn\s+: rdmagate gateway\s*$/m },
  { command: 'rdmagate rpc -s /var/run/rdmagate/rdmagate.sock nvmf_get_subsystems', stdout: /"nqn": "nqn\.2026-11\.io\.rdmagate:gateway"/ },
  { command: 'curl http://127.0.0.1:9464/metrics', stdout: /^rdmagate_backend_state\{/m },
  { command: 'rdmagate rpc bdev_nvme_attach_controller', stdout: /"Nvme0n1"/ },
  { command: 'rdmagate perf', stdout: /^\s+read: IOPS=/m },
];

/** What a block must have done, beyond its commands' exit status; found by a piece of its text. */
const AFTER: readonly { block: string; what: string; check(f: Fixture): Promise<void> }[] = [
  {
    block: `rdmagate rpc nvmf_create_subsystem --nqn ${VOL1_NQN}`,
    what: 'vol1 exports the backend on NVMe/TCP, and a host finds its namespace',
    async check(f) {
      const [s] = await f.gateway.rpc('nvmf_get_subsystems', { nqn: VOL1_NQN }) as JsonObject[];
      assert.equal(s!.allow_any_host, true);
      assert.deepEqual((s!.namespaces as JsonObject[]).map((n) => n.bdev_name), ['Nvme0n1']);
      assert.deepEqual((s!.listen_addresses as JsonObject[]).map((l) => `${l.trtype} ${l.traddr}:${l.trsvcid}`),
        [`TCP 127.0.0.1:${f.ports.frontend}`]);
      const ctrl = await nvmf.connect({ traddr: '127.0.0.1', trsvcid: f.ports.frontend, subnqn: VOL1_NQN });
      try {
        assert.deepEqual(ctrl.namespaces.map((n) => n.nsid), [1]);
      } finally {
        await ctrl.close();
      }
    },
  },
  {
    block: 'target.attachNvmeController',
    what: 'the write reached the backend',
    async check(f) {
      const writes = f.backend.namespaceStats().reduce((n, s) => n + s.writes, 0);
      assert.ok(writes >= 1, `the backend saw ${writes} writes`);
    },
  },
];

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer().once('error', rej).listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => res(port));
    });
  });
}

/** A RAM namespace under the nexus's NQN, on a port of its own. */
function nexusBackend(): Target {
  const t = new Target();
  try {
    t.createBdev({ type: 'malloc', name: 'Malloc0', sizeBytes: 64 << 20 });
    t.addSubsystem({ nqn: NEXUS_NQN, modelNumber: 'rdmagate readme backend' }).addNamespace({ bdev: 'Malloc0' });
    t.listen({ transport: 'tcp', address: '127.0.0.1', port: 0 });
  } catch (e) {
    t.closeSync();
    throw e;
  }
  return t;
}

async function startFixture(demo: boolean): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'rdmagate-readme-'));
  const sock = join(dir, 'rdmagate.sock');
  const backend = demo ? startDemoBackend(0) : nexusBackend();
  const gateway = new Gateway({ socketPath: sock, configPath: null, log: () => undefined, metrics: { address: '127.0.0.1', port: 0 } });
  try {
    const ports = { backend: backend.listeners()[0]!.trsvcid, frontend: await freePort(), metrics: 0 };
    await gateway.start();
    ports.metrics = gateway.metricsPort!;
    if (demo) await exportDemo(gateway, ports);
    return { dir, sock, ports, backend, gateway };
  } catch (e) {
    await gateway.close();
    backend.closeSync();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

async function closeFixture(f: Fixture): Promise<void> {
  await f.gateway.close();
  f.backend.closeSync();
  rmSync(f.dir, { recursive: true, force: true });
}

/** The README's addresses, ports and socket, as the fixture's. */
function substitute(text: string, f: Fixture): string {
  const ports: Record<string, number> = { 4420: f.ports.frontend, 4421: f.ports.backend, 9464: f.ports.metrics };
  return text
    .replaceAll('/var/run/rdmagate/rdmagate.sock', f.sock)
    .replace(/(?<![\d.])(10\.0\.0\.5|192\.168\.1\.10)(?![\d.])/g, '127.0.0.1')
    .replace(/(?<![\d.])(4420|4421|9464)(?![\d.])/g, (p) => String(ports[p]));
}

/** Runs `file`; spawned, not spawnSync: the fixture answers on this event loop. */
function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((res, rej) => {
    const p = spawn(file, args, { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => p.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
    p.once('error', (e) => { clearTimeout(timer); rej(new Error(`cannot run ${file}: ${e.message}`)); });
    p.once('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, stdout, stderr: signal ? `${stderr}\n(killed by ${signal}: it ran past ${COMMAND_TIMEOUT_MS} ms)` : stderr });
    });
  });
}

function sh(command: string, socket: string): Promise<Ran> {
  // Loopback is never a proxy's to answer (curl would follow http_proxy there too).
  return run('bash', ['-c', `${SHIM}\n${command}`], { README_MAIN: MAIN, README_SOCKET: socket, no_proxy: '127.0.0.1,localhost',
    NO_PROXY: '127.0.0.1,localhost' });
}

function failure(line: number, command: string, r: Ran): string {
  const missing = r.code === 127 ? ' (exit status 127: a program it needs is missing here)' : '';
  return `README:${line}: \`${command}\` exited ${r.code}${missing}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `rdmagate CMD [--flag VALUE]...`: each flag is CMD's, each default shown (not a NAME) the one its help gives. */
async function checkSynopsis(c: ShCommand): Promise<void> {
  const [program, command] = c.text.split(/\s+/);
  assert.equal(program, 'rdmagate', `README:${c.line}: a synopsis of ${program}, which this test cannot check`);
  const r = await sh(`rdmagate ${command} --help`, '');
  assert.equal(r.code, 0, failure(c.line, `rdmagate ${command} --help`, r));
  const flags = [...c.text.matchAll(/(?<![\w-])(--?[A-Za-z][\w-]*)/g)].map((m) => m[1]!);
  assert.ok(flags.length > 0, `README:${c.line}: a synopsis with no flag`);
  for (const flag of flags) {
    assert.match(r.stdout, new RegExp(`(^|[\\s,\\[])${escape(flag)}(?![\\w-])`, 'm'), `README:${c.line}: rdmagate ${command} has no ${flag}`);
  }
  for (const [, flag, value] of c.text.matchAll(/\[(--?[A-Za-z][\w-]*)\s+([^\s[\]]+)/g)) {
    if (/^[A-Z][A-Z0-9_]*$/.test(value!)) continue;  // a placeholder (N, IP, NAME), not a default
    assert.ok(r.stdout.includes(value!), `README:${c.line}: ${flag} ${value} is not the default that rdmagate ${command} --help gives`);
  }
}

/**
 * The programs a README command may run here: the package's own, and curl for its metrics.
 * Anything else (npm, a script, nvme-cli) fails unrun until marked skip: a block new to the
 * README must not install, build or boot a lab because nobody marked it yet.
 */
const RUNNABLE = /^(rdmagate|npx rdmagate|curl)(\s|$)/;
/** The commands that serve until Ctrl-C: a synopsis of one is checked, the command itself would not end. */
const SERVES = /^(npx )?rdmagate (gateway|target|csi|opi-bridge|dpu)(\s|$)/;

function unrunnable(b: FencedBlock, commands: readonly ShCommand[]): string[] {
  return commands.filter((c) => !c.synopsis && skipsOf(b, c).length === 0 && (!RUNNABLE.test(c.text) || SERVES.test(c.text)))
    .map((c) => `README:${c.line} (${b.section}): \`${c.text}\` ${SERVES.test(c.text) ? 'serves until Ctrl-C'
      : 'runs a program this test does not run (it runs rdmagate, npx rdmagate and curl)'}: mark it skip with the reason`);
}

/** The block's skip markers that match `c`; a marker that matches none is reported by the inventory. */
const skipsOf = (b: FencedBlock, c: ShCommand) => b.skips.filter((s) => s.text !== undefined && c.text.includes(s.text));
const wholeSkip = (b: FencedBlock) => b.skips.find((s) => s.text === undefined);
const label = (b: FencedBlock) => `README:${b.line} (${b.section}) ${b.lang || 'no language'}`;

async function afterCheck(b: FencedBlock, a: (typeof AFTER)[number], f: Fixture): Promise<void> {
  try {
    await a.check(f);
  } catch (e) {
    throw new Error(`${label(b)}: after the block, ${a.what}: not so: ${(e as Error).message}`);
  }
}

describe('README.md runs as written', function () {
  this.timeout(60_000);
  const blocks = fencedBlocks(readFileSync(README, 'utf8'));
  const used = { outputs: new Set<string>(), after: new Set<string>() };

  it('has only sh and ts blocks, each run or marked with its reason, and no marker that matches nothing', () => {
    const problems: string[] = [];
    const notRun: string[] = [];
    for (const b of blocks) {
      const whole = wholeSkip(b);
      if (b.lang !== 'sh' && b.lang !== 'ts' && !whole) {
        problems.push(`${label(b)}: a block in no language this test runs: tag it sh or ts, or mark it skip with a reason`);
      }
      if (b.demo && b.lang !== 'sh') problems.push(`${label(b)}: only an sh block runs against the demo`);
      if (b.lang === 'sh' && !whole) problems.push(...unrunnable(b, shCommands(b)));
      for (const s of b.skips) {
        if (s.text === undefined) {
          notRun.push(`${label(b)}: not run${b.lang === 'ts' ? ' (type-checked only)' : ''}: ${s.reason}`);
        } else if (b.lang !== 'sh') {
          problems.push(`README:${s.line}: skip "${s.text}" applies to an sh block's commands, not to ${b.lang || 'no language'}`);
        } else {
          const hits = shCommands(b).filter((c) => c.text.includes(s.text!));
          if (hits.length === 0) problems.push(`README:${s.line}: skip "${s.text}" matches no command of the block at README:${b.line}`);
          for (const c of hits) notRun.push(`README:${c.line} (${b.section}) \`${c.text}\`: not run: ${s.reason}`);
        }
      }
    }
    assert.ok(blocks.some((b) => b.lang === 'sh' && !wholeSkip(b)) && blocks.some((b) => b.lang === 'ts' && !wholeSkip(b)),
      'the README has sh and ts blocks that run');
    assert.deepEqual(problems, []);
    // Said, not hidden: what the README shows that no test runs, and why.
    console.log(`      not run here, of what the README shows (${notRun.length}):\n${notRun.map((n) => `        ${n}`).join('\n')}`);
  });

  describe('sh blocks', () => {
    for (const block of blocks.filter((b) => b.lang === 'sh' && !wholeSkip(b))) {
      const commands = shCommands(block);
      it(`${label(block)}: ${commands.length} command(s)`, async () => {
        assert.deepEqual(unrunnable(block, commands), [], 'nothing of the block ran');
        let fixture: Fixture | undefined;
        try {
          for (const c of commands) {
            if (skipsOf(block, c).length > 0) continue;
            if (c.synopsis) {
              await checkSynopsis(c);
              continue;
            }
            fixture ??= await startFixture(block.demo);
            const command = substitute(c.text, fixture);
            const r = await sh(command, fixture.sock);
            assert.equal(r.code, 0, failure(c.line, command, r));
            for (const o of OUTPUTS.filter((o) => c.text.includes(o.command))) {
              used.outputs.add(o.command);
              assert.match(r.stdout, o.stdout, `README:${c.line}: \`${command}\` printed:\n${r.stdout}`);
            }
          }
          for (const a of AFTER.filter((a) => block.body.includes(a.block))) {
            used.after.add(a.block);
            assert.ok(fixture, `${label(block)}: ran nothing to check`);
            await afterCheck(block, a, fixture);
          }
        } finally {
          if (fixture) await closeFixture(fixture);
        }
      });
    }
  });

  describe('ts blocks', () => {
    const tsBlocks = blocks.filter((b) => b.lang === 'ts');
    let dir: string;
    const snippets = new Map<FencedBlock, Snippet>();

    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'rdmagate-readme-ts-'));
      for (const b of tsBlocks) snippets.set(b, snippetModule(b.body, b.line + 1, join(dir, `readme-${b.line}.ts`), ENTRY));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('type-check against the package\'s declarations, with the project\'s compiler options', () => {
      const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), (p) => ts.sys.readFile(p));
      assert.equal(config.error, undefined, 'tsconfig.json reads');
      const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
      // Examples may leave a value unused; mocha's globals are not theirs; they live outside rootDir.
      const { rootDir: _rootDir, outDir: _outDir, ...checked } = options;
      const errors = typeErrors([...snippets.values()], { ...checked, noUnusedLocals: false, noUnusedParameters: false,
        types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')], declaration: false, sourceMap: false });
      assert.deepEqual(errors, []);
    });

    for (const block of tsBlocks.filter((b) => !wholeSkip(b))) {
      it(`${label(block)}: runs`, async () => {
        const snippet = snippets.get(block)!;
        const fixture = await startFixture(false);
        try {
          const js = join(dir, `readme-${block.line}.js`);
          writeFileSync(js, runnableJs({ ...snippet, source: substitute(snippet.source, fixture) }));
          const r = await run(process.execPath, [js], {});
          assert.equal(r.code, 0, failure(block.line, `node ${js}`, r));
          for (const a of AFTER.filter((a) => block.body.includes(a.block))) {
            used.after.add(a.block);
            await afterCheck(block, a, fixture);
          }
        } finally {
          await closeFixture(fixture);
        }
      });
    }
  });

  // A suite of its own: mocha runs a suite's tests before its child suites.
  describe('its own checks', () => {
    it('met every output and after-block check with a command or block of the README', () => {
      assert.deepEqual(OUTPUTS.map((o) => o.command).filter((c) => !used.outputs.has(c)), [], 'output checks that matched no command run');
      assert.deepEqual(AFTER.map((a) => a.block).filter((b) => !used.after.has(b)), [], 'after-block checks that matched no block run');
    });
  });
});
