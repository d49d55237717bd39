/**
 * Foundation proof 3: bad input fails early with a message that says what is wrong — at build time
 * (shapes: the op, its inputs and their shapes), at feed time (a wrong name: named, with the real
 * inputs listed) and at session creation (an execution provider this machine lacks: named, with how
 * to install it).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ShapeError } from '../../src/onnx/errors.js';
import { Graph } from '../../src/onnx/ir.js';
import { add, conv, gemm, matMul } from '../../src/onnx/ops/index.js';
import { writeModel } from '../../src/onnx/serialize.js';
import { FeedError, ProviderUnavailableError } from '../../src/runtime/errors.js';
import { Session } from '../../src/runtime/session.js';

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

test('build time: a conv whose weight does not fit its input names the op, scope, inputs and shapes', () => {
  const g = new Graph('bad-conv');
  const x = g.input('x', 'float32', [2, 3, 8, 8]);
  const e = thrown(() => g.scope('backbone.conv1', () => conv(x, g.param('weight', [16, 4, 3, 3], { kind: 'constant', value: 0 }))));
  assert.instance(e, ShapeError);
  assert.match(e.message, "Conv (scope 'backbone.conv1'): input channels (3) ≠ weight in-channels (4) × group (1)");
  assert.match(e.message, 'inputs X[2,3,8,8]:float32, W[16,4,3,3]:float32');
});

test('build time: non-broadcastable and non-multipliable shapes name both shapes', () => {
  const g = new Graph('bad-shapes');
  const a = g.input('a', 'float32', [4, 3]);
  const b = g.input('b', 'float32', [4, 5]);
  const sum = thrown(() => add(a, b));
  assert.instance(sum, ShapeError);
  assert.match(sum.message, /^Add .*shapes \[4,3\] and \[4,5\] do not broadcast; inputs A\[4,3\]:float32, B\[4,5\]:float32$/);
  const prod = thrown(() => matMul(a, b));
  assert.instance(prod, ShapeError);
  assert.match(prod.message, /^MatMul .*\[4,3\].*\[4,5\]/);
  const lin = thrown(() => g.scope('fc', () => gemm(a, g.param('weight', [10, 5], { kind: 'constant', value: 0 }), undefined, { transB: true })));
  assert.match(lin.message, /^Gemm \(scope 'fc'\): .*inputs A\[4,3\]:float32, B\[10,5\]:float32/);
});

test("feed time: a wrong input name is named, with a suggestion and the model's inputs", async () => {
  const g = new Graph('feeds');
  const x = g.input('images', 'float32', [2, 3]);
  const w = g.param('fc.weight', [3, 3], { kind: 'constant', value: 0 });
  g.output('y', matMul(x, w));
  const s = await Session.create(writeModel(g).model, {}, 'train_step.onnx');
  try {
    await s.run({ image: new Float32Array(6), 'fc.weight': new Float32Array(9) });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, FeedError);
    assert.is((e as Error).message, "train_step.onnx: unknown input name 'image' (did you mean 'images'?); the model's inputs are 'images', 'fc.weight'");
  } finally {
    await s.release();
  }
});

for (const ep of ['webgpu', 'cuda'] as const) {
  test(`session time: '${ep}' unavailable here names the provider and how to install it`, async () => {
    const g = new Graph('ep');
    g.output('y', add(g.input('x', 'float32', [2]), 1));
    let error: Error | null = null;
    try {
      await (await Session.create(writeModel(g).model, { ep }, 'train_step.onnx')).release();
    } catch (e) {
      error = e as Error;
    }
    if (!error) return; // this machine has the provider: nothing to assert
    assert.instance(error, ProviderUnavailableError);
    assert.match(error.message, `execution provider '${ep}' is unavailable on this machine`);
    if (ep === 'webgpu') assert.match(error.message, /needs a Vulkan loader \(libvulkan\.so\.1, Debian\/Ubuntu package libvulkan1\) and a Vulkan driver/);
    else assert.match(error.message, /multisiam setup cuda|CUDA 13 and cuDNN 9/);
    assert.match(error.message, 'or choose --ep cpu');
  });
}

test.run();
