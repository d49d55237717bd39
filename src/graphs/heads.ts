/**
 * Projector and predictor heads, laid out as torch `nn.Sequential`s so parameter names match a
 * PyTorch implementation (`projector.0.weight`, `projector.1.running_mean`, `projector.3.bias`).
 *
 * BYOL (Grill et al. 2020, arXiv 2006.07733): "a multi-layer perceptron (MLP) … consisting in a
 * linear layer with output size 4096 followed by batch normalization, rectified linear units
 * (ReLU), and a final linear layer with output dimension 256"; the predictor has the same
 * architecture. The dense heads are the 1×1-convolution version (PixPro/SoCo MLP2d).
 */
import type { Value } from '../onnx/ir.js';
import { batchNorm } from '../onnx/composite/batchNorm.js';
import { relu } from '../onnx/ops/Relu.js';
import { conv1x1, linear } from './layers.js';

export interface HeadSize {
  readonly hidden: number;
  readonly out: number;
}

/** Linear → BN1d → ReLU → Linear on (B, C) vectors, as `<scope>.0`, `.1`, `.3`. */
export function mlp(x: Value, size: HeadSize, training: boolean): Value {
  return sequential(x, size, training, linear);
}

/** 1×1 conv → BN2d → ReLU → 1×1 conv on (B, C, h, w) maps, as `<scope>.0`, `.1`, `.3`. */
export function mlp2d(x: Value, size: HeadSize, training: boolean): Value {
  return sequential(x, size, training, conv1x1);
}

function sequential(x: Value, size: HeadSize, training: boolean, layer: (x: Value, out: number) => Value): Value {
  const g = x.graph;
  const hidden = g.scope(0, () => layer(x, size.hidden));
  const normalised = g.scope(1, () => batchNorm(hidden, { training }));
  return g.scope(3, () => layer(relu(normalised), size.out));
}

/**
 * MoCo-v2's projection head (Chen et al. 2020, arXiv 2003.04297: "a 2-layer MLP head (hidden
 * layer 2048-d, with ReLU)"), and DenseCL's global neck: Linear → ReLU → Linear on (B, C) vectors,
 * no batch norm, as `<scope>.0`, `.2` (DenseCL's `DenseCLNeck.mlp`).
 */
export function mocoMlp(x: Value, size: HeadSize): Value {
  return plainSequential(x, size, linear);
}

/** DenseCL's dense projection head (`DenseCLNeck.mlp2`): 1×1 conv → ReLU → 1×1 conv on (B, C, h, w) maps, as `<scope>.0`, `.2`. */
export function mocoMlp2d(x: Value, size: HeadSize): Value {
  return plainSequential(x, size, conv1x1);
}

function plainSequential(x: Value, size: HeadSize, layer: (x: Value, out: number) => Value): Value {
  const g = x.graph;
  const hidden = g.scope(0, () => layer(x, size.hidden));
  return g.scope(2, () => layer(relu(hidden), size.out));
}
