import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Box, writeOffsetMap, writeRoiPositions } from '../../src/data/alignment.js';
import type { ViewOps } from '../../src/data/augment.js';
import { EpochOrder, assembleBatch, iouPassRate } from '../../src/data/batch.js';
import { DEFAULT_PAIR_OPTIONS, type Pair, type PairOptions, makePair, pairRng } from '../../src/data/pairs.js';
import { drawScene } from '../../src/data/synthetic.js';

const o: PairOptions = { ...DEFAULT_PAIR_OPTIONS, imageSize: 32, featureH: 4, featureW: 4, roiSize: 3 };

test('assembleBatch packs pairs in slot order with their alignment inputs and masks', () => {
  const scene = drawScene(0, 3, { width: 96, height: 64 });
  const pairs = [0, 1, 2].map((s) => makePair(scene, 3, pairRng(5, 7, s), o));
  const b = assembleBatch(pairs, o);
  assert.is(b.size, 3);
  assert.is(b.view1.length, 3 * 3 * 32 * 32);
  const p = pairs[2]!;
  assert.ok(b.view2.subarray(2 * 3 * 32 * 32).every((v, i) => v === p.view2[i]));
  assert.equal([...b.boxes1.subarray(8, 12)], [...new Float32Array(p.box1)]);
  assert.is(b.flip2[2], p.flip2 ? 1 : 0);
  assert.is(b.denseWeight[2], p.dense ? 1 : 0);
  assert.is(b.sourceIndex[2], 3);
  const off = new Float32Array(2 * 16);
  writeOffsetMap(p.box1, p.box2, 4, 4, off, 0);
  assert.equal([...b.offset12.subarray(2 * 32, 3 * 32)], [...off]);
  assert.ok(b.mask1 && b.mask2 && b.mask1.length === 3 * 32 * 32);
  assert.ok(b.mask1.subarray(2 * 1024).every((v, i) => v === p.mask1![i]));
  assert.ok(new Set(b.mask1).size >= 3, 'masks carry several classes');
});

test('boxes that do not meet: each view resamples its own full box', () => {
  const ops: ViewOps = { flip: false, jitter: null, grayscale: false, blurSigma: null, solarize: null };
  const a: Box = [0, 0, 0.4, 0.5];
  const c: Box = [0.6, 0.5, 1, 1];
  const pair: Pair = {
    box1: a, box2: c, iou: 0, dense: false, tries: 20, index: 0, flip1: false, flip2: true, ops: [ops, { ...ops, flip: true }],
    view1: new Uint8Array(3 * 32 * 32), view2: new Uint8Array(3 * 32 * 32),
  };
  const b = assembleBatch([pair], o);
  const own = new Float32Array(2 * 9);
  writeRoiPositions(c, c, 4, 4, 3, own, 0);
  assert.equal([...b.roiPos2], [...own]);
  assert.is(iouPassRate(b), 0);
  assert.is(b.mask1, undefined);
});

test('EpochOrder visits every image once per epoch, in a fresh seeded order', () => {
  const a = new EpochOrder(10, 3);
  const e0 = Array.from({ length: 10 }, (_, i) => a.indexAt(i));
  const e1 = Array.from({ length: 10 }, (_, i) => a.indexAt(10 + i));
  assert.equal([...e0].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal([...e1].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.not.equal(e0, e1);
  // A fresh instance (a resumed run) jumping straight to epoch 1 sees the same order.
  assert.is(new EpochOrder(10, 3).indexAt(13), e1[3]);
  assert.not.equal(Array.from({ length: 10 }, (_, i) => new EpochOrder(10, 4).indexAt(i)), e0);
  assert.throws(() => new EpochOrder(0, 1), /need at least one image/);
});

test.run();
