/**
 * The probe's pieces on small inputs: bilinear upsampling equals PyTorch's F.interpolate
 * (align_corners=False) on a hand-checked case, the train step's loss is the per-pixel cross-entropy
 * of the evaluation graph's logits over the labelled pixels, SGD steps lower it, and the confusion
 * matrix gives the IoU, mIoU and pixel accuracy a hand count gives.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { uniformStream } from '../../src/data/rng.js';
import { type ProbeHead, type ProbeShape, bilinearWeights, probeEval, probeTrainStep, upsampleMatrix } from '../../src/eval/graphs.js';
import { Confusion } from '../../src/eval/metrics.js';
import { NAMES } from '../../src/graphs/io.js';
import type { Graph } from '../../src/onnx/ir.js';
import { writeModel } from '../../src/onnx/serialize.js';
import { Session } from '../../src/runtime/session.js';

test('bilinear weights: align_corners=False sampling, edges clamped, rows summing to 1', () => {
  assert.equal(Array.from(bilinearWeights(2, 4)), [1, 0, 0.75, 0.25, 0.25, 0.75, 0, 1]);
  const w = bilinearWeights(7, 28);
  for (let i = 0; i < 28; i++) assert.ok(Math.abs(w.subarray(i * 7, (i + 1) * 7).reduce((a, b) => a + b, 0) - 1) < 1e-12, `row ${i}`);
});

test('upsampling [[1, 2], [3, 4]] to 4×4 gives F.interpolate(mode="bilinear", align_corners=False)', () => {
  const m = upsampleMatrix([2, 2], [4, 4]);
  const x = [1, 2, 3, 4];
  const up = Array.from({ length: 16 }, (_, o) => x.reduce((s, v, i) => s + v * m[i * 16 + o]!, 0));
  // torch.nn.functional.interpolate(torch.tensor([[[[1., 2.], [3., 4.]]]]), size=(4, 4), mode='bilinear', align_corners=False)
  assert.equal(up, [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4]);
});

const SHAPE: ProbeShape = { batch: 3, channels: 5, featureSize: [3, 4], labelSize: [6, 8], classes: 4 };
const PIXELS = 48;

/**
 * Random features; each pixel labelled with the channel (of the first K) that is largest in its
 * feature cell, so a linear head can learn the labels; about one pixel in five left unlabelled
 * (padding), which must not count (ids −1).
 */
function randomInputs(seed: number): { features: Float32Array; labels: Float32Array; ids: Int32Array } {
  const r = uniformStream(seed);
  const [h, w] = SHAPE.featureSize;
  const [, W] = SHAPE.labelSize;
  const features = Float32Array.from({ length: SHAPE.batch * SHAPE.channels * h * w }, () => 2 * r() - 1);
  const labels = new Float32Array(SHAPE.batch * SHAPE.classes * PIXELS);
  const ids = new Int32Array(SHAPE.batch * PIXELS);
  for (let b = 0; b < SHAPE.batch; b++) {
    for (let p = 0; p < PIXELS; p++) {
      const cell = Math.floor(Math.floor(p / W) / 2) * w + Math.floor((p % W) / 2);
      const v = (c: number): number => features[(b * SHAPE.channels + c) * h * w + cell]!;
      let k = 0;
      for (let c = 1; c < SHAPE.classes; c++) if (v(c) > v(k)) k = c;
      if (r() < 0.2) k = -1;
      ids[b * PIXELS + p] = k;
      if (k >= 0) labels[(b * SHAPE.classes + k) * PIXELS + p] = 1;
    }
  }
  return { features, labels, ids };
}

function initial(graph: Graph, seed: number): Record<string, Float32Array> {
  const r = uniformStream(seed);
  const out: Record<string, Float32Array> = {};
  for (const i of graph.inputs) {
    if (i.role !== 'param' && i.role !== 'buffer' && i.role !== 'state') continue;
    const init = i.init;
    out[i.value.name] = Float32Array.from({ length: i.value.size }, () =>
      i.role === 'state' ? 0 : init?.kind === 'constant' ? init.value : init?.kind === 'uniform' ? init.bound * (2 * r() - 1) : 0,
    );
  }
  return out;
}

test('linear head: the train step\'s loss is the mean cross-entropy of the evaluation logits over labelled pixels', async () => {
  const { graph } = probeTrainStep(SHAPE, 'linear', 0.9);
  const evalGraph = probeEval(SHAPE, 'linear');
  const state = initial(graph, 5);
  const { features, labels, ids } = randomInputs(6);
  const train = await Session.create(writeModel(graph).model, {}, 'probe train step');
  const evaluate = await Session.create(writeModel(evalGraph).model, {}, 'probe eval');
  const weights = Object.fromEntries(evalGraph.inputs.filter((i) => i.role === 'param').map((i) => [i.value.name, state[i.value.name]!]));
  const logits = (await evaluate.run({ features, ...weights })).logits!.data as Float32Array;
  let nll = 0;
  let labelled = 0;
  ids.forEach((k, i) => {
    if (k < 0) return;
    const b = Math.floor(i / PIXELS);
    const p = i % PIXELS;
    const z = Array.from({ length: SHAPE.classes }, (_, c) => logits[(b * SHAPE.classes + c) * PIXELS + p]!);
    const top = Math.max(...z);
    nll += top + Math.log(z.reduce((s, v) => s + Math.exp(v - top), 0)) - z[k]!;
    labelled++;
  });
  const out = await train.run({ features, labels, ...state, [NAMES.lr]: Float32Array.of(0), [NAMES.weightDecay]: Float32Array.of(0) });
  const loss = Number(out[NAMES.loss]!.data[0]);
  assert.ok(Math.abs(loss - nll / labelled) < 1e-5 * Math.max(1, nll / labelled), `graph ${loss}, host ${nll / labelled}`);
  await train.release();
  await evaluate.release();
});

for (const head of ['linear', 'conv'] as ProbeHead[]) {
  test(`${head} head: twenty SGD steps on one batch lower the loss by half${head === 'conv' ? ', and BN statistics move' : ''}`, async () => {
    const { graph, step } = probeTrainStep(SHAPE, head, 0.9);
    const state = initial(graph, 7);
    const { features, labels } = randomInputs(8);
    const session = await Session.create(writeModel(graph).model, {}, 'probe train step');
    const losses: number[] = [];
    for (let k = 0; k < 20; k++) {
      const out = await session.run({ features, labels, ...state, [NAMES.lr]: Float32Array.of(0.2), [NAMES.weightDecay]: Float32Array.of(0) });
      losses.push(Number(out[NAMES.loss]!.data[0]));
      for (const name of [...step.params.map((p) => p.name), ...step.state, ...step.buffers]) state[name] = out[NAMES.next(name)]!.data as Float32Array;
    }
    await session.release();
    assert.ok(losses.at(-1)! < losses[0]! / 2, `loss ${losses[0]} → ${losses.at(-1)}`);
    assert.equal(step.buffers.length, head === 'conv' ? 2 : 0);
    for (const b of step.buffers) assert.ok(state[b]!.some((v) => v !== (b.endsWith('running_var') ? 1 : 0)), `${b} moved`);
  });
}

test('confusion matrix: IoU, mIoU over the classes that occur, pixel accuracy', () => {
  const c = new Confusion(3);
  // Four pixels, labels [0, 0, 1, 1]; logits (class-major) predict [0, 1, 1, 1]; class 2 never occurs.
  c.add(Float32Array.from([5, 0, 0, 0, 0, 5, 5, 5, 0, 0, 0, 0]), Uint8Array.from([0, 0, 1, 1]));
  assert.equal(c.iou(), [1 / 2, 2 / 3, null]);
  assert.ok(Math.abs(c.miou() - (1 / 2 + 2 / 3) / 2) < 1e-12);
  assert.is(c.pixelAccuracy(), 3 / 4);
  assert.equal(c.support(), [2, 2, 0]);
  // A tie goes to the lower class.
  const tie = new Confusion(2);
  tie.add(Float32Array.from([1, 1]), Uint8Array.from([1]));
  assert.equal(tie.iou(), [0, 0]);
});

test.run();
