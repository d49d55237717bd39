/**
 * Foundation proof 2: a small CNN trained by our train-step graph (autodiff backward + in-graph SGD
 * with momentum, BN running statistics carried as state) learns a synthetic task: which quadrant of
 * a noisy 16×16 image (noise σ 0.5) holds a 3×3 blob of +1. Deterministic seed; the mean loss of the last 5 of 40
 * steps must be at most half that of the first 5.
 *
 * Runs on the CPU; MULTISIAM_TEST_EP=webgpu (or cuda, auto) runs the same loop there, with every
 * output kept on the GPU where the provider allows it (parameters and state never leave the device).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assembleTrainStep } from '../../src/graphs/optimizers.js';
import { batchNorm } from '../../src/onnx/composite/batchNorm.js';
import { logSoftmax } from '../../src/onnx/composite/math.js';
import { Graph } from '../../src/onnx/ir.js';
import { conv, flatten, maxPool, mul, neg, reduceMean, reduceSum, relu } from '../../src/onnx/ops/index.js';
import { writeModel } from '../../src/onnx/serialize.js';
import type { ExecutionProvider } from '../../src/runtime/providers.js';
import { TensorStore, liveGpuTensors } from '../../src/runtime/residency.js';
import { Session } from '../../src/runtime/session.js';
import { initInputs, linear, normal } from './model.js';
import { uniformStream } from '../../src/data/rng.js';

const B = 16;
const S = 16;
const STEPS = 40;

function quadrantNet(): Graph {
  const g = new Graph('quadrants');
  const x = g.input('x', 'float32', [B, 1, S, S]);
  const y = g.input('y', 'float32', [B, 4]); // one-hot labels
  let h = g.scope('conv1', () => conv(x, g.param('weight', [8, 1, 3, 3], { kind: 'normal', std: Math.sqrt(2 / 9) }), undefined, { pads: 1 }));
  h = maxPool(relu(g.scope('bn1', () => batchNorm(h, { training: true }))), { kernel: 2, strides: 2 });
  h = g.scope('conv2', () => {
    const bound = 1 / Math.sqrt(72);
    return conv(h, g.param('weight', [8, 8, 3, 3], { kind: 'uniform', bound }), g.param('bias', [8], { kind: 'uniform', bound }, 'no_decay'), { strides: 2, pads: 1 });
  });
  const logits = linear(g, flatten(relu(h), 1), 'fc', 4);
  // Cross-entropy: −mean over the batch of Σ_classes y·log softmax(logits).
  const loss = neg(reduceMean(reduceSum(mul(y, logSoftmax(logits, 1)), [1])));
  assembleTrainStep(g, loss, { kind: 'sgd', momentum: 0.9 });
  return g;
}

function batch(r: () => number): { x: Float32Array; y: Float32Array } {
  const x = new Float32Array(B * S * S);
  const y = new Float32Array(B * 4);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < S * S; i++) x[b * S * S + i] = 0.5 * normal(r);
    const q = Math.floor(r() * 4);
    y[b * 4 + q] = 1;
    const top = (q >> 1) * (S / 2) + Math.floor(r() * (S / 2 - 3));
    const left = (q & 1) * (S / 2) + Math.floor(r() * (S / 2 - 3));
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) x[b * S * S + (top + i) * S + left + j] += 1;
  }
  return { x, y };
}

test(`a small CNN trained with the in-graph SGD step halves its loss within ${STEPS} steps`, async () => {
  const g = quadrantNet();
  const ep = (process.env['MULTISIAM_TEST_EP'] ?? 'cpu') as ExecutionProvider;
  const live = liveGpuTensors();
  const session = await Session.create(writeModel(g).model, { ep, residentOutputs: 'all' }, 'quadrants');
  const store = new TensorStore();
  for (const [name, data] of initInputs(g, 3)) store.set(name, data);
  for (const name of g.inputsWithRole('state').map((v) => v.name)) store.set(name, new Float32Array(g.inputNamed(name)!.value.size));

  const r = uniformStream(2024);
  const losses: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    const { x, y } = batch(r);
    const result = await session.execute({ ...store.feeds(), x, y, lr: Float32Array.of(0.05), weight_decay: Float32Array.of(1e-4) });
    const loss = await result.scalar('loss');
    const gradNorm = await result.scalar('grad_norm');
    assert.ok(Number.isFinite(loss) && Number.isFinite(gradNorm), `step ${step}: loss ${loss}, grad_norm ${gradNorm}`);
    losses.push(loss);
    if (process.env.LEARN_TRACE) console.log(step, loss.toFixed(4), gradNorm.toFixed(4));
    store.advance(result);
    result.dispose();
  }
  store.dispose();
  await session.release();
  assert.is(liveGpuTensors(), live, 'every GPU tensor was released');
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const first = mean(losses.slice(0, 5));
  const last = mean(losses.slice(-5));
  console.log(`\n  quadrant task on ${session.ep}, SGD lr 0.05 μ 0.9: mean loss of steps 1–5 ${first.toFixed(3)}, of steps ${STEPS - 4}–${STEPS} ${last.toFixed(3)} (×${(last / first).toFixed(2)})`);
  assert.ok(last <= first / 2, `loss went from ${first.toFixed(3)} to ${last.toFixed(3)}; expected at most half`);
});

test.run();
