/**
 * MultiSiam (Chen et al., ICCV 2021; SPEC §2): the global BYOL loss plus the dense 2D loss between
 * the online self-attention prediction and the aligned target map, against its per-image K-means
 * centroids (`dense_target: kmeans`) or the map itself ("MultiSiam w/o K-means", supplement B.1).
 * Alignment is `offset` (ΔC appended to the predictor input; cell (i, j) of one view against cell
 * (i, j) of the other) or `roi` (both maps resampled to S×S on the intersection box).
 *
 * With `framework: moco` it is the MoCo-based MultiSiam of supplement B.2 (RoI alignment only): the
 * intersection box is resampled from the backbone maps, the online dense projector carries the
 * self-attention G(i,j) = Σ sim(R(i,j), R(i',j'))·g(R(i',j')), the target projector is plain, and the
 * dense term is per-pixel InfoNCE (τ = `moco.temperature`) with K-means centroids of G' as positives
 * and a queue of pooled, normalised target dense projections as negatives; the global term is
 * MoCo-v2 InfoNCE on the pooled projections with its own queue. No predictors. The supplement's
 * eq. (9) prints the ratio without −log; we implement the standard −log form.
 */
import { featureMapSize } from '../config/derived.js';
import type { MapSize } from '../config/derived.js';
import type { Rule } from '../config/rules.js';
import { AT_LEAST_1, type ConfigPath, PROB, bool, float, int, oneOf } from '../config/schema.js';
import type { MultiSiamConfig } from '../config/schema.js';
import { type Similarity, attend } from '../graphs/attention.js';
import { flipBack, roiAlign, withOffsets } from '../graphs/alignment.js';
import { encode, headSizes, perView, projectDense } from '../graphs/encoder.js';
import { mlp, mlp2d } from '../graphs/heads.js';
import { NAMES, VIEWS, type ViewIndex, declareDenseTargets, declareDenseWeight, declareGlobalTargets, declareOffsets, declareRoiPositions, declareViews, other } from '../graphs/io.js';
import { byolLoss, cellsAsRows, clusterConsistency, featureConsistency, weightedPairMean } from '../graphs/losses.js';
import { globalContrast, queueContrast } from '../graphs/moco.js';
import type { Graph, Value } from '../onnx/ir.js';
import { add } from '../onnx/ops/Add.js';
import { neg } from '../onnx/ops/Neg.js';
import { reduceMean } from '../onnx/ops/ReduceMean.js';
import { reshape } from '../onnx/ops/Reshape.js';
import { type KMeansBackend, type LossTerms, type TargetLink, defineMethod, weighted } from './method.js';

const KMEANS_BACKENDS: readonly KMeansBackend[] = ['graph', 'ts'];

export const ALIGNMENTS = ['offset', 'roi'] as const;
export const DENSE_TARGETS = ['kmeans', 'features'] as const;
export const SIMILARITIES: readonly Similarity[] = ['cos-pow', 'softmax'];
export type Alignment = (typeof ALIGNMENTS)[number];
export type DenseTarget = (typeof DENSE_TARGETS)[number];

declare module '../config/schema.js' {
  interface MethodFields {
    readonly alignment: Alignment;
    readonly dense_target: DenseTarget;
    readonly attention: { readonly sim: Similarity; readonly gamma: number; readonly residual: boolean };
    readonly kmeans: { readonly k: number; readonly iters: number; readonly backend: KMeansBackend };
  }
  interface DataConfig {
    readonly iou_threshold: number;
    readonly iou_max_tries: number;
    readonly roi_size: number;
  }
  interface HeadsConfig {
    readonly dense_proj_hidden: number;
    readonly dense_proj_dim: number;
    readonly dense_pred_hidden: number;
  }
  interface LossConfig {
    readonly w_dense: number;
  }
}

const FIELDS = [
  oneOf('alignment', ALIGNMENTS, 'offset', "dense alignment of the two views: 'offset' (ΔC map as 2 extra predictor channels) or 'roi' (S×S RoIAlign of the box intersection) (supplement A5)"),
  oneOf('dense_target', DENSE_TARGETS, 'kmeans', "dense target: 'kmeans' (cluster centroids of the target map) or 'features' (the target map itself, supplement B.1)"),
  float('data.iou_threshold', 0.5, PROB, 'a view pair enters the dense loss only if IoU(box1, box2) ≥ this'),
  int('data.iou_max_tries', 20, AT_LEAST_1, 'crop pairs drawn before a pair is kept for the global loss only'),
  int('data.roi_size', 7, AT_LEAST_1, 'S: RoI alignment resamples the box intersection to S×S cells', { when: { alignment: 'roi' } }),
  int('heads.dense_proj_hidden', 4096, AT_LEAST_1, 'dense projector hidden width (1×1 convs)'),
  int('heads.dense_proj_dim', 256, AT_LEAST_1, 'dense projection (and prediction) width'),
  int('heads.dense_pred_hidden', 4096, AT_LEAST_1, 'dense predictor hidden width', { when: { framework: 'byol' } }),
  oneOf('attention.sim', SIMILARITIES, 'cos-pow', "self-attention similarity: 'cos-pow' = max(cos, 0)^gamma (PixPro's PPM) or 'softmax' of scaled dot products"),
  float('attention.gamma', 2, { min: 0, minOpen: true }, "exponent of 'cos-pow'", { when: { 'attention.sim': 'cos-pow' } }),
  bool('attention.residual', false, 'add q(x(i,j)) to the attention sum (supplement A5: off for offset alignment)'),
  int('kmeans.k', 4, AT_LEAST_1, 'clusters of the per-image cosine K-means on the aligned target map', { when: { dense_target: 'kmeans' } }),
  int('kmeans.iters', 10, AT_LEAST_1, 'K-means iterations after the seeded k-means++ initialisation', { when: { dense_target: 'kmeans' } }),
  oneOf('kmeans.backend', KMEANS_BACKENDS, 'graph', "where K-means runs: 'graph' (inside the target forward, on the device: no map crosses to the host) or 'ts' (on the host between the graphs, float64); the same algorithm and seeds, equal up to float32 rounding", { when: { dense_target: 'kmeans' } }),
  float('loss.w_dense', 1, { min: 0 }, 'weight of the dense (2D) loss'),
];

/** The grid the dense loss and K-means work on: the feature map (offset alignment) or S×S (RoI). */
export function denseGridSize(cfg: MultiSiamConfig): MapSize {
  return cfg.alignment === 'roi' ? { h: cfg.data.roi_size, w: cfg.data.roi_size } : featureMapSize(cfg);
}

const RULES: readonly Rule[] = [
  {
    doc: "framework 'moco' requires alignment 'roi' (supplement B.2)",
    check: (c) =>
      c.framework === 'moco' && c.alignment !== 'roi'
        ? {
            fields: ['framework', 'alignment'],
            problem: `framework 'moco' with alignment '${c.alignment}' is not defined (supplement B.2 aligns with RoIAlign before the projectors)`,
            allowed: "alignment 'roi' when framework is 'moco'",
          }
        : null,
  },
  {
    doc: "framework 'moco' uses K-means positives; dense_target 'features' (supplement B.1) is BYOL-based",
    check: (c) =>
      c.framework === 'moco' && c.dense_target !== 'kmeans'
        ? {
            fields: ['framework', 'dense_target'],
            problem: `dense_target '${c.dense_target}' with framework 'moco' is not defined (supplement B.2's positives are K-means centroids)`,
            allowed: "dense_target 'kmeans' when framework is 'moco'",
          }
        : null,
  },
  {
    doc: 'kmeans.k is at most the number of cells K-means clusters',
    check: (c) => {
      if (c.dense_target !== 'kmeans') return null;
      const { h, w } = denseGridSize(c);
      if (c.kmeans.k <= h * w) return null;
      const grid: ConfigPath[] = c.alignment === 'roi' ? ['data.roi_size'] : ['data.image_size', 'backbone.output_stride'];
      return {
        fields: ['kmeans.k', 'alignment', ...grid],
        problem: `k ${c.kmeans.k} exceeds the ${h * w} cells of the ${h}×${w} ${c.alignment === 'roi' ? 'RoI grid' : 'feature map'}`,
        allowed: `kmeans.k ≤ ${h * w}`,
      };
    },
  },
  {
    doc: 'some loss term has a positive weight',
    check: (c) =>
      c.loss.w_global + c.loss.w_dense > 0 ? null : { fields: ['loss.w_global', 'loss.w_dense'], problem: 'both weights are 0, so nothing is trained', allowed: 'w_global + w_dense > 0' },
  },
];

/** Alignment inputs: ΔC of view 1 against view 2, or each view's RoI sampling positions. */
type Alignment2D = { readonly kind: 'offset'; readonly offset12: Value } | { readonly kind: 'roi'; readonly positions: Readonly<Record<ViewIndex, Value>>; readonly size: number };

function declareAlignment(g: Graph, cfg: MultiSiamConfig): Alignment2D {
  if (cfg.alignment === 'offset') return { kind: 'offset', offset12: declareOffsets(g, cfg) };
  return { kind: 'roi', size: cfg.data.roi_size, positions: declareRoiPositions(g, cfg, cfg.data.roi_size) };
}

/** ΔC for view v as the online view: the input map is view 1's; view 2 sees its negation. */
function offsetsFor(v: ViewIndex, offset12: Value): Value {
  return v === 1 ? offset12 : neg(offset12);
}

/**
 * The map a view contributes to the dense loss, flipped back and aligned. BYOL framework: the dense
 * projection of the backbone map (R online, R' target). MoCo framework: the backbone map resampled
 * on the RoI, which the projector (with attention online) then maps.
 */
function aligned(map: Value, flipped: Value, v: ViewIndex, alignment: Alignment2D): Value {
  const back = flipBack(map, flipped);
  return alignment.kind === 'roi' ? roiAlign(back, alignment.positions[v], alignment.size) : back;
}

const QUEUE_DENSE = 'queue_dense';

function online(g: Graph, cfg: MultiSiamConfig): LossTerms {
  const views = declareViews(g, cfg);
  const alignment = declareAlignment(g, cfg);
  const denseWeight = declareDenseWeight(g, cfg);
  const zTargets = declareGlobalTargets(g, cfg);
  const denseTargets = declareDenseTargets(g, cfg, cfg.heads.dense_proj_dim, denseGridSize(cfg));
  const sum = (terms: readonly Value[]): Value => add(terms[0]!, terms[1]!);

  if (cfg.framework === 'moco') {
    const b = cfg.train.batch_size;
    const out = perView(g, (v) => {
      const { features, z } = encode(views[v].image, cfg);
      const r = aligned(features, views[v].flipped, v, alignment);
      return { z, dense: attend(r, projectDense(r, cfg), cfg.attention) };
    });
    const global = globalContrast(g, cfg, { 1: out[1].z, 2: out[2].z }, zTargets);
    // The dense queue takes both views' pooled target dense maps G' (their own inputs, since the
    // dense targets are K-means centroids); each image's cells are averaged, then weighted by pair.
    const pooled = (v: ViewIndex): Value => g.input(denseKeyInput(v), 'float32', [b, cfg.heads.dense_proj_dim], 'data', { kind: 'queue_keys', queue: QUEUE_DENSE, view: v });
    const direction = (v: ViewIndex) => ({ queries: cellsAsRows(out[v].dense), positives: cellsAsRows(denseTargets[v]) });
    const perImage = (perCell: Value): Value => weightedPairMean(reduceMean(reshape(perCell, [b, -1]), [1]), denseWeight);
    const dense = queueContrast(g, cfg, QUEUE_DENSE, { 1: direction(1), 2: direction(2) }, { 1: pooled(1), 2: pooled(2) }, perImage);
    return withTerms(cfg, global, dense);
  }

  const sizes = headSizes(cfg);
  const consistency = cfg.dense_target === 'kmeans' ? clusterConsistency : featureConsistency;
  const out = perView(g, (v) => {
    const { features, z } = encode(views[v].image, cfg);
    const p = g.scope('predictor', () => mlp(z, sizes.predictor, true));
    const r = aligned(projectDense(features, cfg), views[v].flipped, v, alignment);
    const x = alignment.kind === 'offset' ? withOffsets(r, offsetsFor(v, alignment.offset12)) : r;
    const q = attend(r, g.scope('dense_predictor', () => mlp2d(x, sizes.densePredictor, true)), cfg.attention);
    return { p, q };
  });
  const globalTerms = VIEWS.map((v) => byolLoss(out[v].p, zTargets[v]));
  const denseTerms = VIEWS.map((v) => weightedPairMean(consistency(out[v].q, denseTargets[v]), denseWeight));
  return withTerms(cfg, sum(globalTerms), sum(denseTerms));
}

function withTerms(cfg: MultiSiamConfig, global: Value, dense: Value): LossTerms {
  return { total: weighted([[global, cfg.loss.w_global], [dense, cfg.loss.w_dense]]), terms: { global, dense } };
}

/** The pooled target dense map of view v, enqueued as a dense key (MoCo framework). */
function denseKeyInput(v: ViewIndex): string {
  return `dense_key${v}`;
}

/** The target forward: z' (`z1`, `z2`) and the aligned dense map (`dense1`, `dense2`) of each view (plus pooled keys for MoCo). */
function target(g: Graph, cfg: MultiSiamConfig): Record<string, Value> {
  const views = declareViews(g, cfg);
  const alignment = declareAlignment(g, cfg);
  const out = g.scope('target', () =>
    perView(g, (v) => {
      const { features, z } = encode(views[v].image, cfg);
      const dense = cfg.framework === 'moco' ? projectDense(aligned(features, views[v].flipped, v, alignment), cfg) : aligned(projectDense(features, cfg), views[v].flipped, v, alignment);
      return { z, dense };
    }),
  );
  const outputs: Record<string, Value> = { z1: out[1].z, z2: out[2].z, dense1: out[1].dense, dense2: out[2].dense };
  if (cfg.framework === 'moco') for (const v of VIEWS) outputs[`pooled${v}`] = reduceMean(out[v].dense, [2, 3]);
  return outputs;
}

function targets(cfg: MultiSiamConfig): TargetLink[] {
  const dense = cfg.dense_target === 'kmeans' ? ({ kind: 'kmeans', k: cfg.kmeans.k, iters: cfg.kmeans.iters, backend: cfg.kmeans.backend } as const) : ({ kind: 'copy' } as const);
  return VIEWS.flatMap((v): TargetLink[] => [
    { input: NAMES.targetZ(v), output: `z${other(v)}`, transform: { kind: 'copy' } },
    { input: NAMES.targetDense(v), output: `dense${other(v)}`, transform: dense },
    ...(cfg.framework === 'moco' ? [{ input: denseKeyInput(v), output: `pooled${v}`, transform: { kind: 'copy' } } as const] : []),
  ]);
}

const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

export const multisiam = defineMethod({
  name: 'multisiam',
  title: 'MultiSiam (Chen et al., ICCV 2021): global BYOL loss + dense self-attention loss against intra-image K-means targets',
  kind: 'method',
  frameworks: ['byol', 'moco'],
  fields: FIELDS,
  reads: [],
  defaults: {},
  rules: RULES,
  online,
  target,
  targets,
  onlineOnly: (cfg) => (cfg.framework === 'moco' ? [] : ['predictor.', 'dense_predictor.']),
  momentum: (cfg) => (cfg.framework === 'moco' ? { kind: 'constant', value: cfg.moco.momentum } : { kind: 'cosine', base: cfg.ema.base_momentum }),
  pairs: (cfg) => ({ iouThreshold: cfg.data.iou_threshold, iouMaxTries: cfg.data.iou_max_tries, roiSize: cfg.data.roi_size }),
  describe: (cfg) => {
    const { h, w } = featureMapSize(cfg);
    const hd = cfg.heads;
    const moco = cfg.framework === 'moco';
    return {
      method: `multisiam, ${cfg.framework} framework`,
      heads: moco
        ? `projector ${hd.proj_hidden}→${hd.proj_dim}, dense projector ${hd.dense_proj_hidden}→${hd.dense_proj_dim} (no predictors)`
        : `projector ${hd.proj_hidden}→${hd.proj_dim}, predictor ${hd.pred_hidden}→${hd.proj_dim}, dense projector ${hd.dense_proj_hidden}→${hd.dense_proj_dim}, dense predictor ${hd.dense_pred_hidden}→${hd.dense_proj_dim}`,
      alignment: cfg.alignment === 'roi' ? `roi (${cfg.data.roi_size}×${cfg.data.roi_size} cells)` : `offset (ΔC appended, ${h}×${w} cells)`,
      attention: `${cfg.attention.sim}${cfg.attention.sim === 'cos-pow' ? `, γ ${cfg.attention.gamma}` : ''}, residual ${yesNo(cfg.attention.residual)}`,
      dense_target: cfg.dense_target === 'kmeans' ? `kmeans (k ${cfg.kmeans.k}, ${cfg.kmeans.iters} iterations, in the ${cfg.kmeans.backend === 'graph' ? 'graph' : 'host'})` : 'features (w/o K-means)',
      loss: moco
        ? `InfoNCE, w_global ${cfg.loss.w_global}, w_dense ${cfg.loss.w_dense}, τ ${cfg.moco.temperature}, queue ${cfg.moco.queue_size}`
        : `w_global ${cfg.loss.w_global}, w_dense ${cfg.loss.w_dense}`,
      target: moco ? `momentum encoder, momentum ${cfg.moco.momentum}` : `EMA, base momentum ${cfg.ema.base_momentum} → 1 (cosine)`,
    };
  },
});
