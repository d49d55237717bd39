/**
 * Feature alignment between the two views (SPEC §2.4, §2.9): flip-back of dense maps, RoI
 * resampling at positions computed in TypeScript (src/data/alignment.ts), and the offset map ΔC
 * appended to the predictor input. Alignment inputs are data: no gradient flows into them.
 */
import { ints, tensor } from '../onnx/constant.js';
import type { Value } from '../onnx/ir.js';
import { abs } from '../onnx/ops/Abs.js';
import { concat } from '../onnx/ops/Concat.js';
import { gather } from '../onnx/ops/Gather.js';
import { greater } from '../onnx/ops/Greater.js';
import { matMul } from '../onnx/ops/MatMul.js';
import { mul } from '../onnx/ops/Mul.js';
import { relu } from '../onnx/ops/Relu.js';
import { reshape } from '../onnx/ops/Reshape.js';
import { slice } from '../onnx/ops/Slice.js';
import { sub } from '../onnx/ops/Sub.js';
import { transpose } from '../onnx/ops/Transpose.js';
import { unsqueeze } from '../onnx/ops/Unsqueeze.js';
import { where } from '../onnx/ops/Where.js';

/** Undoes the horizontal flip of the views whose `flipped` entry (B) is 1, on maps (B, C, h, w). */
export function flipBack(map: Value, flipped: Value): Value {
  const [b, , , w] = map.shape as [number, number, number, number];
  const mirrored = gather(map, ints(map.graph, Array.from({ length: w }, (_, j) => w - 1 - j)), 3);
  return where(greater(reshape(flipped, [b, 1, 1, 1]), 0.5), mirrored, map);
}

/**
 * Bilinear resampling of `map` (B, C, h, w) at `positions` (B, S·S, 2) holding (x, y) in feature
 * index coordinates, to (B, C, S, S). With torchvision's clamping already applied to the positions,
 * the weight of grid cell (i, j) is max(0, 1 − |y − i|)·max(0, 1 − |x − j|), which is exactly
 * torchvision's bilinear interpolation; the resampling is then one batched MatMul with the
 * (B, S·S, h·w) weight matrix, differentiable with respect to the map.
 */
export function roiAlign(map: Value, positions: Value, size: number): Value {
  const [b, c, h, w] = map.shape as [number, number, number, number];
  const n = size * size;
  const g = map.graph;
  const tent = (coordinate: Value, extent: number): Value => {
    const grid = tensor(g, Array.from({ length: extent }, (_, k) => k), [1, 1, extent]);
    return relu(sub(1, abs(sub(coordinate, grid))));
  };
  const wx = tent(slice(positions, [0], [1], [2]), w); // (B, N, w)
  const wy = tent(slice(positions, [1], [2], [2]), h); // (B, N, h)
  const weights = reshape(mul(unsqueeze(wy, [3]), unsqueeze(wx, [2])), [b, n, h * w]);
  const sampled = matMul(reshape(map, [b, c, h * w]), transpose(weights, [0, 2, 1]));
  return reshape(sampled, [b, c, size, size]);
}

/** The predictor input x = R ⊕ ΔC: the offset map's (Δx, Δy) channels after R's (SPEC §2.9). */
export function withOffsets(r: Value, offsets: Value): Value {
  return concat([r, offsets], 1);
}
