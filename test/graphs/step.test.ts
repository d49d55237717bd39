/**
 * The pieces a train step appends after the optimizer update, run through ONNX Runtime: the target
 * network's update by name, the finiteness flag, the in-graph queue update, and the uint8 views'
 * normalisation.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../src/methods/index.js';
import { NAMES, declareViews } from '../../src/graphs/io.js';
import { assembleTrainStep } from '../../src/graphs/optimizers.js';
import { declareQueue, enqueue } from '../../src/graphs/queue.js';
import { appendFiniteCheck, appendTargetUpdate } from '../../src/graphs/step.js';
import { Graph } from '../../src/onnx/ir.js';
import { mul, reduceSum } from '../../src/onnx/ops/index.js';
import { writeModel } from '../../src/onnx/serialize.js';
import { Session } from '../../src/runtime/session.js';

/** loss = Σ w·x over a parameter `w` and a predictor-only parameter `head.v`; `w` has a target copy. */
function stepGraph(): Graph {
  const g = new Graph('step');
  const x = g.input('x', 'float32', [3]);
  const w = g.param('w', [3], { kind: 'constant', value: 1 });
  const v = g.scope('head', () => g.param('v', [3], { kind: 'constant', value: 1 }));
  assembleTrainStep(g, reduceSum(mul(mul(w, v), x)), { kind: 'sgd', momentum: 0.9 });
  appendTargetUpdate(g, ['head.']);
  appendFiniteCheck(g);
  return g;
}

test('target ← τ·target + (1 − τ)·updated online, by name, only for tensors the target has; finite flags NaN', async () => {
  const g = stepGraph();
  assert.equal(g.inputsWithRole('target').map((v) => v.name), ['target.w']);
  const s = await Session.create(writeModel(g).model, {}, 'step');
  const feeds = { x: Float32Array.of(1, 2, 3), w: Float32Array.of(1, 1, 1), 'head.v': Float32Array.of(2, 2, 2), 'momentum.w': new Float32Array(3), 'momentum.head.v': new Float32Array(3), lr: Float32Array.of(0.5), weight_decay: Float32Array.of(0), target_momentum: Float32Array.of(0.75), 'target.w': Float32Array.of(4, 4, 4) };
  const out = await s.run(feeds);
  // w' = w − 0.5·(v·x) = 1 − [1, 2, 3]; target' = 0.75·4 + 0.25·w'.
  assert.equal(Array.from(out[NAMES.next('w')]!.data as Float32Array), [0, -1, -2]);
  assert.equal(Array.from(out[NAMES.next('target.w')]!.data as Float32Array), [3, 2.75, 2.5]);
  assert.is(out[NAMES.next('target.head.v')], undefined);
  assert.is((out[NAMES.finite]!.data as Float32Array)[0], 1);
  const bad = await s.run({ ...feeds, x: Float32Array.of(1, NaN, 3) });
  assert.is((bad[NAMES.finite]!.data as Float32Array)[0], 0);
  const huge = await s.run({ ...feeds, lr: Float32Array.of(3e38), x: Float32Array.of(3e38, 0, 0) });
  assert.is((huge[NAMES.finite]!.data as Float32Array)[0], 0, 'an overflow to infinity is caught too');
  await s.release();
});

test('enqueue writes L2-normalised keys into the given rows and leaves the others', async () => {
  const g = new Graph('queue');
  const q = declareQueue(g, 'queue_global', 4, 2);
  enqueue(q, g.input('keys', 'float32', [2, 2]));
  g.outputBufferUpdates();
  const s = await Session.create(writeModel(g).model, {}, 'queue');
  const out = await s.run({ queue_global: Float32Array.of(1, 0, 0, 1, 1, 0, 0, 1), keys: Float32Array.of(3, 4, 0, -2), 'queue_global.rows': BigInt64Array.of(3n, 0n) });
  assert.equal(Array.from(out[NAMES.next('queue_global')]!.data as Float32Array).map((v) => Math.round(v * 1e6) / 1e6), [0, -1, 0, 1, 1, 0, 0.6, 0.8]);
  await s.release();
});

test('uint8 views are normalised in the graph with the configured mean and std', async () => {
  const cfg = resolveConfig({ preset: 'tiny', sets: ['train.batch_size=2', 'data.image_size=32', 'backbone.output_stride=16'] });
  const g = new Graph('views');
  const views = declareViews(g, cfg);
  g.output('image', views[1].image);
  const s = await Session.create(writeModel(g).model, {}, 'views');
  const raw = new Uint8Array(2 * 3 * 32 * 32).map((_, i) => i % 256);
  const out = (await s.run({ view1: raw }))['image']!.data as Float32Array;
  const n = 32 * 32;
  for (const i of [0, 5, n + 7, 2 * n + 9, 3 * n + 1]) {
    const c = Math.floor(i / n) % 3;
    const want = (raw[i]! / 255 - cfg.data.mean[c]!) / cfg.data.std[c]!;
    assert.ok(Math.abs(out[i]! - want) < 1e-5, `pixel ${i}: ${out[i]} vs ${want}`);
  }
  await s.release();
});

test.run();
