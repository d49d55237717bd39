/**
 * What the MoCo-v2 baselines share (MoCo-v2, Chen et al. 2020, arXiv 2003.04297; DenseCL, Wang et
 * al., CVPR 2021, which is MoCo-v2 plus a dense branch): the encoder with MoCo-v2's projection head
 * (no BN), and InfoNCE against an in-graph key queue, symmetrised over the two views, with both
 * views' keys enqueued after the step.
 *
 * Symmetrised: MoCo-v2 contrasts one query view with one key view; like MoCo v3 (Chen et al. 2021,
 * arXiv 2104.02057: `ctr(q1, k2) + ctr(q2, k1)`) and solo-learn's MoCo-v2+, each view is the query
 * once and the key once, and the two directions are summed as every loss of this tool is. Unlike
 * solo-learn (one queue per view) both views' keys go into one queue, as the MoCo-based MultiSiam
 * does (SPEC §2.9), so a step enqueues 2B keys.
 */
import type { MultiSiamConfig } from '../config/schema.js';
import type { Graph, Value } from '../onnx/ir.js';
import { add } from '../onnx/ops/Add.js';
import { concat } from '../onnx/ops/Concat.js';
import { reduceMean } from '../onnx/ops/ReduceMean.js';
import { type Encoded, backbone, headSizes, pool } from './encoder.js';
import { mocoMlp } from './heads.js';
import { VIEWS, type ViewIndex } from './io.js';
import { infoNce } from './losses.js';
import { declareQueue, enqueue } from './queue.js';

/** The queue of global keys (normalised projections z' of earlier batches). */
const QUEUE_GLOBAL = 'queue_global';

/** Backbone and MoCo-v2's global projection head (fc–ReLU–fc, `projector.0`, `projector.2`) on one view. */
export function encodeMoco(image: Value, cfg: MultiSiamConfig): Encoded {
  const features = backbone(image, cfg);
  const z = image.graph.scope('projector', () => mocoMlp(pool(features), headSizes(cfg).projector));
  return { features, z };
}

/** One direction of the contrast: the online view's queries against their positive keys from the other view, (M, D) each. */
export interface Contrast {
  readonly queries: Value;
  readonly positives: Value;
}

/**
 * Σ over the two directions of the InfoNCE (τ = `moco.temperature`) of each direction's queries
 * against their positives and the negatives of queue `name` (`moco.queue_size` rows of the keys'
 * width), reduced from one value per query row to a scalar by `reduce` (the mean by default); then
 * `keys[v]`, the target network's (B, D) key of view v, replaces the queue's oldest rows (view 1's
 * keys first), L2-normalised, once the step is adopted.
 */
export function queueContrast(
  g: Graph,
  cfg: MultiSiamConfig,
  name: string,
  directions: Readonly<Record<ViewIndex, Contrast>>,
  keys: Readonly<Record<ViewIndex, Value>>,
  reduce: (perQuery: Value) => Value = reduceMean,
): Value {
  const queue = declareQueue(g, name, cfg.moco.queue_size, keys[1].shape[1]!);
  const [a, b] = VIEWS.map((v) => reduce(infoNce(directions[v].queries, directions[v].positives, queue, cfg.moco.temperature)));
  enqueue(queue, concat([keys[1], keys[2]], 0));
  return add(a!, b!);
}

/**
 * MoCo-v2's global term: each view's projection z against the key z' of the other view
 * (`targets[v]` supervises view v, so it is the other view's key), with the global queue.
 */
export function globalContrast(g: Graph, cfg: MultiSiamConfig, z: Readonly<Record<ViewIndex, Value>>, targets: Readonly<Record<ViewIndex, Value>>): Value {
  return queueContrast(g, cfg, QUEUE_GLOBAL, { 1: { queries: z[1], positives: targets[1] }, 2: { queries: z[2], positives: targets[2] } }, { 1: targets[2], 2: targets[1] });
}
