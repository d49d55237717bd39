/** Small models and assertions shared by the runtime tests, built from the project's ops (independent of src/graphs). */
import * as assert from 'uvu/assert';
import { uniformStream } from '../../src/data/rng.js';
import { Graph } from '../../src/onnx/ir.js';
import { add, gemm, matMul, mul, reduceSum, relu, sub } from '../../src/onnx/ops/index.js';
import { writeModel } from '../../src/onnx/serialize.js';
import { ProviderUnavailableError } from '../../src/runtime/errors.js';
import { Session, type SessionOptions } from '../../src/runtime/session.js';

/** `next.w = w + lr·x`, `loss = Σ w`, plus an int64 passthrough: inputs w[2,3], x[2,3], lr[], n[1]. */
export function stepModel(): Uint8Array {
  const g = new Graph('step');
  const w = g.param('w', [2, 3], { kind: 'constant', value: 0 });
  const x = g.input('x', 'float32', [2, 3]);
  const lr = g.input('lr', 'float32', [], 'hyper');
  const n = g.input('n', 'int64', [1]);
  g.output('next.w', add(w, mul(x, lr)));
  g.output('loss', reduceSum(w));
  g.output('count', n);
  return writeModel(g).model;
}

/**
 * A training-like recurrence with carried state: h = relu(x·w), g = xᵀ·h, next.w = w − lr·(g + m),
 * next.m = 0.9·m + g, loss = Σh². Inputs w[8,8], m[8,8], x[16,8], lr[].
 */
export function loopModel(): Uint8Array {
  const g = new Graph('loop');
  const w = g.input('w', 'float32', [8, 8], 'param');
  const m = g.input('m', 'float32', [8, 8], 'state');
  const x = g.input('x', 'float32', [16, 8]);
  const lr = g.input('lr', 'float32', [], 'hyper');
  const h = relu(matMul(x, w));
  const grad = gemm(x, h, undefined, { transA: true });
  g.output('next.w', sub(w, mul(lr, add(grad, m))));
  g.output('next.m', add(mul(m, 0.9), grad));
  g.output('loss', reduceSum(mul(h, h)));
  return writeModel(g).model;
}

/** Initial state and per-step batches for loopModel, from a seeded stream. */
export function loopData(seed: number): { w: Float32Array; m: Float32Array; batch: (step: number) => Float32Array } {
  const r = uniformStream(seed);
  const w = Float32Array.from({ length: 64 }, () => (r() - 0.5) * 0.5);
  const batches = Array.from({ length: 64 }, () => Float32Array.from({ length: 128 }, () => r() - 0.5));
  return { w, m: new Float32Array(64), batch: (step) => batches[step % batches.length]! };
}

/** `y = x·w·w·…` (`depth` products of 1024×1024 matrices): a run long enough to watch the event loop. */
export function slowModel(depth: number): Uint8Array {
  const g = new Graph('slow');
  const w = g.input('w', 'float32', [1024, 1024]);
  let y = g.input('x', 'float32', [1024, 1024]);
  for (let i = 0; i < depth; i++) y = matMul(y, w);
  g.output('y', reduceSum(y));
  return writeModel(g).model;
}

/** A WebGPU session, or the ProviderUnavailableError where no Vulkan adapter exists. */
export async function webgpuSession(model: Uint8Array, options: SessionOptions = {}, name = 'step'): Promise<Session | ProviderUnavailableError> {
  try {
    return await Session.create(model, { ...options, ep: 'webgpu' }, name);
  } catch (e) {
    if (e instanceof ProviderUnavailableError) return e;
    throw e;
  }
}

/** Max |a − b| / max |b|. */
export function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let worst = 0;
  let scale = 1e-30;
  for (let i = 0; i < want.length; i++) {
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return got.length === want.length ? worst / scale : Infinity;
}

/** Asserts that `run` rejects with a message matching `pattern`, and returns the error. */
export async function rejects(run: () => Promise<unknown>, pattern: RegExp | string): Promise<Error> {
  try {
    await run();
  } catch (e) {
    assert.match((e as Error).message, pattern);
    return e as Error;
  }
  assert.unreachable(`expected a rejection matching ${String(pattern)}`);
  throw new Error('unreachable');
}
