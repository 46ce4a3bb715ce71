/**
 * A process of ours that dies of a fatal signal says why on stderr, with a native
 * backtrace (issue 18 item 12), and still dies of that signal (so a core dump is written
 * where allowed); WebAssembly's own traps, which V8 takes as SIGSEGVs, still work.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const LIB = join(__dirname, '..', '..', 'lib');

function run(script: string): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string } {
  // No core files from these deaths, whatever the machine allows.
  const r = spawnSync('bash', ['-c', 'ulimit -c 0 && exec "$0" -e "$1"', process.execPath, `require(${JSON.stringify(LIB)});\n${script}`],
    { encoding: 'utf8' });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('fatal signals', function () {
  this.timeout(20000);

  it('a SIGSEGV is reported with its thread and a native backtrace, and ends the process as SIGSEGV does', () => {
    const r = run("process.kill(process.pid, 'SIGSEGV');");
    assert.equal(r.signal, 'SIGSEGV');
    assert.match(r.stderr, /^rdmagate: fatal signal SIGSEGV in thread 'node'; native backtrace:$/m);
    const frames = r.stderr.split('\n').filter((l) => /\[0x[0-9a-f]+\]$/.test(l));
    assert.ok(frames.length >= 3, `backtrace frames:\n${r.stderr}`);
  });

  it('an abort is reported too', () => {
    const r = run('process.abort();');
    assert.equal(r.signal, 'SIGABRT');
    assert.match(r.stderr, /rdmagate: fatal signal SIGABRT/);
  });

  it('a WebAssembly out-of-bounds load is still a RuntimeError, not a crash', () => {
    // (module (memory 1) (func (export "f") (param i32) (result i32) local.get 0 i32.load))
    const wasm = '0061736d0100000001060160017f017f030201000503010001070501016600000a09010700200028020' + '00b';
    const r = run(`const m = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from('${wasm}', 'hex')));
      try { m.exports.f(0x7ffffff0); } catch (e) { console.log(e.constructor.name); }`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'RuntimeError');
    assert.doesNotMatch(r.stderr, /fatal signal/);
  });
});
