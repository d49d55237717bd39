/**
 * The DenseCL baseline (Wang, Zhang, Shen, Kong, Li, "Dense Contrastive Learning for
 * Self-Supervised Visual Pre-Training", CVPR 2021), as in WXinlong/DenseCL
 * (`openselfsup/models/densecl.py`, `necks.py: DenseCLNeck`, `configs/selfsup/densecl/
 * densecl_imagenet_200ep.py`): the MoCo-v2 global branch (./mocov2.ts, src/graphs/moco.ts) plus a
 * dense branch:
 * - a dense projection head on the last-stage map, 1×1 conv–ReLU–1×1 conv without BN
 *   (`DenseCLNeck.mlp2`; sizes `heads.dense_proj_hidden` → `heads.dense_proj_dim`, 2048 → 128 by
 *   default as in the paper);
 * - correspondence: each query cell is matched with the key cell whose **backbone** feature is the
 *   most cosine-similar (`backbone_sim_matrix.max(dim=2)[1]`), the query side from the online
 *   network, the key side from the key encoder; the matching carries no gradient;
 * - dense InfoNCE (τ = `moco.temperature`) of every query cell against its matched key cell and a
 *   second queue of pooled dense keys (`queue2`: normalize(mean over cells of the key's dense
 *   projection)), a mean over all cells of the batch;
 * - loss = (1 − λ)·global + λ·dense with λ = 0.5: here `loss.w_global` (1 − λ) and `loss.w_dense`
 *   (λ), both 0.5 by default, so the terms are logged and weighted like every other method's.
 *
 * Deviations: those of MoCo-v2 (./mocov2.ts: symmetrised, both views' keys enqueued, no shuffling
 * BN, BN and biases without weight decay), applied to both branches.
 */
import { backboneChannels, featureMapSize } from '../config/derived.js';
import type { MultiSiamConfig } from '../config/schema.js';
import { type Encoded, headSizes, perView, pool } from '../graphs/encoder.js';
import { mocoMlp2d } from '../graphs/heads.js';
import { NAMES, VIEWS, type ViewIndex, declareDenseTargets, declareGlobalTargets, declareViews, other } from '../graphs/io.js';
import { cellsAsRows } from '../graphs/losses.js';
import { encodeMoco, globalContrast, queueContrast } from '../graphs/moco.js';
import { l2Normalize } from '../onnx/composite/math.js';
import { tensor } from '../onnx/constant.js';
import type { Graph, Value } from '../onnx/ir.js';
import { cast } from '../onnx/ops/Cast.js';
import { equal } from '../onnx/ops/Equal.js';
import { matMul } from '../onnx/ops/MatMul.js';
import { reduceMax } from '../onnx/ops/ReduceMax.js';
import { relu } from '../onnx/ops/Relu.js';
import { reshape } from '../onnx/ops/Reshape.js';
import { stopGradient } from '../onnx/ops/StopGradient.js';
import { transpose } from '../onnx/ops/Transpose.js';
import { ANY_PAIR, type LossTerms, type TargetLink, defineMethod, weighted } from './method.js';
import { MOCO_V2_DEFAULTS, globalKeyLinks, mocoMomentum } from './mocov2.js';

const QUEUE_DENSE = 'queue_dense';

/** The key encoder's backbone map of the other view, supervising view v's matching. */
function featureTargetInput(v: ViewIndex): string {
  return `target_features${v}`;
}

interface DenseEncoded extends Encoded {
  /** The dense projection (B, D, h, w), not normalised. */
  readonly dense: Value;
}

function encodeDense(image: Value, cfg: MultiSiamConfig): DenseEncoded {
  const { features, z } = encodeMoco(image, cfg);
  const dense = image.graph.scope('dense_projector', () => mocoMlp2d(features, headSizes(cfg).denseProjector));
  return { features, z, dense };
}

/**
 * One-hot of the first maximum along the last axis of `x` (B, N, M): ArgMax has no WebGPU kernel
 * in ONNX Runtime 1.29, so, as the max-pool backward does (src/onnx/ops/MaxPool.ts), Equal with the
 * maximum marks every maximal entry and relu(hits[t] − Σ_{t' < t} hits[t']) keeps the first; the
 * lowest index is what `torch.max(dim)` returns on ties, as DenseCL's matching does.
 */
function firstMaxOneHot(x: Value): Value {
  const m = x.shape[2]!;
  const hits = cast(equal(x, reduceMax(x, [2], true)), 'float32');
  const firstOf = new Float32Array(m * m);
  for (let u = 0; u < m; u++) for (let t = u; t < m; t++) firstOf[u * m + t] = u === t ? 1 : -1;
  return relu(matMul(hits, tensor(x.graph, firstOf, [m, m])));
}

/**
 * The positive key of every query cell, (B·N, D) in `cellsAsRows` order: the key grid's cell whose
 * backbone feature is the most cosine-similar to the query cell's (DenseCL's `densecl_sim_ind`).
 * `queryFeatures` (online) and `keyFeatures` (key encoder) are backbone maps (B, C, h, w);
 * `keyGrid` is the key's dense projection (B, D, h, w). No gradient flows through the match.
 */
function matchedKeys(queryFeatures: Value, keyFeatures: Value, keyGrid: Value): Value {
  const [b, c, h, w] = queryFeatures.shape as [number, number, number, number];
  const d = keyGrid.shape[1]!;
  const cells = (map: Value, channels: number): Value => reshape(map, [b, channels, h * w]);
  const q = l2Normalize(cells(stopGradient(queryFeatures), c), 1);
  const k = l2Normalize(cells(keyFeatures, c), 1);
  const match = firstMaxOneHot(matMul(transpose(q, [0, 2, 1]), k)); // (B, N query cells, N key cells)
  const keys = matMul(match, transpose(cells(stopGradient(keyGrid), d), [0, 2, 1])); // (B, N, D)
  return reshape(keys, [b * h * w, d]);
}

function online(g: Graph, cfg: MultiSiamConfig): LossTerms {
  const views = declareViews(g, cfg);
  const grid = featureMapSize(cfg);
  const zKeys = declareGlobalTargets(g, cfg);
  const denseKeys = declareDenseTargets(g, cfg, cfg.heads.dense_proj_dim, grid);
  const featureShape = [cfg.train.batch_size, backboneChannels(cfg).out[3], grid.h, grid.w];
  const featureKeys = perView(g, (v) => g.input(featureTargetInput(v), 'float32', featureShape, 'data', { kind: 'target_features', supervises_view: v, from_view: other(v) }));
  const out = perView(g, (v) => encodeDense(views[v].image, cfg));
  const global = globalContrast(g, cfg, { 1: out[1].z, 2: out[2].z }, zKeys);
  const direction = (v: ViewIndex) => ({ queries: cellsAsRows(out[v].dense), positives: matchedKeys(out[v].features, featureKeys[v], denseKeys[v]) });
  // The dense queue takes each view's pooled key projection (DenseCL's k2 = avgpool2(mlp2(F'))).
  const dense = queueContrast(g, cfg, QUEUE_DENSE, { 1: direction(1), 2: direction(2) }, { 1: pool(denseKeys[2]), 2: pool(denseKeys[1]) });
  return { total: weighted([[global, cfg.loss.w_global], [dense, cfg.loss.w_dense]]), terms: { global, dense } };
}

/** The key encoder on both views: z' (`z1`, `z2`), the dense projection (`dense1`, `dense2`) and the backbone map (`features1`, `features2`). */
function target(g: Graph, cfg: MultiSiamConfig): Record<string, Value> {
  const views = declareViews(g, cfg);
  const out = g.scope('target', () => perView(g, (v) => encodeDense(views[v].image, cfg)));
  return Object.fromEntries(VIEWS.flatMap((v) => [[`z${v}`, out[v].z], [`dense${v}`, out[v].dense], [`features${v}`, out[v].features]]));
}

function targets(): TargetLink[] {
  return [
    ...globalKeyLinks(),
    ...VIEWS.flatMap((v): TargetLink[] => [
      { input: NAMES.targetDense(v), output: `dense${other(v)}`, transform: { kind: 'copy' } },
      { input: featureTargetInput(v), output: `features${other(v)}`, transform: { kind: 'copy' } },
    ]),
  ];
}

export const densecl = defineMethod({
  name: 'densecl',
  title: 'DenseCL (Wang et al., CVPR 2021): MoCo-v2 plus dense InfoNCE between cells matched by backbone-feature similarity',
  kind: 'baseline',
  frameworks: ['moco'],
  fields: [],
  reads: ['heads.dense_proj_hidden', 'heads.dense_proj_dim', 'loss.w_dense'],
  defaults: {
    ...MOCO_V2_DEFAULTS,
    heads: { ...MOCO_V2_DEFAULTS.heads, dense_proj_hidden: 2048, dense_proj_dim: 128 },
    loss: { w_global: 0.5, w_dense: 0.5 },
  },
  rules: [
    {
      doc: "method 'densecl': some loss term has a positive weight",
      check: (c) =>
        c.loss.w_global + c.loss.w_dense > 0 ? null : { fields: ['loss.w_global', 'loss.w_dense'], problem: 'both weights are 0, so nothing is trained', allowed: 'w_global + w_dense > 0' },
    },
  ],
  online,
  target,
  targets,
  onlineOnly: () => [],
  momentum: mocoMomentum,
  pairs: () => ANY_PAIR,
  describe: (cfg) => {
    const { h, w } = featureMapSize(cfg);
    const hd = cfg.heads;
    return {
      method: 'densecl (DenseCL baseline, symmetrised)',
      heads: `projector ${hd.proj_hidden}→${hd.proj_dim}, dense projector ${hd.dense_proj_hidden}→${hd.dense_proj_dim} (no BN)`,
      matching: `argmax backbone cosine over ${h}×${w} cells`,
      loss: `InfoNCE, w_global ${cfg.loss.w_global}, w_dense ${cfg.loss.w_dense}, τ ${cfg.moco.temperature}, queues ${cfg.moco.queue_size} (both views' keys)`,
      target: `momentum encoder, momentum ${cfg.moco.momentum}`,
    };
  },
});
