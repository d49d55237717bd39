/**
 * The siamese network shared by the online and target branches of every method: backbone,
 * global projector and dense projector (SPEC §2.3). Parameter names are torchvision's for the
 * backbone and `projector.*`, `dense_projector.*` for the heads, the same in both branches, so the
 * EMA pairs target and online tensors by name.
 */
import type { MultiSiamConfig } from '../config/schema.js';
import type { Graph, Value } from '../onnx/ir.js';
import { reduceMean } from '../onnx/ops/ReduceMean.js';
import { type HeadSize, mlp, mlp2d } from './heads.js';
import type { ViewIndex } from './io.js';
import { resnet } from './resnet.js';

export interface Encoded {
  /** Last-stage map F, (B, C, h, w). */
  readonly features: Value;
  /** Global projection z, (B, D). */
  readonly z: Value;
}

export function headSizes(cfg: MultiSiamConfig): Record<'projector' | 'predictor' | 'denseProjector' | 'densePredictor', HeadSize> {
  const h = cfg.heads;
  return {
    projector: { hidden: h.proj_hidden, out: h.proj_dim },
    predictor: { hidden: h.pred_hidden, out: h.proj_dim },
    denseProjector: { hidden: h.dense_proj_hidden, out: h.dense_proj_dim },
    densePredictor: { hidden: h.dense_pred_hidden, out: h.dense_proj_dim },
  };
}

/** The backbone's last-stage map F (B, C, h, w) of one view; BN in training mode (batch statistics). */
export function backbone(image: Value, cfg: MultiSiamConfig): Value {
  return resnet(image, {
    depth: cfg.backbone.arch === 'resnet50' ? 50 : 18,
    width: cfg.backbone.width,
    outputStride: cfg.backbone.output_stride,
    training: true,
  }).features;
}

/** "Average pool" is the mean over all cells of the view's map (SPEC §2.9). */
export function pool(map: Value): Value {
  return reduceMean(map, [2, 3]);
}

/** Backbone and global projector on one view; BN in training mode (batch statistics). */
export function encode(image: Value, cfg: MultiSiamConfig): Encoded {
  const g = image.graph;
  const features = backbone(image, cfg);
  const z = g.scope('projector', () => mlp(pool(features), headSizes(cfg).projector, true));
  return { features, z };
}

/** The dense projector (1×1-conv MLP) on a map. */
export function projectDense(map: Value, cfg: MultiSiamConfig): Value {
  return map.graph.scope('dense_projector', () => mlp2d(map, headSizes(cfg).denseProjector, true));
}

/** Runs `branch` for each view, the second time on the first view's parameters. */
export function perView<T>(g: Graph, branch: (v: ViewIndex) => T): Record<ViewIndex, T> {
  const first = branch(1);
  const second = g.reusingParams(() => branch(2));
  return { 1: first, 2: second };
}
