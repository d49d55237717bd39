/**
 * What an SSL method contributes to a bundle: the online forward with its loss (which the train
 * step differentiates and the optimizer updates) and the target forward the trainer runs first to
 * produce the targets. Each method lives in its own module on the shared encoder, heads, alignment
 * and losses; METHODS is the registry the bundle builder looks methods up in.
 */
import type { MultiSiamConfig } from '../../config/index.js';
import type { Graph, Value } from '../../onnx/ir.js';
import { encode, perView } from '../encoder.js';
import { type AlignmentInputs, type ViewIndex, declareAlignment, declareViews } from '../inputs.js';
import { add } from '../../onnx/ops/Add.js';
import { mul } from '../../onnx/ops/Mul.js';

export interface LossTerms {
  /** w_global·loss_global + w_dense·loss_dense. */
  readonly loss: Value;
  readonly loss_global: Value;
  readonly loss_dense: Value;
}

export interface Method {
  /** Declares the method's data inputs in `g` and builds the online forward and the loss. */
  online(g: Graph, cfg: MultiSiamConfig): LossTerms;
  /** Declares the target forward's inputs in `g` and returns its outputs by name. */
  target(g: Graph, cfg: MultiSiamConfig): Record<string, Value>;
  /** Parameter-name prefixes of the online network that the target network does not have. */
  readonly onlineOnly: readonly string[];
}

/** The loss terms of a method from its two summed terms, weighted by `loss.w_global` and `loss.w_dense`. */
export function weightedLoss(cfg: MultiSiamConfig, lossGlobal: Value, lossDense: Value): LossTerms {
  return { loss: add(mul(lossGlobal, cfg.loss.w_global), mul(lossDense, cfg.loss.w_dense)), loss_global: lossGlobal, loss_dense: lossDense };
}

/** The aligned dense map of view v from its backbone features: R' for the target network. */
export type DenseOfView = (features: Value, flipped: Value, v: ViewIndex, alignment: AlignmentInputs) => Value;

/** The target forward of the dense methods: z' (`z1`, `z2`) and an aligned dense map (`dense1`, `dense2`) per view. */
export function denseTargetForward(g: Graph, cfg: MultiSiamConfig, denseOf: DenseOfView): Record<string, Value> {
  const views = declareViews(g, cfg);
  const alignment = declareAlignment(g, cfg);
  const target = perView(g, (v) => {
    const { features, z } = encode(views[v].image, cfg);
    return { z, dense: denseOf(features, views[v].flipped, v, alignment) };
  });
  return { z1: target[1].z, z2: target[2].z, dense1: target[1].dense, dense2: target[2].dense };
}
