import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { PairBatch } from '../../src/data/batch.js';
import { type LoaderOptions, PairLoader } from '../../src/data/loader.js';
import { DEFAULT_PAIR_OPTIONS, type PairOptions } from '../../src/data/pairs.js';
import { parseDataArg } from '../../src/data/sources.js';

const pair: PairOptions = { ...DEFAULT_PAIR_OPTIONS, imageSize: 32, featureH: 4, featureW: 4, roiSize: 3 };
const synthetic = { kind: 'synthetic', count: 24, seed: 1, width: 96, height: 64 } as const;
const quiet = { warn: () => undefined };

async function batches(opts: Partial<LoaderOptions>, n: number): Promise<PairBatch[]> {
  const loader = new PairLoader({ data: synthetic, pair, batchSize: 4, seed: 7, logger: quiet, ...opts });
  try {
    const out: PairBatch[] = [];
    for (let k = 0; k < n; k++) {
      const got = await loader.next();
      assert.is(got.step, (opts.startStep ?? 0) + k);
      assert.ok(got.waitMs >= 0);
      out.push(got.batch);
    }
    return out;
  } finally {
    await loader.close();
  }
}

const FIELDS = ['view1', 'view2', 'boxes1', 'boxes2', 'flip1', 'flip2', 'iou', 'denseWeight', 'tries', 'offset12', 'roiPos1', 'roiPos2', 'sourceIndex', 'mask1', 'mask2'] as const;
const bytes = (a: ArrayBufferView): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const same = (a: PairBatch, b: PairBatch): boolean => FIELDS.every((f) => bytes(a[f]!).equals(bytes(b[f]!)));

test('same (seed, step): bit-identical batches in-process and with 2 workers; resuming mid-run too', async () => {
  const inProcess = await batches({ workers: 0 }, 4);
  const workers = await batches({ workers: 2, prefetch: 3 }, 4);
  for (let k = 0; k < 4; k++) assert.ok(same(inProcess[k]!, workers[k]!), `batch ${k} differs between 0 and 2 workers`);
  assert.not.ok(same(inProcess[0]!, inProcess[1]!), 'different steps must differ');
  assert.not.equal([...inProcess[0]!.boxes1], [...inProcess[1]!.boxes1]);
  const resumed = await batches({ workers: 1, startStep: 2 }, 2);
  assert.ok(same(resumed[0]!, inProcess[2]!) && same(resumed[1]!, inProcess[3]!));
  const otherSeed = new PairLoader({ data: synthetic, pair, batchSize: 4, seed: 8, workers: 0 });
  assert.not.ok(same((await otherSeed.next()).batch, inProcess[0]!));
  await otherSeed.close();
  assert.ok(inProcess[0]!.mask1 && inProcess[0]!.mask1.length === 4 * 32 * 32);
});

let dir = '';
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'multisiam-loader-'));
});
test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a folder with bad files: workers use the good ones, each bad file is named once and counted', async () => {
  const d = join(dir, 'mixed');
  await mkdir(d, { recursive: true });
  await sharp(Buffer.alloc(1 * 1 * 3, 200), { raw: { width: 1, height: 1, channels: 3 } }).png().toFile(join(d, 'a-tiny.png'));
  await sharp(Buffer.alloc(2 * 3, 90), { raw: { width: 2, height: 3, channels: 1 } }).png().toFile(join(d, 'b-grey.png'));
  await sharp({ create: { width: 9, height: 7, channels: 4, background: { r: 10, g: 200, b: 30, alpha: 0.3 } } }).png().toFile(join(d, 'c-rgba.png'));
  await sharp(Buffer.alloc(5 * 4 * 3 * 2, 0x40), { raw: { width: 5, height: 4, channels: 3 } }).toColourspace('rgb16').png().toFile(join(d, 'd-deep.png'));
  await writeFile(join(d, 'e-corrupt.jpg'), Buffer.from('not a jpeg'));
  const jpeg = await sharp(Buffer.from(Array.from({ length: 48 * 48 * 3 }, (_, i) => (i * 31) % 256)), { raw: { width: 48, height: 48, channels: 3 } }).jpeg().toBuffer();
  await writeFile(join(d, 'f-cut.jpg'), jpeg.subarray(0, jpeg.length >> 1));
  const warnings: string[] = [];
  const loader = new PairLoader({ data: await parseDataArg(d), pair, batchSize: 6, seed: 1, workers: 2, logger: { warn: (m) => warnings.push(m) } });
  try {
    for (let k = 0; k < 4; k++) {
      const { batch } = await loader.next();
      assert.ok([...batch.sourceIndex].every((i) => i < 4), `bad files used: ${[...batch.sourceIndex]}`);
      assert.ok(batch.view1.every(Number.isFinite) && batch.view2.every(Number.isFinite));
    }
  } finally {
    await loader.close();
  }
  assert.is(loader.skipped, 2);
  assert.is(warnings.length, 2, warnings.join('\n'));
  assert.ok(warnings.some((w) => w.includes('e-corrupt.jpg')) && warnings.some((w) => w.includes('f-cut.jpg')));
});

test('a worker error surfaces in next() with the file name, and close() still works', async () => {
  const d = join(dir, 'allbad');
  await mkdir(d, { recursive: true });
  await writeFile(join(d, 'only.png'), Buffer.from('garbage'));
  for (const workers of [0, 1]) {
    const loader = new PairLoader({ data: await parseDataArg(d), pair, batchSize: 2, seed: 1, workers, logger: quiet });
    await loader.next().then(() => assert.unreachable(), (e: Error) => {
      assert.match(e.message, /pair \d of batch 0 \(image only\.png of .*allbad\)/);
      assert.match(e.message, /could be decoded/);
    });
    await loader.close();
    await loader.next().then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /after close/));
  }
});

test('bad loader options are named', () => {
  assert.throws(() => new PairLoader({ data: synthetic, pair, batchSize: 0, seed: 1 }), /batch size 0/);
  assert.throws(() => new PairLoader({ data: synthetic, pair, batchSize: 2, seed: 1, workers: -1 }), /workers -1/);
  assert.throws(() => new PairLoader({ data: synthetic, pair: { ...pair, imageSize: 0 }, batchSize: 2, seed: 1, workers: 0 }), /imageSize/);
});

test.run();
