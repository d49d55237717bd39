/**
 * The MoCo-v2 baseline (Chen, Fan, Girshick, He, "Improved Baselines with Momentum Contrastive
 * Learning", arXiv 2003.04297, 2020), as in facebookresearch/moco (`moco/builder.py`,
 * `main_moco.py --mlp --aug-plus --cos`): a momentum key encoder (constant momentum
 * `moco.momentum`, 0.999), MoCo-v2's projection head fc–ReLU–fc without BN, InfoNCE with τ =
 * `moco.temperature` (0.2) against a queue of `moco.queue_size` (65,536) normalised keys.
 *
 * Deviations (README "Methods"):
 * - symmetrised: ℓ(q1, k2) + ℓ(q2, k1), and both views' keys are enqueued (src/graphs/moco.ts);
 * - no shuffling BN: MoCo shuffles the key batch across GPUs so the keys' BN statistics come from
 *   other images than the queries'; on one device each view's BN uses its own batch, as in every
 *   method here (SPEC §2.9);
 * - the SGD update leaves BN and bias parameters out of weight decay (src/graphs/optimizers.ts);
 *   MoCo decays every parameter.
 */
import type { ConfigPatch } from '../config/presets.js';
import type { MultiSiamConfig } from '../config/schema.js';
import { perView } from '../graphs/encoder.js';
import { NAMES, VIEWS, declareGlobalTargets, declareViews, other } from '../graphs/io.js';
import { encodeMoco, globalContrast } from '../graphs/moco.js';
import type { Graph, Value } from '../onnx/ir.js';
import { ANY_PAIR, type LossTerms, type MomentumSpec, type TargetLink, defineMethod, weighted } from './method.js';

/** MoCo-v2's augmentations (`main_moco.py --aug-plus`): jitter (0.4, 0.4, 0.4, 0.1) p 0.8, grayscale 0.2, blur p 0.5, no solarize, in both views. */
const MOCO_V2_VIEW = { saturation: 0.4, blur_p: 0.5, solarize_p: 0 } as const;

/**
 * MoCo-v2's recipe (and DenseCL's, which keeps it: `configs/selfsup/densecl/densecl_imagenet_200ep.py`),
 * laid over the field defaults when the method is chosen; presets, files and --set still override it.
 * Projection head 2048–128 (the paper's; the r50 preset widens it to 4096–256, tiny narrows it);
 * SGD lr 0.03 per 256 images, weight decay 1e-4, cosine to 0 without warm-up; crops from 20% of the
 * image up.
 */
export const MOCO_V2_DEFAULTS = {
  framework: 'moco',
  moco: { queue_size: 65536 },
  heads: { proj_hidden: 2048, proj_dim: 128 },
  optim: { name: 'sgd', base_lr: 0.03, weight_decay: 1e-4, warmup_epochs: 0, final_lr: 0 },
  data: { min_crop_scale: 0.2, view1: MOCO_V2_VIEW, view2: MOCO_V2_VIEW },
} as const satisfies ConfigPatch;

/** The key encoder follows the online one with constant momentum (MoCo). */
export function mocoMomentum(cfg: MultiSiamConfig): MomentumSpec {
  return { kind: 'constant', value: cfg.moco.momentum };
}

/** `target_z<v>` is the key z' the target network computed on the other view. */
export function globalKeyLinks(): TargetLink[] {
  return VIEWS.map((v) => ({ input: NAMES.targetZ(v), output: `z${other(v)}`, transform: { kind: 'copy' } }));
}

function online(g: Graph, cfg: MultiSiamConfig): LossTerms {
  const views = declareViews(g, cfg);
  const keys = declareGlobalTargets(g, cfg);
  const z = perView(g, (v) => encodeMoco(views[v].image, cfg).z);
  const global = globalContrast(g, cfg, z, keys);
  return { total: weighted([[global, cfg.loss.w_global]]), terms: { global } };
}

function target(g: Graph, cfg: MultiSiamConfig): Record<string, Value> {
  const views = declareViews(g, cfg);
  const z = g.scope('target', () => perView(g, (v) => encodeMoco(views[v].image, cfg).z));
  return { z1: z[1], z2: z[2] };
}

export const mocov2 = defineMethod({
  name: 'mocov2',
  title: 'MoCo-v2 (Chen et al., arXiv 2003.04297, 2020): InfoNCE against a key queue, momentum encoder, MLP head; symmetrised',
  kind: 'baseline',
  frameworks: ['moco'],
  fields: [],
  reads: [],
  defaults: MOCO_V2_DEFAULTS,
  rules: [
    {
      doc: "method 'mocov2' trains its global loss only, so loss.w_global > 0",
      check: (c) =>
        c.loss.w_global > 0 ? null : { fields: ['loss.w_global', 'method'], problem: "w_global is 0 and method 'mocov2' has no other loss", allowed: "w_global > 0 when method is 'mocov2'" },
    },
  ],
  online,
  target,
  targets: globalKeyLinks,
  onlineOnly: () => [],
  momentum: mocoMomentum,
  pairs: () => ANY_PAIR,
  describe: (cfg) => ({
    method: 'mocov2 (MoCo-v2 baseline, symmetrised)',
    heads: `projector ${cfg.heads.proj_hidden}→${cfg.heads.proj_dim} (fc–ReLU–fc, no BN)`,
    loss: `InfoNCE, τ ${cfg.moco.temperature}, queue ${cfg.moco.queue_size} (both views' keys)`,
    target: `momentum encoder, momentum ${cfg.moco.momentum}`,
  }),
});
