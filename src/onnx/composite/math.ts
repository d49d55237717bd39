/**
 * Composite math over the differentiable core: no VJP rules of their own, so their gradients are
 * the core's. Each is written so that its autodiff gradient is exact and finite where the
 * function is (no 0/0 at a zero vector, no overflow for large logits), and with ops WebGPU has
 * kernels for (it has no LogSoftmax).
 */
import type { Value } from '../ir.js';
import { add } from '../ops/Add.js';
import { div } from '../ops/Div.js';
import { exp } from '../ops/Exp.js';
import { log } from '../ops/Log.js';
import { max } from '../ops/Max.js';
import { mul } from '../ops/Mul.js';
import { reduceMax } from '../ops/ReduceMax.js';
import { reduceSum } from '../ops/ReduceSum.js';
import { reduceSumSquare } from '../ops/ReduceSumSquare.js';
import { sqrt } from '../ops/Sqrt.js';
import { squeeze } from '../ops/Squeeze.js';
import { stopGradient } from '../ops/StopGradient.js';
import { sub } from '../ops/Sub.js';

/**
 * x / max(‖x‖₂, eps) along `axis` (SPEC §2.9, PyTorch's F.normalize). Computed as
 * x / √max(Σx², eps²), the same value: taking the max before the square root keeps the gradient
 * finite at x = 0, where √ of a zero sum would give 0·∞ = NaN.
 */
export function l2Normalize(x: Value, axis: number, eps = 1e-12): Value {
  return div(x, sqrt(max(reduceSumSquare(x, [axis], true), eps * eps)));
}

/** cos(a, b) along `axis` with each side normalised by `l2Normalize`; the axis is removed. */
export function cosineSimilarity(a: Value, b: Value, axis: number, eps = 1e-12): Value {
  return reduceSum(mul(l2Normalize(a, axis, eps), l2Normalize(b, axis, eps)), [axis]);
}

/**
 * log Σ exp(x) along `axis`, shifted by the maximum so no exp overflows. The shift sits behind
 * StopGradient: the function does not depend on it, so the gradient (softmax(x)) stays exact.
 */
export function logSumExp(x: Value, axis: number, keepdims = false): Value {
  const shift = stopGradient(reduceMax(x, [axis], true));
  const lse = add(log(reduceSum(exp(sub(x, shift)), [axis], true)), shift);
  return keepdims ? lse : squeeze(lse, [axis]);
}

/** x − logSumExp(x) along `axis`: ONNX LogSoftmax, composed because WebGPU has no kernel for it. */
export function logSoftmax(x: Value, axis = -1): Value {
  return sub(x, logSumExp(x, axis, true));
}
