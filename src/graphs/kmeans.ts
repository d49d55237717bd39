/**
 * Per-image cosine K-means as a graph (`kmeans.backend: graph`), so the dense targets are made on
 * the device right after the target forward and no map crosses to the host. It is the algorithm of
 * src/train/kmeans.ts step for step, with the same conventions (SPEC §2.6, §2.9):
 * - points L2-normalised with a/max(|a|, 1e-12); cosine = dot product of unit vectors;
 * - seeded k-means++: the first centre is cell floor(u₀·N), each next one is drawn with probability
 *   ∝ 1 − max cos to the centres so far by walking the cumulative weights to uⱼ·total (the last
 *   positive-weight cell catches rounding; a zero total falls back to floor(uⱼ·N)); the uniforms u
 *   (B, k) are drawn on the host from the same stream the TypeScript K-means reads;
 * - assignment to the highest cosine, ties to the lowest cluster index;
 * - an empty cluster takes the worst-fitting point (ties to the lowest cell) among the clusters
 *   holding ≥ 2 points, clusters refilled in index order;
 * - `iters` Lloyd iterations, unrolled (an assignment that repeats is a fixed point, so running all of
 *   them gives what the early exit of the TypeScript version gives); each cell's target is the
 *   normalised centroid of its cluster.
 * Arithmetic is float32 (the host version accumulates in float64), so a cell whose two best cosines
 * are within rounding may land in the other cluster. Argmax and argmin are one-hot "first maximum"
 * masks built from Equal and a triangular MatMul, since ArgMax has no WebGPU kernel.
 */
import { l2Normalize } from '../onnx/composite/math.js';
import { tensor } from '../onnx/constant.js';
import type { Graph, Value } from '../onnx/ir.js';
import { add, cast, concat, equal, greater, less, matMul, max, min, mul, neg, not, reduceMax, reduceSum, relu, reshape, slice, sub, transpose, unsqueeze, where } from '../onnx/ops/index.js';

export interface KMeansGraphOptions {
  readonly k: number;
  readonly iters: number;
}

/** (n, n) ones where row < column (`strict`) or row ≤ column: x·T sums x over earlier (or earlier and equal) positions. */
function triangle(g: Graph, n: number, strict: boolean): Value {
  const data = new Float32Array(n * n);
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) data[r * n + c] = r < c || (!strict && r === c) ? 1 : 0;
  return tensor(g, data, [n, n]);
}

/** 1 at the first position along the last axis where the 0/1 mask `hits` is 1 (0 everywhere if none). */
function firstOf(hits: Value, earlier: Value): Value {
  return relu(sub(hits, matMul(hits, earlier)));
}

/** The one-hot (B, N) of floor(x) for x (B, 1) in [0, N), clamped to N − 1. */
function floorOneHot(x: Value, n: number): Value {
  const g = x.graph;
  const at = min(x, n - 1);
  const cells = tensor(g, Array.from({ length: n }, (_, i) => i), [1, n]);
  const atLeast = (v: Value): Value => cast(not(less(at, v)), 'float32');
  return sub(atLeast(cells), atLeast(add(cells, 1)));
}

/** Rows of `points` (B, N, C) picked by one-hot `pick` (B, N): (B, 1, C). */
function pickRow(pick: Value, points: Value): Value {
  return matMul(unsqueeze(pick, [1]), points);
}

/** cos of every point (B, N, C) to one centre (B, 1, C): (B, N). */
function cosTo(points: Value, centre: Value): Value {
  const [b, n] = points.shape as [number, number];
  return reshape(matMul(points, transpose(centre, [0, 2, 1])), [b, n]);
}

/** Each cell's K-means target for maps (B, C, h, w), given the host's uniforms (B, k). */
export function kmeansTargets(maps: Value, uniforms: Value, options: KMeansGraphOptions): Value {
  const g = maps.graph;
  const [b, c, h, w] = maps.shape as [number, number, number, number];
  const n = h * w;
  const k = Math.min(options.k, n);
  const unit = l2Normalize(reshape(maps, [b, c, n]), 1);
  // Every cell its own cluster: its target is itself.
  if (k >= n) return reshape(unit, [b, c, h, w]);
  const points = transpose(unit, [0, 2, 1]); // (B, N, C)
  const u = (j: number): Value => slice(uniforms, [j], [j + 1], [1]); // (B, 1)
  const before = triangle(g, n, true);
  const upTo = triangle(g, n, false);

  // k-means++ initialisation.
  const centres: Value[] = [pickRow(floorOneHot(mul(u(0), n), n), points)];
  let fit = cosTo(points, centres[0]!);
  for (let j = 1; j < k; j++) {
    const weight = relu(sub(1, fit));
    const total = reduceSum(weight, [1], true);
    const positive = cast(greater(weight, 0), 'float32');
    const reached = mul(positive, cast(greater(matMul(weight, upTo), mul(u(j), total)), 'float32'));
    const first = firstOf(reached, before);
    // No cell passed the goal (rounding at the top): the last cell with a positive weight.
    const last = relu(sub(positive, matMul(positive, transpose(before, [1, 0]))));
    const walked = add(first, mul(sub(1, reduceSum(first, [1], true)), last));
    const pick = where(greater(total, 0), walked, floorOneHot(mul(u(j), n), n));
    const centre = pickRow(pick, points);
    centres.push(centre);
    fit = max(fit, cosTo(points, centre));
  }

  // Lloyd iterations.
  const earlierCluster = triangle(g, k, true);
  if (!(options.iters >= 1)) throw new RangeError(`kmeansTargets: iters must be ≥ 1, got ${options.iters}`);
  let centreRows = concat(centres, 1); // (B, K, C)
  let assign: Value | undefined;
  for (let it = 0; it < options.iters; it++) {
    const sims = matMul(points, transpose(centreRows, [0, 2, 1])); // (B, N, K)
    const best = reduceMax(sims, [2], true);
    assign = firstOf(cast(equal(sims, best), 'float32'), earlierCluster);
    let cellFit = reshape(best, [b, n]);
    for (let j = 0; j < k; j++) {
      const counts = reduceSum(assign, [1]); // (B, K)
      const empty = cast(equal(slice(counts, [j], [j + 1], [1]), 0), 'float32'); // (B, 1)
      const crowded = cast(greater(counts, 1.5), 'float32'); // clusters with ≥ 2 points
      const eligible = reshape(matMul(assign, unsqueeze(crowded, [2])), [b, n]);
      // Cosines are ≤ 1, so 3 keeps ineligible cells out of the minimum.
      const score = where(greater(eligible, 0.5), cellFit, tensor(g, [3], [1, 1]));
      const lowest = neg(reduceMax(neg(score), [1], true));
      const worst = mul(firstOf(cast(equal(score, lowest), 'float32'), before), empty); // (B, N), zero unless j is empty
      const target = tensor(g, Array.from({ length: k }, (_, i) => (i === j ? 1 : 0)), [1, 1, k]);
      assign = add(assign, mul(unsqueeze(worst, [2]), sub(target, assign)));
      cellFit = add(cellFit, mul(worst, sub(1, cellFit)));
    }
    centreRows = l2Normalize(matMul(transpose(assign, [0, 2, 1]), points), 2);
  }
  const targets = matMul(assign!, centreRows); // (B, N, C)
  return reshape(transpose(targets, [0, 2, 1]), [b, c, h, w]);
}
