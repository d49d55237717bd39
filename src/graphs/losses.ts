/**
 * Loss terms (SPEC §2.7, §2.9). Each takes the online prediction and the target and applies the
 * stop-gradient to the target itself; each returns one direction's value, and the method sums the
 * two directions.
 */
import { cosineSimilarity, l2Normalize, logSoftmax } from '../onnx/composite/math.js';
import type { Value } from '../onnx/ir.js';
import { concat } from '../onnx/ops/Concat.js';
import { div } from '../onnx/ops/Div.js';
import { matMul, matrixTranspose } from '../onnx/ops/MatMul.js';
import { max } from '../onnx/ops/Max.js';
import { mul } from '../onnx/ops/Mul.js';
import { neg } from '../onnx/ops/Neg.js';
import { reduceMean } from '../onnx/ops/ReduceMean.js';
import { reduceSum } from '../onnx/ops/ReduceSum.js';
import { reshape } from '../onnx/ops/Reshape.js';
import { slice } from '../onnx/ops/Slice.js';
import { stopGradient } from '../onnx/ops/StopGradient.js';
import { sub } from '../onnx/ops/Sub.js';
import { transpose } from '../onnx/ops/Transpose.js';

/** BYOL: mean over pairs of 2 − 2·cos(p, sg(z)); p and z are (B, D). */
export function byolLoss(p: Value, z: Value): Value {
  return reduceMean(sub(2, mul(cosineSimilarity(p, stopGradient(z), 1), 2)));
}

/** Per-pair mean over cells of 2 − 2·cos(Q(i,j), sg(T(i,j))), (B, D, h, w) → (B). */
export function clusterConsistency(q: Value, targets: Value): Value {
  return reduceMean(sub(2, mul(cosineSimilarity(q, stopGradient(targets), 1), 2)), [1, 2]);
}

/** "MultiSiam w/o K-means" (supplement B.1): per-pair mean over cells of −cos(Q(i,j), sg(R'(i,j))). */
export function featureConsistency(q: Value, targets: Value): Value {
  return reduceMean(neg(cosineSimilarity(q, stopGradient(targets), 1)), [1, 2]);
}

/** Σ_b w_b ℓ_b / max(1, Σ_b w_b): the mean over pairs that passed the IoU rule (w ∈ {0, 1}). */
export function weightedPairMean(perPair: Value, weights: Value): Value {
  return div(reduceSum(mul(perPair, weights)), max(reduceSum(weights), 1));
}

/**
 * InfoNCE with the positive first (MoCo): −log( exp(q·k⁺/τ) / (exp(q·k⁺/τ) + Σ_{k⁻} exp(q·k⁻/τ)) )
 * for queries q and positives k⁺ (M, D) against a queue of negatives (L, D); all L2-normalised
 * here. Returns the per-query losses (M).
 */
export function infoNce(queries: Value, positives: Value, queue: Value, temperature: number): Value {
  const q = l2Normalize(queries, 1);
  const kPos = stopGradient(l2Normalize(positives, 1));
  const positive = reduceSum(mul(q, kPos), [1], true); // (M, 1)
  const negative = matMul(q, matrixTranspose(stopGradient(queue))); // (M, L)
  const logits = mul(concat([positive, negative], 1), 1 / temperature);
  return neg(reshape(slice(logSoftmax(logits, 1), [0], [1], [1]), [queries.shape[0]!]));
}

/** Dense maps (B, D, h, w) as one row per cell, (B·h·w, D), for per-pixel InfoNCE. */
export function cellsAsRows(map: Value): Value {
  const [b, d, h, w] = map.shape as [number, number, number, number];
  return reshape(transpose(reshape(map, [b, d, h * w]), [0, 2, 1]), [b * h * w, d]);
}
