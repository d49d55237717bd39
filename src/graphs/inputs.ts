/**
 * The data inputs of the step graphs, declared in one place so the train step, the gradient graph
 * and the target forward agree on names and shapes, and the trainer can feed them by name.
 * Targets are named after the view the target network saw: `target_z2` is z' of view 2, which
 * supervises the online prediction of view 1.
 */
import { type MultiSiamConfig, denseGridSize, featureMapSize } from '../config/index.js';
import type { Graph, Value } from '../onnx/ir.js';

export type ViewIndex = 1 | 2;
export const VIEWS: readonly ViewIndex[] = [1, 2];

export interface ViewInputs {
  /** (B, 3, H, W) normalised images. */
  readonly image: Value;
  /** (B) 1 where the view was horizontally flipped. */
  readonly flipped: Value;
}

/** Alignment inputs: ΔC of view 1 against view 2, or each view's RoI sampling positions. */
export type AlignmentInputs =
  | { readonly kind: 'offset'; readonly offset12: Value }
  | { readonly kind: 'roi'; readonly positions: Readonly<Record<ViewIndex, Value>>; readonly size: number };

export function declareViews(g: Graph, cfg: MultiSiamConfig): Record<ViewIndex, ViewInputs> {
  const b = cfg.train.batch_size;
  const s = cfg.data.image_size;
  const view = (v: ViewIndex): ViewInputs => ({
    image: g.input(`view${v}`, 'float32', [b, 3, s, s]),
    flipped: g.input(`flip${v}`, 'float32', [b]),
  });
  return { 1: view(1), 2: view(2) };
}

export function declareAlignment(g: Graph, cfg: MultiSiamConfig): AlignmentInputs {
  const b = cfg.train.batch_size;
  if (cfg.alignment === 'offset') {
    const { h, w } = featureMapSize(cfg);
    return { kind: 'offset', offset12: g.input('offset12', 'float32', [b, 2, h, w]) };
  }
  const n = cfg.data.roi_size ** 2;
  return { kind: 'roi', size: cfg.data.roi_size, positions: { 1: g.input('roi_pos1', 'float32', [b, n, 2]), 2: g.input('roi_pos2', 'float32', [b, n, 2]) } };
}

/** (B) 1 for pairs that passed the IoU rule, 0 for pairs kept for the global loss only. */
export function declareDenseWeight(g: Graph, cfg: MultiSiamConfig): Value {
  return g.input('dense_weight', 'float32', [cfg.train.batch_size]);
}

/** Target projections z' of each view, (B, D), computed by the target forward. */
export function declareGlobalTargets(g: Graph, cfg: MultiSiamConfig): Record<ViewIndex, Value> {
  const shape = [cfg.train.batch_size, cfg.heads.proj_dim];
  return { 1: g.input('target_z1', 'float32', shape), 2: g.input('target_z2', 'float32', shape) };
}

/** Dense targets of each view (B, D, h, w): K-means centroids of, or the aligned, target map. */
export function declareDenseTargets(g: Graph, cfg: MultiSiamConfig): Record<ViewIndex, Value> {
  const { h, w } = denseGridSize(cfg);
  const shape = [cfg.train.batch_size, cfg.heads.dense_proj_dim, h, w];
  return { 1: g.input('target_dense1', 'float32', shape), 2: g.input('target_dense2', 'float32', shape) };
}

/** MoCo queues of earlier keys (L, D); the trainer enqueues after each step. */
export function declareQueues(g: Graph, cfg: MultiSiamConfig): { global: Value; dense: Value } {
  const l = cfg.moco.queue_size;
  return {
    global: g.input('queue_global', 'float32', [l, cfg.heads.proj_dim], 'queue'),
    dense: g.input('queue_dense', 'float32', [l, cfg.heads.dense_proj_dim], 'queue'),
  };
}

/** The view other than `v`. */
export function other(v: ViewIndex): ViewIndex {
  return v === 1 ? 2 : 1;
}
