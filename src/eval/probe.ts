/**
 * `multisiam eval probe`: the dense linear probe (SPEC §4). The backbone stays frozen; a per-pixel
 * classifier on its last-stage feature map (src/eval/graphs.ts) learns the class masks of
 * synthetic street scenes and is scored on scenes it never saw.
 *
 * - Scenes: `--data synthetic:N` draws N scenes at PROBE.imageSize² from a hash of `--seed`, so
 *   they are not the scenes the backbone was pre-trained on (`--data synthetic` draws seed 0's);
 *   the first N − ⌊N/4⌋ train the head, the last ⌊N/4⌋ are held out.
 * - Labels: each scene's mask at stride PROBE.labelStride, every label cell taking the class that
 *   covers most of its block (ties to the lower id); the logits are upsampled to that grid.
 * - Features: computed once per scene (the backbone is frozen), then standardised per channel with
 *   the train split's mean and standard deviation. That affine map changes nothing a linear
 *   classifier can express, but it gives every backbone, trained or random, the same conditioning,
 *   so one learning rate serves them all (MAE's linear probe puts a BatchNorm there for the same reason).
 * - Training: PROBE.epochs epochs of SGD with momentum over shuffled full batches, cosine learning
 *   rate from PROBE.lr to 0, weight decay PROBE.weightDecay, head initialised from `--seed`.
 * - Scores: mIoU, pixel accuracy and per-class IoU over the held-out labels (src/eval/metrics.ts).
 *
 * Everything is a function of the flags, so one command gives the same numbers every time, and the
 * same numbers for a run and for its ONNX export (src/eval/backbone.ts).
 */
import { join } from 'node:path';
import type { TensorMap } from '../bundle/safetensors.js';
import { initialTensors, type Manifest, type ManifestTensor } from '../bundle/bundle.js';
import { writeAtomically } from '../export/files.js';
import { parseDataArg } from '../data/sources.js';
import { Rng, mix32 } from '../data/rng.js';
import { SYNTHETIC_CLASSES, drawScene } from '../data/synthetic.js';
import { NAMES } from '../graphs/io.js';
import type { Graph } from '../onnx/ir.js';
import { writeModel } from '../onnx/serialize.js';
import { Session, type Tensor } from '../runtime/session.js';
import { learningRate } from '../train/schedules.js';
import { type BackboneChoice, type BackboneInfo, type ProbeBackbone, checkBackboneChoice, fixedInput, probeBackbone } from './backbone.js';
import { PROBE_HEADS, PROBE_HIDDEN, PROBE_IO, type ProbeHead, type ProbeShape, probeEval, probeTrainStep } from './graphs.js';
import { Confusion } from './metrics.js';

/** The probe's fixed settings (recorded in every result). */
export const PROBE = {
  /** Scenes are drawn at this size: 224² gives the tiny preset (stride 16) a 14×14 map. */
  imageSize: 224,
  /** Labels at 1/4 of the image (56×56 at 224²). */
  labelStride: 4,
  /** Scenes when --data is plain `synthetic`. */
  scenes: 400,
  /** Held-out share of the scenes. */
  heldOut: 0.25,
  epochs: 20,
  batch: 16,
  lr: 0.5,
  momentum: 0.9,
  weightDecay: 1e-4,
} as const;

export interface ProbeOptions extends BackboneChoice {
  /** `synthetic` or `synthetic:N` (the only source with class masks). */
  readonly data?: string;
  readonly head?: ProbeHead;
  /** Directory for the result file; RUN for --run, DIR for --bundle, required for --onnx. */
  readonly out?: string;
  readonly seed?: number;
  /** Progress lines (nothing by default). */
  readonly log?: (line: string) => void;
}

/** What RUN/probe.json holds. */
export interface ProbeResult {
  readonly format: 'multisiam-probe';
  readonly version: 1;
  readonly backbone: BackboneInfo & { readonly path: string };
  readonly probe: {
    readonly head: ProbeHead;
    readonly hidden: number | null;
    readonly image_size: number;
    readonly feature_map: readonly [number, number, number];
    readonly label_size: readonly [number, number];
    readonly upsampling: string;
    readonly features: string;
    readonly epochs: number;
    readonly batch: number;
    readonly optimizer: { readonly name: 'sgd'; readonly lr: number; readonly schedule: 'cosine'; readonly momentum: number; readonly weight_decay: number };
  };
  readonly data: { readonly source: string; readonly scene_seed: number; readonly train: number; readonly test: number; readonly test_pixels: Readonly<Record<string, number>> };
  readonly seed: number;
  readonly miou: number;
  readonly pixel_accuracy: number;
  readonly per_class_iou: Readonly<Record<string, number | null>>;
  readonly final_train_loss: number;
  readonly seconds: { readonly features: number; readonly train: number; readonly evaluate: number; readonly total: number };
}

/** The result file's name: `probe.json` for the trained online network with the linear head, suffixed for every other choice. */
export function probeFileName(o: { readonly network: string | null; readonly head: ProbeHead; readonly randomInit: boolean }): string {
  const parts = ['probe', o.network === 'target' ? 'target' : '', o.head === 'conv' ? 'conv' : '', o.randomInit ? 'random-init' : ''];
  return `${parts.filter((p) => p !== '').join('-')}.json`;
}

/** Runs the probe and writes its result; see the file comment. Every check comes before the work. */
export async function runProbe(o: ProbeOptions): Promise<{ result: ProbeResult; path: string }> {
  const started = performance.now();
  const log = o.log ?? (() => undefined);
  const head = o.head ?? 'linear';
  if (!PROBE_HEADS.includes(head)) throw new Error(`--head ${String(head)}: choose ${PROBE_HEADS.join(' or ')}`);
  const seed = o.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`--seed ${seed}: must be a non-negative integer`);
  const scenes = await sceneCount(o.data ?? 'synthetic');
  checkBackboneChoice(o);
  if (o.onnx !== undefined && o.out === undefined) throw new Error(`--onnx ${o.onnx}: say where to write the result with --out DIR`);
  const backbone = probeBackbone(o);
  const path = join(o.out ?? o.run ?? o.bundle!, probeFileName({ network: backbone.info.network, head, randomInit: backbone.info.random_init }));

  const test = Math.floor(scenes * PROBE.heldOut);
  const train = scenes - test;
  const sceneSeed = probeSceneSeed(seed);
  log(`features of ${scenes} scenes (${train} train, ${test} held out)…`);
  const data = await sceneFeatures(backbone, sceneSeed, scenes);
  standardise(data, train);
  const afterFeatures = performance.now();
  const shape: ProbeShape = {
    batch: Math.min(PROBE.batch, train),
    channels: data.channels,
    featureSize: data.featureSize,
    labelSize: data.labelSize,
    classes: SYNTHETIC_CLASSES.length,
  };
  log(`training the ${head} head on ${data.channels}×${data.featureSize.join('×')} features for ${PROBE.epochs} epochs…`);
  const trained = await trainHead(data, train, shape, head, seed);
  const afterTrain = performance.now();
  const confusion = await evaluate(data, train, scenes, shape, head, trained.state);
  const done = performance.now();

  const byClass = <T>(values: readonly T[]): Record<string, T> => Object.fromEntries(SYNTHETIC_CLASSES.map((c, k) => [c, values[k]!]));
  const result: ProbeResult = {
    format: 'multisiam-probe',
    version: 1,
    backbone: { ...backbone.info, path: o.run ?? o.bundle ?? o.onnx! },
    probe: {
      head,
      hidden: head === 'conv' ? PROBE_HIDDEN : null,
      image_size: PROBE.imageSize,
      feature_map: [data.channels, ...data.featureSize],
      label_size: data.labelSize,
      upsampling: 'logits upsampled bilinearly (align_corners=False) to the label grid, as one MatMul with a fixed interpolation matrix',
      features: "standardised per channel with the train split's mean and standard deviation",
      epochs: PROBE.epochs,
      batch: shape.batch,
      optimizer: { name: 'sgd', lr: PROBE.lr, schedule: 'cosine', momentum: PROBE.momentum, weight_decay: PROBE.weightDecay },
    },
    data: { source: `synthetic:${scenes}`, scene_seed: sceneSeed, train, test, test_pixels: byClass(confusion.support()) },
    seed,
    miou: confusion.miou(),
    pixel_accuracy: confusion.pixelAccuracy(),
    per_class_iou: byClass(confusion.iou()),
    final_train_loss: trained.finalLoss,
    seconds: {
      features: (afterFeatures - started) / 1000,
      train: (afterTrain - afterFeatures) / 1000,
      evaluate: (done - afterTrain) / 1000,
      total: (done - started) / 1000,
    },
  };
  writeAtomically(path, [Buffer.from(JSON.stringify(result, null, 2) + '\n')]);
  return { result, path };
}

/** The scene seed of probe seed `seed`: a hash, so the probe's scenes are not the pre-training stream's (scene seed 0 for `--data synthetic`). */
export function probeSceneSeed(seed: number): number {
  return mix32(seed ^ 0x70726f62);
}

/** N of `--data synthetic[:N]`; plain `synthetic` is PROBE.scenes. */
async function sceneCount(arg: string): Promise<number> {
  if (!/^synthetic(:|$)/.test(arg.trim())) {
    throw new Error(`--data ${arg}: the probe needs class masks, which only the built-in scenes have; use --data synthetic or synthetic:N`);
  }
  const spec = await parseDataArg(arg.trim() === 'synthetic' ? `synthetic:${PROBE.scenes}` : arg);
  if (spec.kind !== 'synthetic' || spec.count < 8) throw new Error(`--data ${arg}: the probe needs at least 8 scenes (¾ to train, ¼ held out), e.g. synthetic:${PROBE.scenes}`);
  return spec.count;
}

interface SceneData {
  /** (N, C, h·w) per scene, back to back. */
  readonly features: Float32Array;
  /** (N, H·W) class ids. */
  readonly labels: Uint8Array;
  readonly channels: number;
  readonly featureSize: readonly [number, number];
  readonly labelSize: readonly [number, number];
}

/** Draws the scenes and runs the backbone on them, PROBE.batch at a time (the last batch padded with zeros, whose features are dropped). */
async function sceneFeatures(backbone: ProbeBackbone, sceneSeed: number, count: number): Promise<SceneData> {
  const size = PROBE.imageSize;
  const labelSize = [size / PROBE.labelStride, size / PROBE.labelStride] as const;
  const labels = new Uint8Array(count * labelSize[0] * labelSize[1]);
  const where = backbone.info.dir ?? 'backbone';
  const image = new Float32Array(PROBE.batch * 3 * size * size);
  const session = await Session.create(fixedInput(backbone, [PROBE.batch, 3, size, size]), {}, where);
  let features: Float32Array | null = null;
  let dims: readonly number[] = [];
  try {
    for (let start = 0; start < count; start += PROBE.batch) {
      const n = Math.min(PROBE.batch, count - start);
      image.fill(0);
      for (let b = 0; b < n; b++) {
        const scene = labelledScene(sceneSeed, start + b, backbone);
        image.set(scene.image, b * 3 * size * size);
        labels.set(scene.labels, (start + b) * labelSize[0] * labelSize[1]);
      }
      const out = (await session.run({ image }, ['features']))['features']!;
      dims = out.dims;
      if (dims.length !== 4 || dims[0] !== PROBE.batch) throw new Error(`${where}: 'features' has shape [${dims}] for ${PROBE.batch} images; the probe needs a (N, C, h, w) map`);
      const per = dims[1]! * dims[2]! * dims[3]!;
      features ??= new Float32Array(count * per);
      features.set((out.data as Float32Array).subarray(0, n * per), start * per);
    }
  } finally {
    await session.release();
  }
  return { features: features!, labels, channels: dims[1]!, featureSize: [dims[2]!, dims[3]!], labelSize };
}

/**
 * Scene `index` as the probe sees it: the PROBE.imageSize² image as CHW floats (x/255 − mean)/std
 * with the backbone's preprocessing, and its labels at stride PROBE.labelStride, each label cell
 * taking the class that covers most of its block (ties to the lower id).
 */
export function labelledScene(sceneSeed: number, index: number, preprocessing: { readonly mean: readonly number[]; readonly std: readonly number[] }): { image: Float32Array; labels: Uint8Array } {
  const size = PROBE.imageSize;
  const stride = PROBE.labelStride;
  const scene = drawScene(sceneSeed, index, { width: size, height: size });
  const n = size * size;
  const image = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    const m = preprocessing.mean[c]!;
    const s = preprocessing.std[c]!;
    for (let p = 0; p < n; p++) image[c * n + p] = (scene.rgb[3 * p + c]! / 255 - m) / s;
  }
  const cells = size / stride;
  const labels = new Uint8Array(cells * cells);
  const votes = new Uint16Array(256);
  for (let i = 0; i < cells; i++) {
    for (let j = 0; j < cells; j++) {
      votes.fill(0);
      for (let y = i * stride; y < (i + 1) * stride; y++) for (let x = j * stride; x < (j + 1) * stride; x++) votes[scene.mask[y * size + x]!]!++;
      let best = 0;
      for (let k = 1; k < votes.length; k++) if (votes[k]! > votes[best]!) best = k;
      labels[i * cells + j] = best;
    }
  }
  return { image, labels };
}

/** Standardises every channel in place with the mean and standard deviation over the first `train` scenes. */
function standardise(d: SceneData, train: number): void {
  const c = d.channels;
  const cells = d.featureSize[0] * d.featureSize[1];
  const scenes = d.features.length / (c * cells);
  for (let k = 0; k < c; k++) {
    let sum = 0;
    let sq = 0;
    for (let n = 0; n < train; n++) {
      const row = d.features.subarray((n * c + k) * cells, (n * c + k + 1) * cells);
      for (const v of row) {
        sum += v;
        sq += v * v;
      }
    }
    const mean = sum / (train * cells);
    const sd = Math.sqrt(Math.max(0, sq / (train * cells) - mean * mean));
    // A channel that never varies (a dead ReLU) carries nothing; centring it is enough.
    const scale = sd > 1e-6 ? 1 / sd : 1;
    for (let n = 0; n < scenes; n++) {
      const row = d.features.subarray((n * c + k) * cells, (n * c + k + 1) * cells);
      for (let i = 0; i < cells; i++) row[i] = (row[i]! - mean) * scale;
    }
  }
}

/** The head's parameters, BN statistics (conv head) and optimizer state, by graph input name. */
type HeadState = Map<string, Float32Array>;

/** Initial values of a graph's parameters and buffers from their declared init schemes, seeded; optimizer state zero. */
function initialState(graph: Graph, seed: number): HeadState {
  const tensors: ManifestTensor[] = graph.inputs
    .filter((i) => i.role === 'param' || i.role === 'buffer' || i.role === 'state')
    .map((i) => ({ name: i.value.name, shape: i.value.shape, role: i.role as 'param' | 'buffer' | 'state', init: i.role === 'state' ? { kind: 'constant', value: 0 } : i.init! }));
  // initialTensors reads only the manifest's tensor list; the head needs no bundle around it.
  const drawn: TensorMap = initialTensors({ tensors } as Pick<Manifest, 'tensors'> as Manifest, seed);
  return new Map([...drawn].map(([name, t]) => [name, t.data as Float32Array]));
}

/** Trains the head on the first `train` scenes; returns its final state and the last epoch's mean loss. */
async function trainHead(d: SceneData, train: number, s: ProbeShape, head: ProbeHead, seed: number): Promise<{ state: HeadState; finalLoss: number }> {
  const { graph, step } = probeTrainStep(s, head, PROBE.momentum);
  const state = initialState(graph, seed);
  const session = await Session.create(writeModel(graph).model, {}, 'probe train step');
  const perEpoch = Math.floor(train / s.batch);
  const schedule = { peakLr: PROBE.lr, totalSteps: PROBE.epochs * perEpoch, warmupSteps: 0 };
  const shuffle = Rng.fromSeed(seed).fork(0x73687566);
  const batch = batchBuffers(s);
  let epochLoss = 0;
  try {
    for (let epoch = 0; epoch < PROBE.epochs; epoch++) {
      const order = shuffle.fork(epoch).permutation(train);
      epochLoss = 0;
      for (let b = 0; b < perEpoch; b++) {
        fillBatch(d, s, batch, Array.from(order.subarray(b * s.batch, (b + 1) * s.batch)));
        const feeds: Record<string, Float32Array> = {
          [PROBE_IO.features]: batch.features,
          [PROBE_IO.labels]: batch.labels,
          [NAMES.lr]: Float32Array.of(learningRate(schedule, epoch * perEpoch + b)),
          [NAMES.weightDecay]: Float32Array.of(PROBE.weightDecay),
          ...Object.fromEntries(state),
        };
        const out = await session.run(feeds);
        const loss = scalar(out, NAMES.loss);
        if (!Number.isFinite(loss)) throw new Error(`probe: the loss became ${loss} at epoch ${epoch + 1}; the features hold non-finite values (check the backbone's weights)`);
        epochLoss += loss / perEpoch;
        for (const name of [...step.params.map((p) => p.name), ...step.state, ...step.buffers]) state.set(name, out[NAMES.next(name)]!.data as Float32Array);
      }
    }
  } finally {
    await session.release();
  }
  return { state, finalLoss: epochLoss };
}

/** Scores the head on scenes train…count−1 (the last batch padded with zero features, whose outputs are dropped). */
async function evaluate(d: SceneData, train: number, count: number, s: ProbeShape, head: ProbeHead, state: HeadState): Promise<Confusion> {
  const graph = probeEval(s, head);
  const session = await Session.create(writeModel(graph).model, {}, 'probe evaluation');
  const weights = Object.fromEntries(graph.inputs.filter((i) => i.role === 'param' || i.role === 'buffer').map((i) => [i.value.name, state.get(i.value.name)!]));
  const confusion = new Confusion(s.classes);
  const batch = batchBuffers(s);
  const pixels = s.labelSize[0] * s.labelSize[1];
  try {
    for (let start = train; start < count; start += s.batch) {
      const scenes = Array.from({ length: Math.min(s.batch, count - start) }, (_, b) => start + b);
      fillBatch(d, s, batch, scenes);
      const logits = (await session.run({ [PROBE_IO.features]: batch.features, ...weights }, [PROBE_IO.logits]))[PROBE_IO.logits]!.data as Float32Array;
      scenes.forEach((scene, b) => confusion.add(logits.subarray(b * s.classes * pixels, (b + 1) * s.classes * pixels), d.labels.subarray(scene * pixels, (scene + 1) * pixels)));
    }
  } finally {
    await session.release();
  }
  return confusion;
}

interface BatchBuffers {
  readonly features: Float32Array;
  /** One-hot labels (B, K, H·W); all-zero columns for padding. */
  readonly labels: Float32Array;
}

function batchBuffers(s: ProbeShape): BatchBuffers {
  const [h, w] = s.featureSize;
  return { features: new Float32Array(s.batch * s.channels * h * w), labels: new Float32Array(s.batch * s.classes * s.labelSize[0] * s.labelSize[1]) };
}

/** Copies the scenes' features and one-hot labels into the batch; slots past `scenes.length` are zeros. */
function fillBatch(d: SceneData, s: ProbeShape, into: BatchBuffers, scenes: readonly number[]): void {
  const per = s.channels * s.featureSize[0] * s.featureSize[1];
  const pixels = s.labelSize[0] * s.labelSize[1];
  into.features.fill(0);
  into.labels.fill(0);
  scenes.forEach((scene, b) => {
    into.features.set(d.features.subarray(scene * per, (scene + 1) * per), b * per);
    const labels = d.labels.subarray(scene * pixels, (scene + 1) * pixels);
    const base = b * s.classes * pixels;
    for (let p = 0; p < pixels; p++) into.labels[base + labels[p]! * pixels + p] = 1;
  });
}

function scalar(out: Record<string, Tensor>, name: string): number {
  return Number(out[name]!.data[0]);
}
