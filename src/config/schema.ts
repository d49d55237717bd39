/**
 * The shape of a run's configuration (snake_case keys, as written in YAML) and the field rows every
 * method shares. SPEC §2 is the source of every knob; a doc string tagged (supplement A4)/(A5)/
 * (B.1)/(B.2) marks a default or rule taken from the paper's supplement.
 *
 * A method adds its own fields beside its code (src/methods/<name>.ts): it declares their types by
 * merging into the interfaces below (`declare module '../config/schema.js' { interface DataConfig {
 * … } }`) and their rows with the helpers exported here. The method registry (src/methods/index.ts)
 * composes the shared rows, each method's rows and the rules into the one table (`ConfigSchema`) from
 * which defaults, validation, `--set` parsing, `multisiam config` and the config hash are derived,
 * and checks at compile time that every leaf of MultiSiamConfig has exactly one row.
 */
import type { FieldType, Range, Value } from './fields.js';

export const FRAMEWORKS = ['byol', 'moco'] as const;
export const ARCHS = ['resnet18', 'resnet50'] as const;
export const OUTPUT_STRIDES = [16, 32] as const;
export const OPTIMIZERS = ['lars', 'sgd'] as const;
export const CUDNN_ALGO_SEARCHES = ['exhaustive', 'heuristic', 'default'] as const;
export const DEVICE_POLICIES = ['auto', 'cpu', 'gpu'] as const;

export type Framework = (typeof FRAMEWORKS)[number];
export type Arch = (typeof ARCHS)[number];
export type OutputStride = (typeof OUTPUT_STRIDES)[number];
export type OptimizerName = (typeof OPTIMIZERS)[number];
export type CudnnAlgoSearch = (typeof CUDNN_ALGO_SEARCHES)[number];
export type DevicePolicyName = (typeof DEVICE_POLICIES)[number];

/** Augmentations of one view (SPEC §2.1–2.2); the two views differ in blur and solarize. */
export interface ViewConfig {
  readonly flip_p: number;
  readonly jitter_p: number;
  readonly brightness: number;
  readonly contrast: number;
  readonly saturation: number;
  readonly hue: number;
  readonly grayscale_p: number;
  readonly blur_p: number;
  readonly blur_sigma: readonly [number, number];
  readonly solarize_p: number;
}

// The group interfaces below are open: a method merges the fields it owns into them.
export interface DataConfig {
  readonly image_size: number;
  readonly min_crop_scale: number;
  readonly max_crop_scale: number;
  readonly ratio: readonly [number, number];
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  readonly view1: ViewConfig;
  readonly view2: ViewConfig;
  readonly workers: number;
  readonly prefetch: number;
}

export interface BackboneConfig {
  readonly arch: Arch;
  readonly width: number;
  readonly output_stride: OutputStride;
}

export interface HeadsConfig {
  readonly proj_hidden: number;
  readonly proj_dim: number;
  readonly pred_hidden: number;
}

export interface LossConfig {
  readonly w_global: number;
}

export interface OptimConfig {
  readonly name: OptimizerName;
  readonly base_lr: number;
  readonly weight_decay: number;
  readonly momentum: number;
  readonly trust_coefficient: number;
  readonly warmup_epochs: number;
  readonly warmup_steps: number;
  readonly final_lr: number;
}

export interface EmaConfig {
  readonly base_momentum: number;
}

export interface MocoConfig {
  readonly queue_size: number;
  readonly temperature: number;
  readonly momentum: number;
}

export interface TrainConfig {
  readonly batch_size: number;
  readonly seed: number;
  readonly epochs: number;
  readonly steps: number;
  readonly checkpoint_every: number;
  readonly checkpoint_minutes: number;
  readonly keep_checkpoints: number;
  readonly log_every: number;
}

/** Where and how the graphs run; none of it changes what is computed beyond float rounding. */
export interface RuntimeConfig {
  readonly device_policy: DevicePolicyName;
  readonly cuda_device: number;
  readonly cuda_tf32: boolean;
  readonly cudnn_algo_search: CudnnAlgoSearch;
  readonly cuda_graph: boolean;
}

/** Top-level fields that a method owns (`alignment`, `kmeans`, …) merge in here. */
export interface MethodFields {}

/** Every field is documented by its row (`multisiam config` prints them). */
export interface MultiSiamConfig extends MethodFields {
  /** A name in the method registry (src/methods/index.ts). */
  readonly method: string;
  readonly framework: Framework;
  readonly data: DataConfig;
  readonly backbone: BackboneConfig;
  readonly heads: HeadsConfig;
  readonly loss: LossConfig;
  readonly optim: OptimConfig;
  readonly ema: EmaConfig;
  readonly moco: MocoConfig;
  readonly train: TrainConfig;
  readonly runtime: RuntimeConfig;
}

type Paths<T, Prefix extends string = ''> = {
  [K in keyof T & string]: T[K] extends Value ? `${Prefix}${K}` : Paths<T[K], `${Prefix}${K}.`>;
}[keyof T & string];

/** A dotted path to a leaf, e.g. `kmeans.k`. */
export type ConfigPath = Paths<MultiSiamConfig>;

/** The type of the leaf at `P`. */
export type ConfigValue<P extends string, T = MultiSiamConfig> = P extends `${infer Head}.${infer Rest}`
  ? Head extends keyof T
    ? ConfigValue<Rest, T[Head]>
    : never
  : P extends keyof T
    ? T[P]
    : never;

type PathOf<V> = { [P in ConfigPath]: ConfigValue<P> extends V ? P : never }[ConfigPath];

/** A field applies only when every listed choice field has the listed value (or one of the listed values). */
export type Condition = { readonly [P in PathOf<string>]?: ConfigValue<P> | readonly ConfigValue<P>[] };

export interface Field<P extends ConfigPath = ConfigPath> {
  readonly path: P;
  readonly type: FieldType;
  readonly default: Value;
  readonly doc: string;
  /** When the field is read at all; set outside it, it is ignored with a warning. */
  readonly when?: Condition;
  /** Durations come in steps or epochs: a layer that sets one to non-zero clears the other. */
  readonly exclusiveWith?: ConfigPath;
  /** Does not change what is computed (workers, logging, where it runs), so it stays out of configHash. */
  readonly operational?: boolean;
}

export interface FieldExtra {
  readonly when?: Condition;
  readonly exclusiveWith?: ConfigPath;
  readonly operational?: boolean;
}

export const int = <P extends PathOf<number>>(path: P, dflt: number, range: Range & { multipleOf?: number }, doc: string, extra: FieldExtra = {}): Field<P> => ({
  path,
  type: { kind: 'int', range, multipleOf: range.multipleOf },
  default: dflt,
  doc,
  ...extra,
});

export const float = <P extends PathOf<number>>(path: P, dflt: number, range: Range, doc: string, extra: FieldExtra = {}): Field<P> => ({
  path,
  type: { kind: 'float', range },
  default: dflt,
  doc,
  ...extra,
});

export const bool = <P extends PathOf<boolean>>(path: P, dflt: boolean, doc: string, extra: FieldExtra = {}): Field<P> => ({ path, type: { kind: 'bool' }, default: dflt, doc, ...extra });

export const oneOf = <P extends PathOf<string | number>>(path: P, values: readonly ConfigValue<P>[], dflt: ConfigValue<P>, doc: string, extra: FieldExtra = {}): Field<P> => ({
  path,
  type: { kind: 'enum', values },
  default: dflt,
  doc,
  ...extra,
});

export const floats = <P extends PathOf<readonly number[]>>(path: P, dflt: ConfigValue<P>, range: Range, ordered: boolean, doc: string, extra: FieldExtra = {}): Field<P> => ({
  path,
  type: { kind: 'floats', length: dflt.length, range, ordered },
  default: dflt,
  doc,
  ...extra,
});

export const PROB: Range = { min: 0, max: 1 };
export const POSITIVE: Range = { min: 0, minOpen: true };
export const NON_NEGATIVE: Range = { min: 0 };
export const AT_LEAST_1: Range = { min: 1 };

const BYOL_FRAMEWORK: Condition = { framework: 'byol' };
const MOCO_FRAMEWORK: Condition = { framework: 'moco' };

/** One view's augmentations (BYOL's asymmetric recipe, SPEC §2.2). */
function viewFields(view: 'view1' | 'view2', blurP: number, solarizeP: number) {
  const v = `data.${view}` as const;
  return [
    float(`${v}.flip_p`, 0.5, PROB, `${view}: probability of a horizontal flip (recorded, undone on the feature map)`),
    float(`${v}.jitter_p`, 0.8, PROB, `${view}: probability of colour jitter`),
    float(`${v}.brightness`, 0.4, NON_NEGATIVE, `${view}: colour-jitter brightness strength (factor in [1−b, 1+b])`),
    float(`${v}.contrast`, 0.4, NON_NEGATIVE, `${view}: colour-jitter contrast strength`),
    float(`${v}.saturation`, 0.2, NON_NEGATIVE, `${view}: colour-jitter saturation strength`),
    float(`${v}.hue`, 0.1, { min: 0, max: 0.5 }, `${view}: colour-jitter hue strength`),
    float(`${v}.grayscale_p`, 0.2, PROB, `${view}: probability of converting to grayscale`),
    float(`${v}.blur_p`, blurP, PROB, `${view}: probability of Gaussian blur (BYOL: 1.0 for view 1, 0.1 for view 2)`),
    floats(`${v}.blur_sigma`, [0.1, 2.0], POSITIVE, true, `${view}: range of the blur's σ`),
    float(`${v}.solarize_p`, solarizeP, PROB, `${view}: probability of solarization (BYOL: 0 for view 1, 0.2 for view 2)`),
  ];
}

/**
 * The rows every method shares, in the order `multisiam config` shows them (a method's own rows are
 * placed into their group). `method` itself is declared by the registry, which knows the names.
 */
export const SHARED_FIELDS = [
  oneOf('framework', FRAMEWORKS, 'byol', "siamese framework: 'byol' (EMA target with a cosine momentum schedule, predictors) or 'moco' (momentum encoder with constant momentum, key queues; supplement B.2 for MultiSiam)"),

  int('data.image_size', 224, { min: 32, multipleOf: 16 }, 'side of the square view in pixels; must also be a multiple of backbone.output_stride so feature cells tile the crop exactly'),
  float('data.min_crop_scale', 0.08, { min: 0, max: 1, minOpen: true }, 'smallest RandomResizedCrop area fraction (supplement A4: 0.08 beats 0.2)'),
  float('data.max_crop_scale', 1.0, { min: 0, max: 1, minOpen: true }, 'largest RandomResizedCrop area fraction'),
  floats('data.ratio', [3 / 4, 4 / 3], POSITIVE, true, 'RandomResizedCrop aspect-ratio range (width/height)'),
  floats('data.mean', [0.485, 0.456, 0.406], PROB, false, 'per-channel (RGB) normalisation mean (ImageNet), applied inside the graphs to the uint8 views'),
  floats('data.std', [0.229, 0.224, 0.225], POSITIVE, false, 'per-channel (RGB) normalisation std (ImageNet)'),
  ...viewFields('view1', 1.0, 0.0),
  ...viewFields('view2', 0.1, 0.2),
  int('data.workers', 4, NON_NEGATIVE, 'worker threads that decode and augment images (0 = on the main thread)', { operational: true }),
  int('data.prefetch', 2, AT_LEAST_1, 'batches prepared ahead of the training step', { operational: true }),

  oneOf('backbone.arch', ARCHS, 'resnet50', 'torchvision-layout ResNet'),
  float('backbone.width', 1, POSITIVE, 'width multiplier: every channel count c becomes round(c·width) (SPEC §2.9)'),
  oneOf('backbone.output_stride', OUTPUT_STRIDES, 32, 'image pixels per feature cell: 32, or 16 with a dilated last stage for small inputs'),

  int('heads.proj_hidden', 4096, AT_LEAST_1, 'global projector hidden width (Linear C→hidden, BN, ReLU, Linear →proj_dim)'),
  int('heads.proj_dim', 256, AT_LEAST_1, 'global projection (and prediction) width'),
  int('heads.pred_hidden', 4096, AT_LEAST_1, 'global predictor hidden width', { when: BYOL_FRAMEWORK }),

  float('loss.w_global', 1, NON_NEGATIVE, 'weight of the global (image-level) loss'),

  oneOf('optim.name', OPTIMIZERS, 'lars', "optimizer: 'lars' (BN and bias excluded from weight decay and adaptation) or 'sgd' with momentum"),
  float('optim.base_lr', 1.0, POSITIVE, 'base learning rate; the peak lr is base_lr × train.batch_size / 256 (supplement A4: 1.0 beats 0.3)'),
  float('optim.weight_decay', 1e-5, NON_NEGATIVE, 'weight decay (not applied to BN and bias parameters)'),
  float('optim.momentum', 0.9, { min: 0, max: 1, maxOpen: true }, 'optimizer momentum'),
  float('optim.trust_coefficient', 0.001, POSITIVE, 'LARS trust coefficient', { when: { 'optim.name': 'lars' } }),
  float('optim.warmup_epochs', 5, NON_NEGATIVE, 'linear warm-up from 0 to the peak lr, in epochs (may be fractional); setting it clears optim.warmup_steps', { exclusiveWith: 'optim.warmup_steps' }),
  int('optim.warmup_steps', 0, NON_NEGATIVE, 'linear warm-up in steps instead of epochs; setting it clears optim.warmup_epochs', { exclusiveWith: 'optim.warmup_epochs' }),
  float('optim.final_lr', 1e-6, NON_NEGATIVE, 'learning rate the cosine decay ends at (absolute, not scaled by batch)'),

  float('ema.base_momentum', 0.996, PROB, 'EMA momentum of the target network at step 0, rising to 1 on a cosine schedule (supplement A4: 0.996 beats 0.99)', { when: BYOL_FRAMEWORK }),

  int('moco.queue_size', 16384, AT_LEAST_1, 'negatives kept in each queue (global and dense); at least train.batch_size', { when: MOCO_FRAMEWORK }),
  float('moco.temperature', 0.2, POSITIVE, 'InfoNCE temperature τ (supplement B.2)', { when: MOCO_FRAMEWORK }),
  float('moco.momentum', 0.999, PROB, 'constant momentum of the key encoder', { when: MOCO_FRAMEWORK }),

  int('train.batch_size', 256, { min: 2 }, 'images per view per step; batch-norm statistics come from one view of this batch'),
  int('train.seed', 0, { min: 0, max: 2 ** 32 - 1 }, 'seed of every random stream (init, crops, augmentations, K-means)'),
  int('train.epochs', 200, NON_NEGATIVE, 'run length in epochs (0 = unset); an epoch is floor(images / batch_size) steps; setting it clears train.steps', { exclusiveWith: 'train.steps' }),
  int('train.steps', 0, NON_NEGATIVE, 'run length in steps (0 = unset); setting it clears train.epochs', { exclusiveWith: 'train.epochs' }),
  int('train.checkpoint_every', 1000, NON_NEGATIVE, 'steps between checkpoints (0 = only at the end)', { operational: true }),
  float('train.checkpoint_minutes', 10, NON_NEGATIVE, 'also write a checkpoint once this many minutes of wall time have passed since the last one (0 = by steps only), so a crash loses at most this much work', { operational: true }),
  int('train.keep_checkpoints', 3, AT_LEAST_1, 'checkpoints kept on disk (the oldest are deleted)', { operational: true }),
  int('train.log_every', 10, AT_LEAST_1, 'steps between metric log lines', { operational: true }),

  oneOf('runtime.device_policy', DEVICE_POLICIES, 'auto', "gradient formulations the graphs are built with: 'cpu' (im2col forms, fastest with ONNX Runtime's CPU kernels), 'gpu' (ConvTranspose / transposed-Conv forms cuDNN runs natively), or 'auto' (from the execution provider the bundle is built for)", { operational: true }),
  int('runtime.cuda_device', 0, NON_NEGATIVE, 'CUDA: the GPU ordinal', { operational: true }),
  bool('runtime.cuda_tf32', false, 'CUDA: TensorFloat-32 matrix maths (about 2× faster convolutions and matmuls, but ~1e-3 relative rounding; off for parity with PyTorch fp32 and the CPU)', { operational: true }),
  oneOf('runtime.cudnn_algo_search', CUDNN_ALGO_SEARCHES, 'exhaustive', "CUDA: how cuDNN picks convolution algorithms: 'exhaustive' benchmarks every candidate once per shape (slow first step, fastest after), 'heuristic' takes cuDNN's guess (fast start, sometimes slower kernels), 'default' always the basic algorithm", { operational: true }),
  bool('runtime.cuda_graph', false, 'CUDA: capture the train step as a CUDA graph and replay it (removes per-kernel launch overhead; needs fixed input and output buffers)', { operational: true }),
];

/** The value at a dotted path. */
export function valueAt(cfg: MultiSiamConfig, path: ConfigPath): Value {
  let node: unknown = cfg;
  for (const key of path.split('.')) node = (node as Record<string, unknown>)[key];
  return node as Value;
}

/** Whether `field` is read under `cfg` (its `when` condition holds). */
export function applies(field: Field, cfg: MultiSiamConfig): boolean {
  return Object.entries(field.when ?? {}).every(([path, v]) => {
    const value = valueAt(cfg, path as ConfigPath);
    return Array.isArray(v) ? v.includes(value) : value === v;
  });
}
