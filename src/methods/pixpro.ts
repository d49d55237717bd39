/**
 * The PixPro baseline (Xie, Lin, Zhang, Cao, Lin, Hu, "Propagate Yourself: Exploring Pixel-Level
 * Consistency for Unsupervised Visual Representation Learning", CVPR 2021), as in zdaxie/PixPro
 * (`contrast/models/PixPro.py`, `tools/pixpro_base_r50_400ep.sh`):
 * - BYOL-style target: an EMA of the backbone and the dense projector, momentum from
 *   `ema.base_momentum` (PixPro's 0.99 by default for this method) to 1 on a cosine schedule;
 * - dense projector MLP2d with BN on both networks (`heads.dense_proj_hidden` → `dense_proj_dim`);
 * - pixel propagation module on the online branch (`featprop`): y(i) = Σ_j max(cos(x(i), x(j)), 0)^γ
 *   · normalize(g(x(j))), g a 1×1 conv D→D (`--pixpro-transform-layer 1`), γ = `pixpro.gamma` (2);
 *   no softmax, no residual. This is where MultiSiam's self-attention predictor comes from;
 * - positive pixel pairs: cells (i of one view, j of the other) whose centres in original-image
 *   coordinates lie closer than `pixpro.pos_ratio` (0.7) × the larger of the two views' cell
 *   diagonals (`regression_loss`, boxes normalised by the image's width and height, a flipped view's
 *   cells counted from the right edge of its box);
 * - pixel consistency, per direction −2 · mean over images of the mean cosine over the image's
 *   positive pairs (Σ cos·mask / (Σ mask + 1e-6)), between the normalised propagation y of one view
 *   and the normalised target projection of the other; both directions summed, weight
 *   `loss.w_dense`;
 * - optional instance branch (`--pixpro-ins-loss-weight`, 0 in the 400-epoch script), built only when
 *   `loss.w_global` > 0 as PixPro builds it only for a positive weight: projector MLP2d on the map
 *   (both networks), predictor MLP2d (online), each then averaged over cells, and the BYOL loss.
 *
 * Deviations: the instance term is 2 − 2·cos per direction (this tool's BYOL loss) where PixPro
 * writes −2·cos, the same gradient; PixPro's LARS adds 1e-8 to the update norm in its trust ratio,
 * ours does not (src/graphs/optimizers.ts); BN statistics are per view and per device, not synced
 * across GPUs.
 */
import { featureMapSize } from '../config/derived.js';
import type { MapSize } from '../config/derived.js';
import { POSITIVE, float } from '../config/schema.js';
import type { MultiSiamConfig } from '../config/schema.js';
import { attend } from '../graphs/attention.js';
import { backbone, headSizes, perView, pool, projectDense } from '../graphs/encoder.js';
import { mlp2d } from '../graphs/heads.js';
import { NAMES, VIEWS, declareBoxes, declareDenseTargets, declareGlobalTargets, declareViews, other } from '../graphs/io.js';
import { conv1x1 } from '../graphs/layers.js';
import { byolLoss } from '../graphs/losses.js';
import { l2Normalize } from '../onnx/composite/math.js';
import { tensor } from '../onnx/constant.js';
import type { Graph, Value } from '../onnx/ir.js';
import { add } from '../onnx/ops/Add.js';
import { cast } from '../onnx/ops/Cast.js';
import { div } from '../onnx/ops/Div.js';
import { expand } from '../onnx/ops/Expand.js';
import { greater } from '../onnx/ops/Greater.js';
import { less } from '../onnx/ops/Less.js';
import { matMul } from '../onnx/ops/MatMul.js';
import { max } from '../onnx/ops/Max.js';
import { mul } from '../onnx/ops/Mul.js';
import { reduceMean } from '../onnx/ops/ReduceMean.js';
import { reduceSum } from '../onnx/ops/ReduceSum.js';
import { reshape } from '../onnx/ops/Reshape.js';
import { slice } from '../onnx/ops/Slice.js';
import { sqrt } from '../onnx/ops/Sqrt.js';
import { stopGradient } from '../onnx/ops/StopGradient.js';
import { sub } from '../onnx/ops/Sub.js';
import { transpose } from '../onnx/ops/Transpose.js';
import { unsqueeze } from '../onnx/ops/Unsqueeze.js';
import { where } from '../onnx/ops/Where.js';
import { ANY_PAIR, type LossTerms, type TargetLink, defineMethod, weighted } from './method.js';

declare module '../config/schema.js' {
  interface MethodFields {
    readonly pixpro: { readonly gamma: number; readonly pos_ratio: number };
  }
}

const FIELDS = [
  float('pixpro.gamma', 2, POSITIVE, "γ of the pixel propagation module's similarity max(cos, 0)^γ (PixPro's --pixpro-p)"),
  float('pixpro.pos_ratio', 0.7, POSITIVE, "cells of the two views form a positive pair when their centres are closer than this × the larger cell diagonal (PixPro's --pixpro-pos-ratio)"),
];

/** The instance branch exists only for a positive weight, as in PixPro (`if self.pixpro_ins_loss_weight > 0.`). */
function withInstance(cfg: MultiSiamConfig): boolean {
  return cfg.loss.w_global > 0;
}

/** PixPro's `featprop`: Σ_j max(cos(x(i), x(j)), 0)^γ · normalize(g(x))(j) with g = `value_transform`, a 1×1 conv. */
function propagate(x: Value, gamma: number): Value {
  const value = l2Normalize(x.graph.scope('value_transform', () => conv1x1(x, x.shape[1]!)), 1);
  return attend(x, value, { sim: 'cos-pow', gamma, residual: false });
}

/** The instance projection: MLP2d on the map (`projector_instance`), as a map. */
function projectInstance(features: Value, cfg: MultiSiamConfig): Value {
  return features.graph.scope('projector', () => mlp2d(features, headSizes(cfg).projector, true));
}

/** The online instance prediction: predictor MLP2d on the instance projection map, then averaged over cells (PixPro's `avgpool`). */
function predictInstance(features: Value, cfg: MultiSiamConfig): Value {
  const projected = projectInstance(features, cfg);
  return pool(features.graph.scope('predictor', () => mlp2d(projected, headSizes(cfg).predictor, true)));
}

/** Each cell's centre in original-image coordinates, (B, h·w) each, and the cell diagonal (B, 1). */
interface Cells {
  readonly x: Value;
  readonly y: Value;
  readonly diagonal: Value;
}

/**
 * Cell (i, j) of an h×w map over crop box (x1, y1, x2, y2) has its centre at x1 + (j + ½)(x2 − x1)/w,
 * y1 + (i + ½)(y2 − y1)/h; a flipped view counts j from x2 (PixPro's coordinates swap x1 and x2,
 * `contrast/data/transform_coord.py`). The maps stay in view orientation, as in PixPro.
 */
function cellCentres(box: Value, flipped: Value, { h, w }: MapSize): Cells {
  const g = box.graph;
  const b = box.shape[0]!;
  const coordinate = (k: number): Value => slice(box, [k], [k + 1], [1]); // (B, 1)
  const flip = greater(reshape(flipped, [b, 1]), 0.5);
  const [x1, y1, x2, y2] = [0, 1, 2, 3].map(coordinate) as [Value, Value, Value, Value];
  const start = where(flip, x2, x1);
  const end = where(flip, x1, x2);
  const fractions = (n: number): Value => tensor(g, Array.from({ length: n }, (_, k) => (k + 0.5) / n), [1, n]);
  const xs = add(start, mul(sub(end, start), fractions(w))); // (B, w)
  const ys = add(y1, mul(sub(y2, y1), fractions(h))); // (B, h)
  const binW = div(sub(x2, x1), w);
  const binH = div(sub(y2, y1), h);
  return {
    x: reshape(expand(unsqueeze(xs, [1]), [b, h, w]), [b, h * w]),
    y: reshape(expand(unsqueeze(ys, [2]), [b, h, w]), [b, h * w]),
    diagonal: sqrt(add(mul(binW, binW), mul(binH, binH))),
  };
}

/** (B, N, N) 1 where cell i of view q and cell j of view k are a positive pair: distance / max(diagonals) < ratio. */
function positivePairs(q: Cells, k: Cells, ratio: number): Value {
  const b = q.x.shape[0]!;
  const delta = (a: Value, c: Value): Value => sub(unsqueeze(a, [2]), unsqueeze(c, [1]));
  const dx = delta(q.x, k.x);
  const dy = delta(q.y, k.y);
  const distance = sqrt(add(mul(dx, dx), mul(dy, dy)));
  const diagonal = reshape(max(q.diagonal, k.diagonal), [b, 1, 1]);
  return cast(less(div(distance, diagonal), ratio), 'float32');
}

/**
 * One direction of PixPro's pixel consistency: −2 · mean over images of Σ_{i,j} cos(y(i), sg(k(j)))·m(i,j)
 * / (Σ m + 1e-6), for the propagation y and the target projection k (B, D, h, w) and the pair mask m.
 */
function pixelConsistency(y: Value, k: Value, positives: Value): Value {
  const [b, d, h, w] = y.shape as [number, number, number, number];
  const cells = (map: Value): Value => reshape(l2Normalize(map, 1), [b, d, h * w]);
  const cos = matMul(transpose(cells(y), [0, 2, 1]), cells(stopGradient(k))); // (B, N, N)
  const perImage = div(reduceSum(mul(cos, positives), [1, 2]), add(reduceSum(positives, [1, 2]), 1e-6));
  return mul(reduceMean(perImage), -2);
}

function online(g: Graph, cfg: MultiSiamConfig): LossTerms {
  const views = declareViews(g, cfg);
  const boxes = declareBoxes(g, cfg);
  const grid = featureMapSize(cfg);
  const targets = declareDenseTargets(g, cfg, cfg.heads.dense_proj_dim, grid);
  const zTargets = withInstance(cfg) ? declareGlobalTargets(g, cfg) : null;
  const out = perView(g, (v) => {
    const features = backbone(views[v].image, cfg);
    const propagated = propagate(projectDense(features, cfg), cfg.pixpro.gamma);
    return { propagated, prediction: zTargets ? predictInstance(features, cfg) : null };
  });
  const cells = perView(g, (v) => cellCentres(boxes[v], views[v].flipped, grid));
  const [a, b] = VIEWS.map((v) => pixelConsistency(out[v].propagated, targets[v], positivePairs(cells[v], cells[other(v)], cfg.pixpro.pos_ratio)));
  const pixel = add(a!, b!);
  if (!zTargets) return { total: weighted([[pixel, cfg.loss.w_dense]]), terms: { pixel } };
  const instance = add(byolLoss(out[1].prediction!, zTargets[1]), byolLoss(out[2].prediction!, zTargets[2]));
  return { total: weighted([[pixel, cfg.loss.w_dense], [instance, cfg.loss.w_global]]), terms: { pixel, instance } };
}

/** The target network on both views: the dense projection (`dense1`, `dense2`) and, with the instance branch, the pooled instance projection (`z1`, `z2`). */
function target(g: Graph, cfg: MultiSiamConfig): Record<string, Value> {
  const views = declareViews(g, cfg);
  const out = g.scope('target', () =>
    perView(g, (v) => {
      const features = backbone(views[v].image, cfg);
      return { dense: projectDense(features, cfg), z: withInstance(cfg) ? pool(projectInstance(features, cfg)) : null };
    }),
  );
  return Object.fromEntries(VIEWS.flatMap((v) => [[`dense${v}`, out[v].dense], ...(out[v].z ? [[`z${v}`, out[v].z] as const] : [])]));
}

function targets(cfg: MultiSiamConfig): TargetLink[] {
  return VIEWS.flatMap((v): TargetLink[] => [
    { input: NAMES.targetDense(v), output: `dense${other(v)}`, transform: { kind: 'copy' } },
    ...(withInstance(cfg) ? [{ input: NAMES.targetZ(v), output: `z${other(v)}`, transform: { kind: 'copy' } } as const] : []),
  ]);
}

export const pixpro = defineMethod({
  name: 'pixpro',
  title: 'PixPro (Xie et al., CVPR 2021): pixel propagation of the online dense projection, consistent with the EMA target at nearby pixels',
  kind: 'baseline',
  frameworks: ['byol'],
  fields: FIELDS,
  reads: ['heads.dense_proj_hidden', 'heads.dense_proj_dim', 'loss.w_dense'],
  // PixPro's 400-epoch script: momentum 0.99 (`--pixpro-momentum`), no instance branch
  // (`--pixpro-ins-loss-weight 0`); its other settings are the shared defaults (LARS, base lr 1.0,
  // weight decay 1e-5, 5 warm-up epochs, crops from 8%, BYOL's augmentations).
  defaults: { ema: { base_momentum: 0.99 }, loss: { w_global: 0 } },
  rules: [
    {
      doc: "method 'pixpro': some loss term has a positive weight",
      check: (c) =>
        c.loss.w_global + c.loss.w_dense > 0 ? null : { fields: ['loss.w_global', 'loss.w_dense'], problem: 'both weights are 0, so nothing is trained', allowed: 'w_global + w_dense > 0' },
    },
  ],
  online,
  target,
  targets,
  onlineOnly: (cfg) => ['value_transform.', ...(withInstance(cfg) ? ['predictor.'] : [])],
  momentum: (cfg) => ({ kind: 'cosine', base: cfg.ema.base_momentum }),
  pairs: () => ANY_PAIR,
  describe: (cfg) => {
    const { h, w } = featureMapSize(cfg);
    const hd = cfg.heads;
    return {
      method: 'pixpro (PixPro baseline)',
      heads: `dense projector ${hd.dense_proj_hidden}→${hd.dense_proj_dim}, value transform 1×1 conv ${hd.dense_proj_dim}→${hd.dense_proj_dim}${withInstance(cfg) ? `, instance projector ${hd.proj_hidden}→${hd.proj_dim}, predictor ${hd.pred_hidden}→${hd.proj_dim}` : ''}`,
      propagation: `max(cos, 0)^${cfg.pixpro.gamma} over ${h}×${w} cells, no softmax, no residual`,
      positives: `centre distance < ${cfg.pixpro.pos_ratio} × larger cell diagonal`,
      loss: `pixel consistency, w_dense ${cfg.loss.w_dense}${withInstance(cfg) ? `; instance (BYOL), w_global ${cfg.loss.w_global}` : '; no instance branch (w_global 0)'}`,
      target: `EMA, base momentum ${cfg.ema.base_momentum} → 1 (cosine)`,
    };
  },
});
