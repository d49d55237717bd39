/**
 * What an SSL method contributes to a bundle: the online forward with its loss (which the train
 * step differentiates and the optimizer updates) and the target forward the trainer runs first to
 * produce the targets. Each method lives in its own module on the shared encoder, heads, alignment
 * and losses; METHODS is the registry the bundle builder looks methods up in.
 */
import type { MultiSiamConfig } from '../../src/config/index.js';
import type { Graph, Value } from '../../src/onnx/ir.js';
import { add } from '../../src/onnx/ops/Add.js';
import { mul } from '../../src/onnx/ops/Mul.js';

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
