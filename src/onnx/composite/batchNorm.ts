/**
 * Batch normalisation (torch.nn.BatchNorm1d/2d semantics) built from primitive ops, so that it runs
 * on every execution provider (WebGPU has no training-mode BatchNormalization kernel) and the
 * autodiff engine derives its backward pass from the core rules.
 *
 * Declared in the caller's current scope (call it inside `graph.scope('bn1', …)`):
 * - parameters `weight` (init 1) and `bias` (init 0), optimizer group `no_decay`;
 * - buffers `running_mean` (init 0) and `running_var` (init 1).
 *
 * Training mode normalises with the batch mean and the biased batch variance (over N for (N, C),
 * over N·H·W for (N, C, H, W)) and records the running-statistics updates torch makes,
 *   running_mean ← (1 − m)·running_mean + m·mean,
 *   running_var  ← (1 − m)·running_var  + m·var·n/(n − 1)   (unbiased, n values per channel),
 * with `graph.updateBuffer`, so step graphs output them as `next.<scope>.running_mean` etc. No
 * gradient flows into the statistics updates. Eval mode uses the running statistics. A BN whose
 * buffers were already updated in the same graph (the same module run on a second view) starts
 * from the updated values, so two runs compose as two torch forward calls do.
 *
 * `num_batches_tracked` (torchvision's int64 counter) is deliberately not a graph input: it affects
 * nothing when momentum is set, so the torchvision export writes it (the number of optimizer steps
 * taken) beside the running statistics.
 */
import type { Value } from '../ir.js';
import { add } from '../ops/Add.js';
import { div } from '../ops/Div.js';
import { mul } from '../ops/Mul.js';
import { reduceMean } from '../ops/ReduceMean.js';
import { reshape } from '../ops/Reshape.js';
import { sqrt } from '../ops/Sqrt.js';
import { stopGradient } from '../ops/StopGradient.js';
import { sub } from '../ops/Sub.js';
import { ShapeError } from '../errors.js';

export interface BatchNormOptions {
  /** Batch statistics and running-statistics updates (true), or the running statistics (false). */
  readonly training: boolean;
  /** Added to the variance; torch's default 1e-5. */
  readonly eps?: number;
  /** Weight of the new batch statistic in the running averages; torch's default 0.1. */
  readonly momentum?: number;
}

/** The tensors batch normalisation reads: affine parameters and running statistics, each (C). */
export interface BatchNormTensors {
  readonly weight: Value;
  readonly bias: Value;
  readonly runningMean: Value;
  readonly runningVar: Value;
}

export interface BatchNormResult {
  readonly y: Value;
  /** Updated running statistics (training mode only); not differentiated. */
  readonly runningMean?: Value;
  readonly runningVar?: Value;
}

/**
 * Normalises an (N, C) or (N, C, H, W) float32 tensor per channel: declares `weight`, `bias`,
 * `running_mean`, `running_var` in the current scope and, in training mode, records the running
 * statistics updates with `graph.updateBuffer`. See the file comment.
 */
export function batchNorm(x: Value, options: BatchNormOptions): Value {
  const graph = x.graph;
  const c = checkInput(x);
  const tensors: BatchNormTensors = {
    weight: graph.param('weight', [c], { kind: 'constant', value: 1 }, 'no_decay'),
    bias: graph.param('bias', [c], { kind: 'constant', value: 0 }, 'no_decay'),
    runningMean: graph.buffer('running_mean', [c], { kind: 'constant', value: 0 }),
    runningVar: graph.buffer('running_var', [c], { kind: 'constant', value: 1 }),
  };
  // The latest running statistics, should an earlier node in this graph have updated them.
  const current = { ...tensors, runningMean: graph.bufferValue(tensors.runningMean), runningVar: graph.bufferValue(tensors.runningVar) };
  const r = batchNormApply(x, current, options);
  if (r.runningMean && r.runningVar) {
    graph.updateBuffer(tensors.runningMean, r.runningMean);
    graph.updateBuffer(tensors.runningVar, r.runningVar);
  }
  return r.y;
}

/** Batch normalisation over given tensors (no declarations, no buffer updates recorded). */
export function batchNormApply(x: Value, t: BatchNormTensors, options: BatchNormOptions): BatchNormResult {
  const where = `batchNorm (scope '${x.graph.scopedName('')}')`;
  const c = checkInput(x);
  for (const v of [t.weight, t.bias, t.runningMean, t.runningVar]) {
    if (v.rank !== 1 || v.shape[0] !== c || v.dtype !== 'float32') throw new ShapeError(`${where}: ${v} must be a float32 vector of the ${c} channels`);
  }
  const eps = options.eps ?? 1e-5;
  const momentum = options.momentum ?? 0.1;
  // Per-channel tensors broadcast against x as (C, 1, 1) for NCHW and (C) for (N, C).
  const perChannel = (v: Value): Value => reshape(v, x.rank === 4 ? [c, 1, 1] : [c]);

  if (!options.training) {
    const scale = mul(t.weight, div(1, sqrt(add(t.runningVar, eps))));
    const shift = sub(t.bias, mul(t.runningMean, scale));
    return { y: add(mul(x, perChannel(scale)), perChannel(shift)) };
  }

  const n = x.size / c;
  if (n < 2) throw new ShapeError(`${where}: training mode needs more than one value per channel, got input ${x}`);
  const axes = x.rank === 4 ? [0, 2, 3] : [0];
  const mean = reduceMean(x, axes, true);
  const centred = sub(x, mean);
  const variance = reduceMean(mul(centred, centred), axes, true);
  const scale = mul(div(1, sqrt(add(variance, eps))), perChannel(t.weight));
  const y = add(mul(centred, scale), perChannel(t.bias));

  const batchMean = reshape(stopGradient(mean), [c]);
  const batchVar = reshape(stopGradient(variance), [c]);
  return {
    y,
    runningMean: add(mul(t.runningMean, 1 - momentum), mul(batchMean, momentum)),
    runningVar: add(mul(t.runningVar, 1 - momentum), mul(batchVar, (momentum * n) / (n - 1))),
  };
}

/** The channel count of a valid input; a ShapeError naming the scope otherwise. */
function checkInput(x: Value): number {
  const where = `batchNorm (scope '${x.graph.scopedName('')}')`;
  if (x.rank !== 2 && x.rank !== 4) throw new ShapeError(`${where}: needs an (N, C) or (N, C, H, W) input, got ${x}`);
  if (x.dtype !== 'float32') throw new ShapeError(`${where}: needs a float32 input, got ${x}`);
  return x.shape[1]!;
}
