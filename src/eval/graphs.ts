/**
 * The dense probe's graphs, built with our own graph builder on the frozen backbone's cached
 * feature maps (the backbone itself is not in them):
 *
 *   features (B, C, h, w) → head → logits (B, K, h, w) → bilinear upsampling → (B, K, H·W)
 *
 * - head `linear`: one 1×1 conv C → K (a per-pixel linear classifier); head `conv`: 1×1 conv →
 *   BN → ReLU → 1×1 conv (src/graphs/heads.ts `mlp2d`, hidden width PROBE_HIDDEN), all under `head.`.
 * - Upsampling: the logits, not the labels, are brought to the label grid, as segmentation heads
 *   do (mmseg's `resize(…, mode='bilinear', align_corners=False)`), so every labelled pixel counts
 *   and a thin pole or a far pedestrian is scored where it is rather than voted away by a coarse
 *   cell. Bilinear interpolation is linear, so it is one MatMul with a fixed (h·w, H·W) matrix.
 * - Loss: per-pixel softmax cross-entropy against one-hot labels (B, K, H·W), averaged over the
 *   labelled pixels; a pixel whose one-hot column is all zero carries no label and counts nowhere.
 *
 * The train step adds the gradient (src/onnx/autodiff.ts) and an in-graph SGD-momentum update
 * (src/graphs/optimizers.ts `assembleTrainStep`); the evaluation graph outputs the upsampled logits
 * with BN on its running statistics.
 */
import { type TrainStep, assembleTrainStep } from '../graphs/optimizers.js';
import { conv1x1 } from '../graphs/layers.js';
import { mlp2d } from '../graphs/heads.js';
import { logSoftmax } from '../onnx/composite/math.js';
import { tensor } from '../onnx/constant.js';
import { Graph, type Value } from '../onnx/ir.js';
import { div, matMul, max, mul, neg, reduceSum, reshape } from '../onnx/ops/index.js';

export type ProbeHead = 'linear' | 'conv';
export const PROBE_HEADS: readonly ProbeHead[] = ['linear', 'conv'];
/** Hidden channels of the conv head. */
export const PROBE_HIDDEN = 256;

export interface ProbeShape {
  /** Images per graph run (static). */
  readonly batch: number;
  /** Channels, height and width of the backbone's feature map. */
  readonly channels: number;
  readonly featureSize: readonly [number, number];
  /** Height and width of the label grid the logits are upsampled to. */
  readonly labelSize: readonly [number, number];
  readonly classes: number;
}

/** Graph input and output names the probe loop feeds and reads. */
export const PROBE_IO = { features: 'features', labels: 'labels', logits: 'logits' } as const;

/**
 * (n_out, n_in) weights of 1-D bilinear resampling with align_corners=False (PyTorch's
 * F.interpolate default): output cell i samples input coordinate (i + ½)·n_in/n_out − ½, clamped
 * to [0, n_in − 1].
 */
export function bilinearWeights(nIn: number, nOut: number): Float64Array {
  const w = new Float64Array(nOut * nIn);
  for (let i = 0; i < nOut; i++) {
    const src = Math.min(nIn - 1, Math.max(0, ((i + 0.5) * nIn) / nOut - 0.5));
    const lo = Math.floor(src);
    const hi = Math.min(nIn - 1, lo + 1);
    w[i * nIn + lo] += 1 - (src - lo);
    w[i * nIn + hi] += src - lo;
  }
  return w;
}

/** The (h·w, H·W) matrix M with upsampled = x · M for x flattened over (h, w): the outer product of the two 1-D resamplings. */
export function upsampleMatrix(from: readonly [number, number], to: readonly [number, number]): Float32Array {
  const [h, w] = from;
  const [H, W] = to;
  const rows = bilinearWeights(h, H);
  const cols = bilinearWeights(w, W);
  const m = new Float32Array(h * w * H * W);
  for (let y = 0; y < H; y++) {
    for (let i = 0; i < h; i++) {
      const ry = rows[y * h + i]!;
      if (ry === 0) continue;
      for (let x = 0; x < W; x++) {
        for (let j = 0; j < w; j++) m[(i * w + j) * H * W + y * W + x] = ry * cols[x * w + j]!;
      }
    }
  }
  return m;
}

/** Features in, upsampled logits (B, K, H·W) out; parameters and buffers declared under `head.`. */
function logits(g: Graph, s: ProbeShape, head: ProbeHead, training: boolean): Value {
  const [h, w] = s.featureSize;
  const features = g.input(PROBE_IO.features, 'float32', [s.batch, s.channels, h, w]);
  const low = g.scope('head', () => (head === 'linear' ? conv1x1(features, s.classes) : mlp2d(features, { hidden: PROBE_HIDDEN, out: s.classes }, training)));
  const m = tensor(g, upsampleMatrix(s.featureSize, s.labelSize), [h * w, s.labelSize[0] * s.labelSize[1]]);
  return matMul(reshape(low, [s.batch, s.classes, h * w]), m);
}

/** The probe's train step: loss, gradients, SGD with momentum, BN statistics (conv head); see the file comment. */
export function probeTrainStep(s: ProbeShape, head: ProbeHead, momentum: number): { graph: Graph; step: TrainStep } {
  const g = new Graph('probe_train_step');
  const out = logits(g, s, head, true);
  const labels = g.input(PROBE_IO.labels, 'float32', [s.batch, s.classes, s.labelSize[0] * s.labelSize[1]]);
  // Σ over labelled pixels of −log p(label) / their count (at least 1, for a batch with none).
  const nll = neg(reduceSum(mul(labels, logSoftmax(out, 1))));
  const loss = div(nll, max(reduceSum(labels), 1));
  const step = assembleTrainStep(g, loss, { kind: 'sgd', momentum });
  return { graph: g, step };
}

/** The probe at evaluation: features → upsampled logits `logits` (B, K, H·W), BN on running statistics. */
export function probeEval(s: ProbeShape, head: ProbeHead): Graph {
  const g = new Graph('probe_eval');
  g.output(PROBE_IO.logits, logits(g, s, head, false));
  return g;
}
