/**
 * The self-attention dense predictor (SPEC §2.5):
 *   Q(i) = Σ_{i'} sim(R(i), R(i')) · v(i')  [+ v(i) with `residual`],
 * where v = q(x) is the predictor applied to every cell. `cos-pow` is PixPro's pixel propagation
 * (max(cos, 0)^γ, unnormalised); `softmax` is the non-local form softmax_{i'}(R(i)·R(i')/√d).
 * Gradients flow through both the similarities and v.
 */
import { l2Normalize } from '../onnx/composite/math.js';
import type { Value } from '../onnx/ir.js';
import { add } from '../onnx/ops/Add.js';
import { matMul } from '../onnx/ops/MatMul.js';
import { mul } from '../onnx/ops/Mul.js';
import { pow } from '../onnx/ops/Pow.js';
import { relu } from '../onnx/ops/Relu.js';
import { reshape } from '../onnx/ops/Reshape.js';
import { softmax } from '../onnx/ops/Softmax.js';
import { transpose } from '../onnx/ops/Transpose.js';

export type Similarity = 'cos-pow' | 'softmax';

export interface AttentionOptions {
  readonly sim: Similarity;
  /** Exponent of `cos-pow`. */
  readonly gamma: number;
  readonly residual: boolean;
}

/** Attention weights A (B, N, N), A[b, i, i'] = sim(R(i), R(i')), for R of shape (B, C, h, w). */
export function similarity(r: Value, options: AttentionOptions): Value {
  const [b, c, h, w] = r.shape as [number, number, number, number];
  const cells = reshape(r, [b, c, h * w]);
  if (options.sim === 'cos-pow') {
    const unit = l2Normalize(cells, 1);
    const cos = matMul(transpose(unit, [0, 2, 1]), unit);
    return pow(relu(cos), options.gamma);
  }
  const logits = mul(matMul(transpose(cells, [0, 2, 1]), cells), 1 / Math.sqrt(c));
  return softmax(logits, -1);
}

/** Propagates v (B, D, h, w) over the cells of R with the attention weights. */
export function attend(r: Value, v: Value, options: AttentionOptions): Value {
  const [b, d, h, w] = v.shape as [number, number, number, number];
  const weights = similarity(r, options);
  const propagated = reshape(matMul(reshape(v, [b, d, h * w]), transpose(weights, [0, 2, 1])), [b, d, h, w]);
  return options.residual ? add(propagated, v) : propagated;
}
