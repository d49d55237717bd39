/**
 * The names of the step graphs' inputs and outputs, each defined once, and the declarations of the
 * data inputs every method shares. The train step, the gradient graph, the target forward, the
 * trainer, the bundle manifest and the docs all take names from here.
 *
 * Targets are named after the view they supervise: `target_z1` is z' of view 2 (the target network
 * saw view 2), and it supervises the online prediction of view 1. Each data input carries a
 * `meaning` the manifest lists, so a caller outside this code knows what to feed.
 */
import { featureMapSize } from '../config/derived.js';
import type { MultiSiamConfig } from '../config/schema.js';
import { tensor } from '../onnx/constant.js';
import { type Graph, NEXT_PREFIX, type Value } from '../onnx/ir.js';
import { cast } from '../onnx/ops/Cast.js';
import { mul } from '../onnx/ops/Mul.js';
import { sub } from '../onnx/ops/Sub.js';

export type ViewIndex = 1 | 2;
export const VIEWS: readonly ViewIndex[] = [1, 2];

/** The view other than `v`. */
export function other(v: ViewIndex): ViewIndex {
  return v === 1 ? 2 : 1;
}

/** Every input and output name the bundle's graphs share with their callers. */
export const NAMES = {
  view: (v: ViewIndex) => `view${v}`,
  flip: (v: ViewIndex) => `flip${v}`,
  box: (v: ViewIndex) => `box${v}`,
  denseWeight: 'dense_weight',
  offset12: 'offset12',
  roiPositions: (v: ViewIndex) => `roi_pos${v}`,
  /** z' of the other view, supervising view v's prediction. */
  targetZ: (v: ViewIndex) => `target_z${v}`,
  /** The dense target supervising view v (K-means centroids of, or the aligned, target map of the other view). */
  targetDense: (v: ViewIndex) => `target_dense${v}`,
  /** Rows of `queue` that this step's keys overwrite. */
  queueRows: (queue: string) => `${queue}.rows`,
  /** The uniforms (B, k) seeding the in-graph K-means that makes train-step input `input`. */
  kmeansUniforms: (input: string) => `${input}.kmeans_u`,
  lr: 'lr',
  weightDecay: 'weight_decay',
  /** τ of target ← τ·target + (1 − τ)·online. */
  targetMomentum: 'target_momentum',
  loss: 'loss',
  /** One named term of the loss, e.g. `loss_global`, `loss_dense`. */
  lossTerm: (term: string) => `loss_${term}`,
  gradNorm: 'grad_norm',
  /** 1 when the loss, the gradient norm and every updated tensor are finite, else 0. */
  finite: 'finite',
  /** The value state `name` takes after the step (the prefix BN buffer updates get in src/onnx/ir.ts). */
  next: (name: string) => `${NEXT_PREFIX}${name}`,
  /** SGD/LARS momentum buffer of parameter `name`. */
  momentum: (name: string) => `momentum.${name}`,
  /** The target network's copy of online tensor `name`. */
  target: (name: string) => `target.${name}`,
  grad: (name: string) => `grad.${name}`,
} as const;

export { NEXT_PREFIX };
export const MOMENTUM_PREFIX = NAMES.momentum('');
export const TARGET_PREFIX = NAMES.target('');
export const GRAD_PREFIX = NAMES.grad('');
export const LOSS_TERM_PREFIX = NAMES.lossTerm('');

export interface ViewInputs {
  /** (B, 3, H, W) images, normalised in the graph from the uint8 input. */
  readonly image: Value;
  /** (B) 1 where the view was horizontally flipped. */
  readonly flipped: Value;
}

/**
 * Both views as uint8 RGB batches (B, 3, H, W) in [0, 255], normalised in the graph:
 * (x/255 − mean)/std per channel, so a step uploads a quarter of the bytes float32 views would take.
 */
export function declareViews(g: Graph, cfg: MultiSiamConfig): Record<ViewIndex, ViewInputs> {
  const b = cfg.train.batch_size;
  const s = cfg.data.image_size;
  const { mean, std } = cfg.data;
  const offset = tensor(g, mean.map((m) => 255 * m), [3, 1, 1]);
  const scale = tensor(g, std.map((d) => 1 / (255 * d)), [3, 1, 1]);
  const view = (v: ViewIndex): ViewInputs => {
    const raw = g.input(NAMES.view(v), 'uint8', [b, 3, s, s], 'data', { kind: 'image', view: v, layout: 'NCHW RGB', range: '0..255' });
    return {
      image: mul(sub(cast(raw, 'float32'), offset), scale),
      flipped: g.input(NAMES.flip(v), 'float32', [b], 'data', { kind: 'flip', view: v }),
    };
  };
  return { 1: view(1), 2: view(2) };
}

/** Each view's crop box (B, 4): (x1, y1, x2, y2) in the source image, normalised by its width and height. */
export function declareBoxes(g: Graph, cfg: MultiSiamConfig): Record<ViewIndex, Value> {
  const box = (v: ViewIndex) => g.input(NAMES.box(v), 'float32', [cfg.train.batch_size, 4], 'data', { kind: 'crop_box', view: v });
  return { 1: box(1), 2: box(2) };
}

/** ΔC of view 1 (online) against view 2 (target), (B, 2, h, w) on the feature map; view 2 uses its negation. */
export function declareOffsets(g: Graph, cfg: MultiSiamConfig): Value {
  const { h, w } = featureMapSize(cfg);
  return g.input(NAMES.offset12, 'float32', [cfg.train.batch_size, 2, h, w], 'data', { kind: 'offset_map', online: 1, target: 2 });
}

/** Each view's RoI sampling positions (B, S·S, 2): (x, y) in its feature map's index coordinates. */
export function declareRoiPositions(g: Graph, cfg: MultiSiamConfig, size: number): Record<ViewIndex, Value> {
  const positions = (v: ViewIndex) => g.input(NAMES.roiPositions(v), 'float32', [cfg.train.batch_size, size * size, 2], 'data', { kind: 'roi_positions', view: v, size });
  return { 1: positions(1), 2: positions(2) };
}

/** (B) 1 for pairs that passed the IoU rule, 0 for pairs kept for the global loss only. */
export function declareDenseWeight(g: Graph, cfg: MultiSiamConfig): Value {
  return g.input(NAMES.denseWeight, 'float32', [cfg.train.batch_size], 'data', { kind: 'pair_weight' });
}

/** Target projections z' of the other view, (B, D), computed by the target forward. */
export function declareGlobalTargets(g: Graph, cfg: MultiSiamConfig): Record<ViewIndex, Value> {
  const shape = [cfg.train.batch_size, cfg.heads.proj_dim];
  const target = (v: ViewIndex) => g.input(NAMES.targetZ(v), 'float32', shape, 'data', { kind: 'global_target', supervises_view: v, from_view: other(v) });
  return { 1: target(1), 2: target(2) };
}

/** Dense targets (B, D, h, w) of the other view, supervising view v. */
export function declareDenseTargets(g: Graph, cfg: MultiSiamConfig, channels: number, grid: { h: number; w: number }): Record<ViewIndex, Value> {
  const shape = [cfg.train.batch_size, channels, grid.h, grid.w];
  const target = (v: ViewIndex) => g.input(NAMES.targetDense(v), 'float32', shape, 'data', { kind: 'dense_target', supervises_view: v, from_view: other(v) });
  return { 1: target(1), 2: target(2) };
}
