/**
 * The configuration of a run: the `MultiSiamConfig` shape (snake_case keys, as written in YAML) and
 * the one field table (FIELDS) from which defaults, validation, `--set` parsing, `--help` text and
 * the config hash are all derived. SPEC §2 is the source of every knob; a doc string tagged
 * (supplement A4)/(A5)/(B.1)/(B.2) marks a default or rule taken from the paper's supplement.
 * The compiler checks that the table and the interface name the same leaves (see `coverage`).
 */
import type { FieldType, Range, Value } from './fields.js';

export const METHODS = ['multisiam', 'byol'] as const;
export const FRAMEWORKS = ['byol', 'moco'] as const;
export const ALIGNMENTS = ['offset', 'roi'] as const;
export const DENSE_TARGETS = ['kmeans', 'features'] as const;
export const ARCHS = ['resnet18', 'resnet50'] as const;
export const OUTPUT_STRIDES = [16, 32] as const;
export const SIMILARITIES = ['cos-pow', 'softmax'] as const;
export const OPTIMIZERS = ['lars', 'sgd'] as const;

export type Method = (typeof METHODS)[number];
export type Framework = (typeof FRAMEWORKS)[number];
export type Alignment = (typeof ALIGNMENTS)[number];
export type DenseTarget = (typeof DENSE_TARGETS)[number];
export type Arch = (typeof ARCHS)[number];
export type OutputStride = (typeof OUTPUT_STRIDES)[number];
export type Similarity = (typeof SIMILARITIES)[number];
export type OptimizerName = (typeof OPTIMIZERS)[number];

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

/** Every field is documented in FIELDS below (`describeConfig()` prints it). */
export interface MultiSiamConfig {
  readonly method: Method;
  readonly framework: Framework;
  readonly alignment: Alignment;
  readonly dense_target: DenseTarget;
  readonly data: {
    readonly image_size: number;
    readonly min_crop_scale: number;
    readonly max_crop_scale: number;
    readonly ratio: readonly [number, number];
    readonly iou_threshold: number;
    readonly iou_max_tries: number;
    readonly roi_size: number;
    readonly mean: readonly [number, number, number];
    readonly std: readonly [number, number, number];
    readonly view1: ViewConfig;
    readonly view2: ViewConfig;
    readonly workers: number;
    readonly prefetch: number;
  };
  readonly backbone: { readonly arch: Arch; readonly width: number; readonly output_stride: OutputStride };
  readonly heads: {
    readonly proj_hidden: number;
    readonly proj_dim: number;
    readonly pred_hidden: number;
    readonly dense_proj_hidden: number;
    readonly dense_proj_dim: number;
    readonly dense_pred_hidden: number;
  };
  readonly attention: { readonly sim: Similarity; readonly gamma: number; readonly residual: boolean };
  readonly kmeans: { readonly k: number; readonly iters: number };
  readonly loss: { readonly w_global: number; readonly w_dense: number };
  readonly optim: {
    readonly name: OptimizerName;
    readonly base_lr: number;
    readonly weight_decay: number;
    readonly momentum: number;
    readonly trust_coefficient: number;
    readonly warmup_epochs: number;
    readonly warmup_steps: number;
    readonly final_lr: number;
  };
  readonly ema: { readonly base_momentum: number };
  readonly moco: { readonly queue_size: number; readonly temperature: number; readonly momentum: number };
  readonly train: {
    readonly batch_size: number;
    readonly seed: number;
    readonly epochs: number;
    readonly steps: number;
    readonly checkpoint_every: number;
    readonly keep_checkpoints: number;
    readonly log_every: number;
  };
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

/** A field applies only when every listed choice field has the listed value. */
export type Condition = { readonly [P in PathOf<string>]?: ConfigValue<P> };

export interface Field<P extends ConfigPath = ConfigPath> {
  readonly path: P;
  readonly type: FieldType;
  readonly default: Value;
  readonly doc: string;
  /** When the field is read at all; set outside it, it is ignored with a warning. */
  readonly when?: Condition;
  /** Durations come in steps or epochs: a layer that sets one to non-zero clears the other. */
  readonly exclusiveWith?: ConfigPath;
  /** Does not change what is computed (workers, logging), so it stays out of configHash. */
  readonly operational?: boolean;
}

interface Extra {
  readonly when?: Condition;
  readonly exclusiveWith?: ConfigPath;
  readonly operational?: boolean;
}

const int = <P extends PathOf<number>>(
  path: P, dflt: number, range: Range & { multipleOf?: number }, doc: string, extra: Extra = {},
): Field<P> => ({ path, type: { kind: 'int', range, multipleOf: range.multipleOf }, default: dflt, doc, ...extra });

const float = <P extends PathOf<number>>(path: P, dflt: number, range: Range, doc: string, extra: Extra = {}): Field<P> =>
  ({ path, type: { kind: 'float', range }, default: dflt, doc, ...extra });

const bool = <P extends PathOf<boolean>>(path: P, dflt: boolean, doc: string, extra: Extra = {}): Field<P> =>
  ({ path, type: { kind: 'bool' }, default: dflt, doc, ...extra });

const oneOf = <P extends PathOf<string | number>>(
  path: P, values: readonly ConfigValue<P>[], dflt: ConfigValue<P>, doc: string, extra: Extra = {},
): Field<P> => ({ path, type: { kind: 'enum', values }, default: dflt, doc, ...extra });

const floats = <P extends PathOf<readonly number[]>>(
  path: P, dflt: ConfigValue<P>, range: Range, ordered: boolean, doc: string, extra: Extra = {},
): Field<P> => ({ path, type: { kind: 'floats', length: dflt.length, range, ordered }, default: dflt, doc, ...extra });

const PROB: Range = { min: 0, max: 1 };
const POSITIVE: Range = { min: 0, minOpen: true };
const NON_NEGATIVE: Range = { min: 0 };
const AT_LEAST_1: Range = { min: 1 };

const DENSE: Condition = { method: 'multisiam' };
const KMEANS: Condition = { method: 'multisiam', dense_target: 'kmeans' };
const ROI: Condition = { method: 'multisiam', alignment: 'roi' };
const BYOL_FRAMEWORK: Condition = { framework: 'byol' };
const MOCO: Condition = { framework: 'moco' };

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

const TABLE = [
  oneOf('method', METHODS, 'multisiam', "training method: 'multisiam' (global + dense losses) or the 'byol' baseline (global loss only)"),
  oneOf('framework', FRAMEWORKS, 'byol', "siamese framework: 'byol' (EMA target + predictors) or 'moco' (momentum encoder + queues, supplement B.2; needs alignment 'roi')"),
  oneOf('alignment', ALIGNMENTS, 'offset', "dense alignment of the two views: 'offset' (ΔC map as 2 extra predictor channels) or 'roi' (S×S RoIAlign of the box intersection) (supplement A5)", { when: DENSE }),
  oneOf('dense_target', DENSE_TARGETS, 'kmeans', "dense target: 'kmeans' (cluster centroids of the target map) or 'features' (the target map itself, supplement B.1)", { when: DENSE }),

  int('data.image_size', 224, { min: 32, multipleOf: 16 }, 'side of the square view in pixels; must also be a multiple of backbone.output_stride so feature cells tile the crop exactly'),
  float('data.min_crop_scale', 0.08, { min: 0, max: 1, minOpen: true }, 'smallest RandomResizedCrop area fraction (supplement A4: 0.08 beats 0.2)'),
  float('data.max_crop_scale', 1.0, { min: 0, max: 1, minOpen: true }, 'largest RandomResizedCrop area fraction'),
  floats('data.ratio', [3 / 4, 4 / 3], POSITIVE, true, 'RandomResizedCrop aspect-ratio range (width/height)'),
  float('data.iou_threshold', 0.5, PROB, 'a view pair enters the dense loss only if IoU(box1, box2) ≥ this', { when: DENSE }),
  int('data.iou_max_tries', 20, AT_LEAST_1, 'crop pairs drawn before a pair is kept for the global loss only', { when: DENSE }),
  int('data.roi_size', 7, AT_LEAST_1, 'S: RoI alignment resamples the box intersection to S×S cells', { when: ROI }),
  floats('data.mean', [0.485, 0.456, 0.406], PROB, false, 'per-channel (RGB) normalisation mean (ImageNet)'),
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
  int('heads.dense_proj_hidden', 4096, AT_LEAST_1, 'dense projector hidden width (1×1 convs)', { when: DENSE }),
  int('heads.dense_proj_dim', 256, AT_LEAST_1, 'dense projection (and prediction) width', { when: DENSE }),
  int('heads.dense_pred_hidden', 4096, AT_LEAST_1, 'dense predictor hidden width', { when: { method: 'multisiam', framework: 'byol' } }),

  oneOf('attention.sim', SIMILARITIES, 'cos-pow', "self-attention similarity: 'cos-pow' = max(cos, 0)^gamma (PixPro's PPM) or 'softmax' of scaled dot products", { when: DENSE }),
  float('attention.gamma', 2, POSITIVE, "exponent of 'cos-pow'", { when: { method: 'multisiam', 'attention.sim': 'cos-pow' } }),
  bool('attention.residual', false, 'add q(x(i,j)) to the attention sum (supplement A5: off for offset alignment)', { when: DENSE }),

  int('kmeans.k', 4, AT_LEAST_1, 'clusters of the per-image cosine K-means on the aligned target map', { when: KMEANS }),
  int('kmeans.iters', 10, AT_LEAST_1, 'K-means iterations after the seeded k-means++ initialisation', { when: KMEANS }),

  float('loss.w_global', 1, NON_NEGATIVE, 'weight of the global (image-level) loss'),
  float('loss.w_dense', 1, NON_NEGATIVE, 'weight of the dense (2D) loss', { when: DENSE }),

  oneOf('optim.name', OPTIMIZERS, 'lars', "optimizer: 'lars' (BN and bias excluded from weight decay and adaptation) or 'sgd' with momentum"),
  float('optim.base_lr', 1.0, POSITIVE, 'base learning rate; the peak lr is base_lr × train.batch_size / 256 (supplement A4: 1.0 beats 0.3)'),
  float('optim.weight_decay', 1e-5, NON_NEGATIVE, 'weight decay (not applied to BN and bias parameters)'),
  float('optim.momentum', 0.9, { min: 0, max: 1, maxOpen: true }, 'optimizer momentum'),
  float('optim.trust_coefficient', 0.001, POSITIVE, 'LARS trust coefficient', { when: { 'optim.name': 'lars' } }),
  float('optim.warmup_epochs', 5, NON_NEGATIVE, 'linear warm-up from 0 to the peak lr, in epochs (may be fractional); setting it clears optim.warmup_steps', { exclusiveWith: 'optim.warmup_steps' }),
  int('optim.warmup_steps', 0, NON_NEGATIVE, 'linear warm-up in steps instead of epochs; setting it clears optim.warmup_epochs', { exclusiveWith: 'optim.warmup_epochs' }),
  float('optim.final_lr', 1e-6, NON_NEGATIVE, 'learning rate the cosine decay ends at (absolute, not scaled by batch)'),

  float('ema.base_momentum', 0.996, PROB, 'EMA momentum of the target network at step 0, rising to 1 on a cosine schedule (supplement A4: 0.996 beats 0.99)', { when: BYOL_FRAMEWORK }),

  int('moco.queue_size', 16384, AT_LEAST_1, 'negatives kept in each queue (global and dense); at least train.batch_size', { when: MOCO }),
  float('moco.temperature', 0.2, POSITIVE, 'InfoNCE temperature τ (supplement B.2)', { when: MOCO }),
  float('moco.momentum', 0.999, PROB, 'constant momentum of the key encoder', { when: MOCO }),

  int('train.batch_size', 256, { min: 2 }, 'images per view per step; batch-norm statistics come from one view of this batch'),
  int('train.seed', 0, { min: 0, max: 2 ** 32 - 1 }, 'seed of every random stream (init, crops, augmentations, K-means)'),
  int('train.epochs', 200, NON_NEGATIVE, 'run length in epochs (0 = unset); an epoch is floor(images / batch_size) steps; setting it clears train.steps', { exclusiveWith: 'train.steps' }),
  int('train.steps', 0, NON_NEGATIVE, 'run length in steps (0 = unset); setting it clears train.epochs', { exclusiveWith: 'train.epochs' }),
  int('train.checkpoint_every', 1000, NON_NEGATIVE, 'steps between checkpoints (0 = only at the end)', { operational: true }),
  int('train.keep_checkpoints', 3, AT_LEAST_1, 'checkpoints kept on disk (the oldest are deleted)', { operational: true }),
  int('train.log_every', 10, AT_LEAST_1, 'steps between metric log lines', { operational: true }),
];

/** Type error here = a leaf of MultiSiamConfig without a row in TABLE (the missing paths are named). */
type Covers<T extends readonly Field[]> = [Exclude<ConfigPath, T[number]['path']>] extends [never]
  ? T
  : { readonly missingFields: Exclude<ConfigPath, T[number]['path']> };
const coverage: Covers<typeof TABLE> = TABLE;

/** Every field, in the order `--help` shows them. */
export const FIELDS: readonly Field[] = coverage;

export const FIELD_BY_PATH: ReadonlyMap<string, Field> = new Map(FIELDS.map((f) => [f.path, f]));

/** Every group path (`data`, `data.view1`, …), i.e. every proper prefix of a field path. */
export const GROUPS: ReadonlySet<string> = new Set(
  FIELDS.flatMap((f) => f.path.split('.').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('.'))),
);

/** The value at a dotted path. */
export function valueAt(cfg: MultiSiamConfig, path: ConfigPath): Value {
  let node: unknown = cfg;
  for (const key of path.split('.')) node = (node as Record<string, unknown>)[key];
  return node as Value;
}

/** Whether `field` is read under `cfg` (its `when` condition holds). */
export function applies(field: Field, cfg: MultiSiamConfig): boolean {
  return Object.entries(field.when ?? {}).every(([path, v]) => valueAt(cfg, path as ConfigPath) === v);
}
