/**
 * Rules that tie several fields together, checked on the fully resolved configuration. Each rule
 * names its fields and returns what is wrong (with the values) and what is allowed, or null; the
 * loader reports every broken rule at once as `config fields 'a', 'b': <problem>; allowed: <allowed>`.
 * The rules here hold for every method; a method adds its own beside its code.
 */
import { backboneChannels, peakLearningRate } from './derived.js';
import type { ConfigPath, MultiSiamConfig } from './schema.js';

export interface Violation {
  readonly fields: readonly ConfigPath[];
  readonly problem: string;
  readonly allowed: string;
}

export interface Rule {
  /** One line for docs: what the rule enforces. */
  readonly doc: string;
  readonly check: (cfg: MultiSiamConfig) => Violation | null;
}

export const SHARED_RULES: readonly Rule[] = [
  {
    doc: 'data.image_size is a multiple of backbone.output_stride, so cells tile the crop exactly',
    check: (c) =>
      c.data.image_size % c.backbone.output_stride !== 0
        ? {
            fields: ['data.image_size', 'backbone.output_stride'],
            problem: `image_size ${c.data.image_size} is not a multiple of output_stride ${c.backbone.output_stride}`,
            allowed: `a multiple of ${c.backbone.output_stride} (e.g. ${Math.ceil(c.data.image_size / c.backbone.output_stride) * c.backbone.output_stride}), which gives a feature map of at least 1×1`,
          }
        : null,
  },
  {
    doc: 'backbone.width leaves every layer at least one channel',
    check: (c) =>
      backboneChannels(c).stem < 1
        ? {
            fields: ['backbone.width'],
            problem: `width ${c.backbone.width} gives the stem round(64·${c.backbone.width}) = 0 channels`,
            allowed: 'width > 1/128',
          }
        : null,
  },
  {
    doc: 'data.min_crop_scale ≤ data.max_crop_scale',
    check: (c) =>
      c.data.min_crop_scale > c.data.max_crop_scale
        ? {
            fields: ['data.min_crop_scale', 'data.max_crop_scale'],
            problem: `min_crop_scale ${c.data.min_crop_scale} is above max_crop_scale ${c.data.max_crop_scale}`,
            allowed: 'min_crop_scale ≤ max_crop_scale',
          }
        : null,
  },
  {
    // Every MoCo-framework method enqueues both views' keys after a step (src/graphs/moco.ts).
    doc: "moco.queue_size ≥ 2 × train.batch_size, so one step's keys (both views) fit the queue",
    check: (c) =>
      c.framework === 'moco' && c.moco.queue_size < 2 * c.train.batch_size
        ? {
            fields: ['moco.queue_size', 'train.batch_size'],
            problem: `queue_size ${c.moco.queue_size} cannot take the ${2 * c.train.batch_size} keys of one step (both views of batch_size ${c.train.batch_size})`,
            allowed: `moco.queue_size ≥ ${2 * c.train.batch_size}`,
          }
        : null,
  },
  {
    doc: 'the run length is set: train.steps or train.epochs is non-zero',
    check: (c) =>
      c.train.steps === 0 && c.train.epochs === 0
        ? {
            fields: ['train.steps', 'train.epochs'],
            problem: 'both are 0 (unset), so the run has no length',
            allowed: 'one of them > 0',
          }
        : null,
  },
  {
    doc: 'a warm-up given in the unit of the run length is shorter than the run',
    check: (c) => {
      const { steps, epochs } = c.train;
      const { warmup_steps: ws, warmup_epochs: we } = c.optim;
      if (steps > 0 && ws >= steps) {
        return { fields: ['optim.warmup_steps', 'train.steps'], problem: `warm-up of ${ws} steps is not shorter than the run of ${steps} steps`, allowed: `optim.warmup_steps < ${steps}` };
      }
      if (epochs > 0 && ws === 0 && we >= epochs) {
        return { fields: ['optim.warmup_epochs', 'train.epochs'], problem: `warm-up of ${we} epochs is not shorter than the run of ${epochs} epochs`, allowed: `optim.warmup_epochs < ${epochs}` };
      }
      return null;
    },
  },
  {
    doc: 'optim.final_lr does not exceed the peak learning rate',
    check: (c) => {
      const peak = peakLearningRate(c);
      return c.optim.final_lr > peak
        ? {
            fields: ['optim.final_lr', 'optim.base_lr', 'train.batch_size'],
            problem: `final_lr ${c.optim.final_lr} is above the peak lr ${peak} (base_lr ${c.optim.base_lr} × batch_size ${c.train.batch_size} / 256)`,
            allowed: `optim.final_lr ≤ ${peak}`,
          }
        : null;
    },
  },
];

/** Every broken rule, formatted as one message line each. */
export function checkRules(rules: readonly Rule[], cfg: MultiSiamConfig): string[] {
  return rules.flatMap((rule) => {
    const v = rule.check(cfg);
    if (!v) return [];
    const names = v.fields.map((f) => `'${f}'`).join(', ');
    return [`config field${v.fields.length > 1 ? 's' : ''} ${names}: ${v.problem}; allowed: ${v.allowed}`];
  });
}
