/**
 * Quantities computed from a configuration, kept in one place so that the graphs, the data pipeline,
 * the schedules and the validation rules all agree: the feature-map size, channel widths, the peak
 * learning rate and the schedule lengths in steps.
 */
import { ConfigError } from './errors.js';
import type { MultiSiamConfig } from './schema.js';

export interface MapSize {
  readonly h: number;
  readonly w: number;
}

/** Output length of a convolution or pooling along one axis (PyTorch's formula). */
function convOut(n: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((n + 2 * pad - (kernel - 1) - 1) / stride) + 1;
}

/**
 * h×w of the last backbone stage for a square view of `data.image_size`. The stem (7×7 conv stride 2,
 * then 3×3 max-pool stride 2) divides by 4; stages 2 and 3 halve the map (3×3 conv, pad 1, stride 2);
 * stage 4 halves it at output stride 32 and keeps it at 16, where it is dilated instead (SPEC §2.9).
 */
export function featureMapSize(cfg: MultiSiamConfig): MapSize {
  let n = convOut(cfg.data.image_size, 7, 2, 3);
  n = convOut(n, 3, 2, 1);
  n = convOut(n, 3, 2, 1);
  n = convOut(n, 3, 2, 1);
  if (cfg.backbone.output_stride === 32) n = convOut(n, 3, 2, 1);
  return { h: n, w: n };
}

/** lr = base_lr × batch / 256 (SPEC §2.8), the value reached at the end of warm-up. */
export function peakLearningRate(cfg: MultiSiamConfig): number {
  return (cfg.optim.base_lr * cfg.train.batch_size) / 256;
}

/**
 * round() as Python does it (halves to even), because SPEC §2.9 writes round(c·w) and the PyTorch
 * cross-checks compute channel counts in Python; Math.round would differ when c·w ends in .5.
 */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface BackboneChannels {
  /** Output channels of the stem convolution. */
  readonly stem: number;
  /** Inner width of each stage's blocks (the Bottleneck's 1×1/3×3 width; equal to `out` for ResNet-18). */
  readonly inner: readonly [number, number, number, number];
  /** Output channels of each stage; `out[3]` is C, the channel count of the dense map F. */
  readonly out: readonly [number, number, number, number];
}

/**
 * Channel counts of the backbone at `backbone.width`: every torchvision channel count c becomes
 * round(c·w) (SPEC §2.9), including the Bottleneck's expanded output (round(256·w), not 4·round(64·w)).
 */
export function backboneChannels(cfg: MultiSiamConfig): BackboneChannels {
  const w = cfg.backbone.width;
  const scale = (c: number): number => roundHalfEven(c * w);
  const planes = [64, 128, 256, 512] as const;
  const expansion = cfg.backbone.arch === 'resnet50' ? 4 : 1;
  return {
    stem: scale(64),
    inner: [scale(planes[0]), scale(planes[1]), scale(planes[2]), scale(planes[3])],
    out: [
      scale(planes[0] * expansion),
      scale(planes[1] * expansion),
      scale(planes[2] * expansion),
      scale(planes[3] * expansion),
    ],
  };
}

export interface ScheduleSteps {
  /** floor(images / batch_size): the last partial batch is dropped so every BN sees a full batch. */
  readonly stepsPerEpoch: number | null;
  readonly totalSteps: number;
  readonly warmupSteps: number;
}

/**
 * The run length and warm-up in steps. Epoch counts need the dataset size; a run given entirely in
 * steps does not (a synthetic stream has no epochs), so `datasetImages` may be left out then.
 */
export function scheduleSteps(cfg: MultiSiamConfig, datasetImages?: number): ScheduleSteps {
  const { train, optim } = cfg;
  const inEpochs: [field: string, value: number] | null =
    train.steps === 0 ? ['train.epochs', train.epochs]
    : optim.warmup_steps === 0 && optim.warmup_epochs > 0 ? ['optim.warmup_epochs', optim.warmup_epochs]
    : null;
  let stepsPerEpoch: number | null = null;
  if (inEpochs) {
    if (datasetImages === undefined) {
      throw new ConfigError(
        `config field '${inEpochs[0]}': ${inEpochs[1]} epochs need the dataset size, which this data source ` +
          'does not have; allowed: give train.steps and optim.warmup_steps instead',
      );
    }
    stepsPerEpoch = Math.floor(datasetImages / train.batch_size);
    if (stepsPerEpoch === 0) {
      throw new ConfigError(
        `config field 'train.batch_size': ${train.batch_size} is larger than the dataset (${datasetImages} images); ` +
          `allowed: integer in [2, ${datasetImages}]`,
      );
    }
  }
  const perEpoch = stepsPerEpoch ?? 0;
  const totalSteps = train.steps > 0 ? train.steps : train.epochs * perEpoch;
  const warmupSteps = optim.warmup_steps > 0 ? optim.warmup_steps : Math.round(optim.warmup_epochs * perEpoch);
  if (warmupSteps >= totalSteps) {
    throw new ConfigError(
      `config fields 'optim.warmup_${optim.warmup_steps > 0 ? 'steps' : 'epochs'}', 'train.${train.steps > 0 ? 'steps' : 'epochs'}': ` +
        `a warm-up of ${warmupSteps} steps does not fit a run of ${totalSteps} steps; allowed: warm-up shorter than the run`,
    );
  }
  return { stepsPerEpoch, totalSteps, warmupSteps };
}
