/**
 * The batch-normalisation composite (src/onnx/composite/batchNorm.ts): gradients in training and
 * eval mode against central differences (op-test harness, float32), declarations and names in a
 * scope, and the recorded running-statistics updates against torch's formulas in float64.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tensor } from '../../src/onnx/constant.js';
import { batchNorm, batchNormApply } from '../../src/onnx/composite/batchNorm.js';
import { ShapeError } from '../../src/onnx/errors.js';
import { Graph, type Value } from '../../src/onnx/ir.js';
import { mul } from '../../src/onnx/ops/Mul.js';
import { writeModel } from '../../src/onnx/serialize.js';
import { Session } from '../../src/runtime/session.js';
import { type OpCase, checkCase, sample } from './gradcheck.js';
import { uniformStream } from '../../src/data/rng.js';

const bnEval = ({ x, w, b, rm, rv }: Readonly<Record<string, Value>>): Value =>
  batchNormApply(x!, { weight: w!, bias: b!, runningMean: rm!, runningVar: rv! }, { training: false }).y;

/** Training mode reads no running statistics (only its updates do), so they are constants here. */
const bnTrain = ({ x, w, b }: Readonly<Record<string, Value>>): Value => {
  const c = x!.shape[1]!;
  const stat = (v: number): Value => tensor(x!.graph, new Array<number>(c).fill(v), [c]);
  return batchNormApply(x!, { weight: w!, bias: b!, runningMean: stat(0.5), runningVar: stat(2) }, { training: true }).y;
};

const CASES: readonly OpCase[] = [
  {
    op: 'batchNorm',
    name: 'training, NCHW [3,2,2,3]',
    inputs: { x: { shape: [3, 2, 2, 3] }, w: { shape: [2], domain: 'positive' }, b: { shape: [2] } },
    build: bnTrain,
  },
  {
    op: 'batchNorm',
    name: 'training, (N, C) [5,3]',
    inputs: { x: { shape: [5, 3] }, w: { shape: [3] }, b: { shape: [3] } },
    build: bnTrain,
  },
  {
    op: 'batchNorm',
    name: 'eval, NCHW [2,3,2,2], gradients for the running statistics too',
    inputs: { x: { shape: [2, 3, 2, 2] }, w: { shape: [3] }, b: { shape: [3] }, rm: { shape: [3] }, rv: { shape: [3], domain: 'positive' } },
    build: bnEval,
  },
];

for (const c of CASES) {
  test(`gradient: ${c.name}`, async () => {
    const r = await checkCase(c);
    const tol = c.tol ?? 5e-3;
    console.log(`    ${r.case}: ${Object.entries(r.errors).map(([k, e]) => `${k} ${e.toExponential(2)}`).join(', ')}`);
    for (const [input, err] of Object.entries(r.errors)) assert.ok(err <= tol, `${r.case}: gradient of '${input}' off by ${err.toExponential(2)} (tolerance ${tol})`);
  });
}

test('declares weight/bias (no_decay) and running stats in the current scope; training records updates', () => {
  const g = new Graph('bn names');
  const x = g.input('x', 'float32', [4, 3, 2, 2]);
  g.scope('layer1', () => g.scope(0, () => g.scope('bn1', () => batchNorm(x, { training: true }))));
  const declared = g.inputs.filter((i) => i.role !== 'data').map((i) => [i.value.name, i.role, i.group ?? '-', i.init]);
  assert.equal(declared, [
    ['layer1.0.bn1.weight', 'param', 'no_decay', { kind: 'constant', value: 1 }],
    ['layer1.0.bn1.bias', 'param', 'no_decay', { kind: 'constant', value: 0 }],
    ['layer1.0.bn1.running_mean', 'buffer', '-', { kind: 'constant', value: 0 }],
    ['layer1.0.bn1.running_var', 'buffer', '-', { kind: 'constant', value: 1 }],
  ]);
  assert.equal(g.bufferUpdates.map((u) => u.buffer.name), ['layer1.0.bn1.running_mean', 'layer1.0.bn1.running_var']);
  g.outputBufferUpdates();
  assert.equal(g.outputs.map((o) => o.name), ['next.layer1.0.bn1.running_mean', 'next.layer1.0.bn1.running_var']);

  const e = new Graph('bn eval');
  e.scope('bn1', () => batchNorm(e.input('x', 'float32', [2, 3]), { training: false }));
  assert.equal(e.bufferUpdates.length, 0, 'eval mode records no updates');
});

test('updateBuffer refuses non-buffers and mismatched shapes; a second update supersedes the first', () => {
  const g = new Graph('updates');
  const p = g.param('w', [3], { kind: 'constant', value: 0 });
  const b = g.buffer('running_mean', [3], { kind: 'constant', value: 0 });
  const b2 = g.buffer('running_var', [3], { kind: 'constant', value: 1 });
  const other = g.input('x', 'float32', [2]);
  assert.throws(() => g.updateBuffer(p, p), /not a buffer input/);
  assert.throws(() => g.updateBuffer(b, other), /differs in shape or dtype/);
  assert.is(g.bufferValue(b), b);
  g.updateBuffer(b, p);
  g.updateBuffer(b2, p);
  const chained = mul(g.bufferValue(b), 2);
  g.updateBuffer(b, chained);
  assert.equal(g.bufferUpdates.map((u) => [u.buffer.name, u.next]), [['running_mean', chained], ['running_var', p]]);
});

test('shape errors name the scope', () => {
  const g = new Graph('bn errors');
  assert.throws(() => g.scope('bn1', () => batchNorm(g.input('x3', 'float32', [2, 3, 4]), { training: true })), (e: Error) => e instanceof ShapeError && /scope 'bn1'/.test(e.message));
  assert.throws(() => g.scope('bn2', () => batchNorm(g.input('x1', 'float32', [1, 3]), { training: true })), /more than one value per channel/);
});

test('training forward and running-statistics updates match torch formulas (float64 reference)', async () => {
  const [n, c, h, w] = [4, 3, 3, 2];
  const g = new Graph('bn values');
  const x = g.input('x', 'float32', [n, c, h, w]);
  const y = g.scope('bn', () => batchNorm(x, { training: true }));
  g.output('y', y);
  g.outputBufferUpdates();
  const session = await Session.create(writeModel(g).model, {}, g.name);
  const random = uniformStream(3);
  const feeds = {
    x: sample({ shape: [n, c, h, w] }, random) as Float32Array,
    'bn.weight': sample({ shape: [c], domain: 'positive' }, random) as Float32Array,
    'bn.bias': sample({ shape: [c] }, random) as Float32Array,
    'bn.running_mean': sample({ shape: [c] }, random) as Float32Array,
    'bn.running_var': sample({ shape: [c], domain: 'positive' }, random) as Float32Array,
  };
  const out = await session.run(feeds);
  await session.release();
  const m = h * w * n;
  for (let k = 0; k < c; k++) {
    const vals: number[] = [];
    for (let b = 0; b < n; b++) for (let i = 0; i < h * w; i++) vals.push(feeds.x[(b * c + k) * h * w + i]!);
    const mean = vals.reduce((a, v) => a + v, 0) / m;
    const biased = vals.reduce((a, v) => a + (v - mean) ** 2, 0) / m;
    const wantMean = 0.9 * feeds['bn.running_mean'][k]! + 0.1 * mean;
    const wantVar = 0.9 * feeds['bn.running_var'][k]! + 0.1 * biased * (m / (m - 1));
    assert.ok(Math.abs((out['next.bn.running_mean']!.data as Float32Array)[k]! - wantMean) < 1e-6, `running_mean[${k}]`);
    assert.ok(Math.abs((out['next.bn.running_var']!.data as Float32Array)[k]! - wantVar) < 1e-6, `running_var[${k}] (unbiased batch variance)`);
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < h * w; i++) {
        const at = (b * c + k) * h * w + i;
        const want = ((feeds.x[at]! - mean) / Math.sqrt(biased + 1e-5)) * feeds['bn.weight'][k]! + feeds['bn.bias'][k]!;
        assert.ok(Math.abs((out['y']!.data as Float32Array)[at]! - want) < 1e-5, `y[${at}]`);
      }
    }
  }
});

test.run();
