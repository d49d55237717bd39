/**
 * What a self-supervised method is to the rest of the tool. A method module (one file per method,
 * plus one line in ./index.ts) owns everything about itself:
 * - its graphs: the online forward with its named loss terms (which the train step differentiates
 *   and the optimizer updates) and the target forward that produces the targets;
 * - how each target input of the train step is made from the target forward's outputs (as is, or
 *   per-image K-means centroids), and which online modules the target network lacks;
 * - its queues, and what it enqueues (in its online graph, as queue updates);
 * - its target network's momentum schedule, its crop-pair rule;
 * - its config fields (typed by merging into src/config/schema.ts's interfaces), defaults and rules;
 * - its `inspect` summary.
 * The trainer, the bundle builder, inspect and the config rules only ever go through this interface.
 */
import type { ConfigPatch } from '../config/presets.js';
import type { Rule } from '../config/rules.js';
import type { ConfigPath, Field, Framework, MultiSiamConfig } from '../config/schema.js';
import type { Graph, Value } from '../onnx/ir.js';
import { add } from '../onnx/ops/Add.js';
import { mul } from '../onnx/ops/Mul.js';

export interface LossTerms {
  /** The scalar the optimizer minimises. */
  readonly total: Value;
  /** Named scalar terms (`global`, `dense`, …), logged as `loss_<name>`; in the order shown. */
  readonly terms: Readonly<Record<string, Value>>;
}

/** Where per-image K-means runs: on the host between the graphs, or inside the target forward. */
export type KMeansBackend = 'ts' | 'graph';

/**
 * How a train-step data input is made from a target-forward output: `copy` feeds it as it is
 * (projections z'), `kmeans` feeds per-image cosine K-means centroids of a (B, C, h, w) map (SPEC
 * §2.6), computed on the host (`ts`) or by the target forward itself (`graph`, which then outputs
 * the targets under the link's input name and reads the seeding uniforms as an input).
 */
export interface TargetLink {
  /** The train-step input (e.g. `target_dense1`). */
  readonly input: string;
  /** The target-forward output it comes from (e.g. `dense2`; for `graph` K-means, the targets themselves). */
  readonly output: string;
  readonly transform: { readonly kind: 'copy' } | { readonly kind: 'kmeans'; readonly k: number; readonly iters: number; readonly backend: KMeansBackend };
}

/** The target network's momentum τ per step: cosine from `base` to 1 (BYOL), or constant (MoCo). */
export type MomentumSpec = { readonly kind: 'cosine'; readonly base: number } | { readonly kind: 'constant'; readonly value: number };

/** How the crop pairs of a batch are drawn: the IoU gate and the RoI grid the pipeline computes positions for. */
export interface PairRule {
  readonly iouThreshold: number;
  readonly iouMaxTries: number;
  readonly roiSize: number;
}

/** Any pair of views goes: no IoU gate (dense weight 1), no RoI grid to speak of. */
export const ANY_PAIR: PairRule = { iouThreshold: 0, iouMaxTries: 1, roiSize: 1 };

export interface Method {
  /** The `method` config value that selects it. */
  readonly name: string;
  /** One line for help and docs: what it is and where it comes from. */
  readonly title: string;
  /** MultiSiam itself, or a baseline it is compared with. */
  readonly kind: 'method' | 'baseline';
  /** Siamese frameworks it is defined in (the `framework` field). */
  readonly frameworks: readonly Framework[];
  /** Config rows it owns; each is read only when this method is chosen (plus the row's own `when`). */
  readonly fields: readonly Field[];
  /** Fields another method owns that this one reads too (e.g. the dense head sizes). */
  readonly reads: readonly ConfigPath[];
  /** Defaults laid over the field defaults when this method is chosen (below presets, files and --set). */
  readonly defaults: ConfigPatch;
  readonly rules: readonly Rule[];
  /** Declares the online data inputs in `g` and builds the forward and the loss terms. */
  online(g: Graph, cfg: MultiSiamConfig): LossTerms;
  /** Declares the target forward's inputs in `g` (inside the `target` scope) and returns its outputs by name. */
  target(g: Graph, cfg: MultiSiamConfig): Record<string, Value>;
  targets(cfg: MultiSiamConfig): readonly TargetLink[];
  /** Parameter-name prefixes of the online network that the target network does not have. */
  onlineOnly(cfg: MultiSiamConfig): readonly string[];
  momentum(cfg: MultiSiamConfig): MomentumSpec;
  pairs(cfg: MultiSiamConfig): PairRule;
  /** A few readable lines for `inspect` and `build`: variant, heads, alignment, loss, target. */
  describe(cfg: MultiSiamConfig): Readonly<Record<string, string>>;
}

/**
 * A method with its field rows' literal paths kept in its type, so the registry can check at
 * compile time that every leaf of MultiSiamConfig has a row (see ./index.ts).
 */
export function defineMethod<const F extends readonly Field[]>(method: Method & { readonly fields: F }): Method & { readonly fields: F } {
  return method;
}

/** Σ weight·term. A term weighted 0 stays in the sum, so its parameters still get a (zero) gradient. */
export function weighted(parts: readonly (readonly [Value, number])[]): Value {
  return parts.map(([v, w]) => (w === 1 ? v : mul(v, w))).reduce((a, b) => add(a, b));
}
