/**
 * Named starting points, each a partial configuration laid over the defaults (which are the paper's
 * method settings). Presets only size the run to a machine: backbone, view size, head widths, batch.
 */
import type { MultiSiamConfig } from './schema.js';

/** A configuration with any subset of its fields, at any depth. */
export type ConfigPatch = DeepPartial<MultiSiamConfig>;
type DeepPartial<T> = {
  readonly [K in keyof T]?: T[K] extends readonly number[] ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K];
};

export interface Preset {
  readonly doc: string;
  readonly values: ConfigPatch;
}

const NARROW_HEADS = {
  proj_hidden: 512, proj_dim: 128, pred_hidden: 512,
  dense_proj_hidden: 512, dense_proj_dim: 128, dense_pred_hidden: 512,
} as const;

const PAPER_HEADS = {
  proj_hidden: 4096, proj_dim: 256, pred_hidden: 4096,
  dense_proj_hidden: 4096, dense_proj_dim: 256, dense_pred_hidden: 4096,
} as const;

export const PRESETS = {
  tiny: {
    doc: 'CPU-sized: ResNet-18 at width 1/4 (16/32/64/128 channels), 112×112 views, output stride 16 (7×7 dense map), 512/128 heads, batch 16, 1000 steps',
    values: {
      backbone: { arch: 'resnet18', width: 0.25, output_stride: 16 },
      data: { image_size: 112, workers: 2 },
      heads: NARROW_HEADS,
      // Runs on synthetic streams have no epochs, so the tiny run is counted in steps.
      train: { batch_size: 16, steps: 1000, checkpoint_every: 250 },
      optim: { warmup_steps: 50 },
      // 128 batches of 16: the default 16384 would take 1024 steps just to fill.
      moco: { queue_size: 2048 },
    },
  },
  r18: {
    doc: 'ResNet-18, 224×224 views, output stride 32 (7×7 dense map), batch 64',
    values: {
      backbone: { arch: 'resnet18', width: 1, output_stride: 32 },
      data: { image_size: 224 },
      train: { batch_size: 64 },
    },
  },
  r50: {
    doc: "the paper's scale: ResNet-50, 224×224 views, output stride 32 (7×7 dense map), 4096/256 heads, batch 64",
    values: {
      backbone: { arch: 'resnet50', width: 1, output_stride: 32 },
      data: { image_size: 224 },
      heads: PAPER_HEADS,
      train: { batch_size: 64 },
    },
  },
} as const satisfies Record<string, Preset>;

export type PresetName = keyof typeof PRESETS;

export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
