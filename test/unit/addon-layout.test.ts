/**
 * The layouts and values lib/ and native/ each keep (lib/native/layout.ts, the addon's
 * `layout`): the loaded addon has lib/'s, the modules use them, and checkLayout, which
 * lib/native runs at load, fails a stale addon by name (ERR_ADDON_MISMATCH).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { RdmagateError } from '../../lib/errors';
import { native } from '../../lib/native';
import {
  checkLayout, HISTOGRAM_BUCKETS, HISTOGRAM_SUB_BITS, HOST_STATUS, LAYOUT, SUBMISSION_WORDS, TARGET_LATENCY_BUCKETS,
  type NativeLayout,
} from '../../lib/native/layout';
import { Target } from '../../lib/nvmf/target';
import { errorFromStatus } from '../../lib/nvmf/host/status';
import { SubmissionBatch, type BatchedCommand } from '../../lib/nvmf/host/submission-batch';
import { BUCKETS, bucketOf, LatencyHistogram, SUB_BITS } from '../../lib/perf/histogram';
import type { NativeNvmeController } from '../../lib/native';

/** dist/lib: this file runs as dist/test/unit/addon-layout.test.js. */
const LIB = resolve(__dirname, '../../lib');

const KEYS = Object.keys(LAYOUT) as (keyof NativeLayout)[];

/** How a value may be written in the message: decimal, or hex for the status words. */
const written = (v: number) => [String(v), `0x${v.toString(16)}`];

/** An assert.throws check: ERR_ADDON_MISMATCH, naming each of `names`, saying what to do. */
function mismatch(...names: string[]): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof RdmagateError, String(e));
    assert.equal(e.code, 'ERR_ADDON_MISMATCH');
    for (const name of names) assert.ok(e.message.includes(name), `names ${name}: ${e.message}`);
    assert.match(e.message, /stale/);
    assert.ok(e.message.includes('npm run build:native'), e.message);
    return true;
  };
}

describe('the addon\'s layout and lib/native/layout.ts', () => {
  it('the loaded addon has lib/\'s values, each of them', () => {
    assert.deepEqual(Object.keys(native.layout).sort(), [...KEYS].sort());
    for (const key of KEYS) assert.equal(native.layout[key], LAYOUT[key], key);
    assert.doesNotThrow(() => checkLayout(native.layout));
  });

  it('LAYOUT holds the constants it is made of', () => {
    assert.deepEqual({ ...LAYOUT }, {
      submissionWords: SUBMISSION_WORDS,
      hostStatusTimeout: HOST_STATUS.timeout,
      hostStatusDisconnected: HOST_STATUS.disconnected,
      hostStatusTransport: HOST_STATUS.transport,
      hostStatusAuth: HOST_STATUS.auth,
      histogramSubBits: HISTOGRAM_SUB_BITS,
      histogramBuckets: HISTOGRAM_BUCKETS,
      targetLatencyBuckets: TARGET_LATENCY_BUCKETS,
    });
    assert.ok(Object.isFrozen(LAYOUT));
  });

  describe('the modules use them', () => {
    it('SUBMISSION_WORDS: the submission batch\'s words per entry', () => {
      let words: Uint32Array = new Uint32Array(0);
      const handle = {
        setSubmissionBuffer(w: Uint32Array) { words = w; },
        submitBatch() {},
      } as unknown as NativeNvmeController;
      const batch = new SubmissionBatch<BatchedCommand>(handle, () => {}, 4);
      assert.equal(words.length, 4 * SUBMISSION_WORDS);
      const command = (queue: number, opId: number): BatchedCommand =>
        ({ queue, opcode: 2, nsid: 1, lba: 8, blocks: 1, poolId: 0, chunk: 0, offset: 0, length: 512, opId });
      batch.add(command(7, 0xabc));
      batch.add(command(9, 0xdef));
      // The first entry's last word is its opId; the second entry starts SUBMISSION_WORDS in.
      assert.equal(words[SUBMISSION_WORDS - 1], 0xabc);
      assert.equal(words[SUBMISSION_WORDS], 9);
      assert.equal(words[2 * SUBMISSION_WORDS - 1], 0xdef);
      batch.flush();
    });

    it('HOST_STATUS: the status words lib/nvmf/host/status.ts turns into errors', () => {
      assert.equal(errorFromStatus(HOST_STATUS.timeout, 'Read').code, 'ERR_NVME_TIMEOUT');
      assert.equal(errorFromStatus(HOST_STATUS.disconnected, 'Read').code, 'ERR_NVME_DISCONNECTED');
      assert.equal(errorFromStatus(HOST_STATUS.transport, 'Read').code, 'ERR_NVME_TRANSPORT');
      assert.equal(errorFromStatus(0x0002, 'Read').code, 'ERR_NVME_STATUS');
    });

    it('HISTOGRAM_SUB_BITS and HISTOGRAM_BUCKETS: lib/perf/histogram.ts\'s', () => {
      assert.equal(SUB_BITS, HISTOGRAM_SUB_BITS);
      assert.equal(BUCKETS, HISTOGRAM_BUCKETS);
      assert.equal(new LatencyHistogram().counts.length, HISTOGRAM_BUCKETS);
      assert.ok(bucketOf(Number.MAX_SAFE_INTEGER) < HISTOGRAM_BUCKETS);
    });

    it('TARGET_LATENCY_BUCKETS: the length of the target\'s latencyBuckets', () => {
      const target = new Target({ reactors: 1 });
      try {
        target.createBdev({ type: 'malloc', name: 'M', sizeBytes: 1 << 20 });
        target.addSubsystem({ nqn: 'nqn.2026-12.io.rdmagate:layout' }).addNamespace({ bdev: 'M', nsid: 1 });
        const stats = target.namespaceStats();
        assert.equal(stats.length, 1);
        assert.equal(stats[0].latencyBuckets.length, TARGET_LATENCY_BUCKETS);
      } finally {
        target.closeSync();
      }
    });
  });

  describe('checkLayout', () => {
    it('passes an equal layout, and one with more than lib/ knows', () => {
      assert.doesNotThrow(() => checkLayout({ ...LAYOUT }));
      assert.doesNotThrow(() => checkLayout({ ...LAYOUT, somethingNewer: 1 } as NativeLayout));
      assert.doesNotThrow(() => checkLayout({ ...LAYOUT, submissionWords: 3 }, { ...LAYOUT, submissionWords: 3 }));
    });

    for (const key of KEYS) {
      it(`fails a layout whose ${key} differs, naming it with both values`, () => {
        const changed = { ...LAYOUT, [key]: LAYOUT[key] + 1 };
        assert.throws(() => checkLayout(changed), (e: unknown) => {
          mismatch(key)(e);
          const message = (e as Error).message;
          assert.ok(written(LAYOUT[key] + 1).some((v) => message.includes(v)), `the addon's value: ${message}`);
          assert.ok(written(LAYOUT[key]).some((v) => message.includes(v)), `lib/'s value: ${message}`);
          // Only what differs is named.
          for (const other of KEYS) if (other !== key) assert.ok(!message.includes(`${other}:`), `not ${other}: ${message}`);
          return true;
        });
      });
    }

    it('names each constant that differs', () => {
      const changed = { ...LAYOUT, submissionWords: 12, targetLatencyBuckets: 32 };
      assert.throws(() => checkLayout(changed), mismatch('submissionWords', 'targetLatencyBuckets', '12', '32'));
    });

    it('fails an addon with no layout, or one without a value lib/ expects', () => {
      assert.throws(() => checkLayout(undefined), mismatch('no layout'));
      const { histogramBuckets: _, ...partial } = LAYOUT;
      assert.throws(() => checkLayout(partial), mismatch('histogramBuckets', 'missing'));
    });
  });

  it('lib/native refuses, at load, an addon whose layout differs', function () {
    this.timeout(30000);
    // A fresh process, with process.dlopen (what require() of a .node file calls) wrapped to
    // change the addon's layout as it loads.
    const script = `
      const dlopen = process.dlopen;
      process.dlopen = function (module, file, ...rest) {
        const r = dlopen.call(this, module, file, ...rest);
        if (file.endsWith('rdmagate.node')) module.exports.layout = { ...module.exports.layout, hostStatusTransport: 0x10004 };
        return r;
      };
      try {
        require(${JSON.stringify(`${LIB}/native`)});
        console.log('loaded');
      } catch (e) {
        console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message }));
      }`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 0, r.stderr);
    const e = JSON.parse(r.stdout.trim()) as { name: string; code: string; message: string };
    assert.equal(e.name, 'RdmagateError');
    assert.equal(e.code, 'ERR_ADDON_MISMATCH');
    assert.match(e.message, /hostStatusTransport: the addon has 0x10004, lib\/ 0x10003/);
    assert.match(e.message, /: it is stale; rebuild it \(`npm run build:native`\)$/);
  });
});
