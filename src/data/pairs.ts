/**
 * View pairs (SPEC §2.1–2.2): two RandomResizedCrop boxes gated by IoU, flips, crops resized to
 * image_size and the per-view augmentations. A pair's stream is `pairRng(seed, step, slot)`, split
 * into independent sub-streams for the boxes and for each view's ops, so a pair is a pure function of
 * (dataset, seed, step, slot) and changing an augmentation setting leaves the boxes as they were.
 */
import { type Box, iou } from './alignment.js';
import { type ViewAugParams, type ViewOps, BYOL_VIEWS, applyViewOps, sampleViewOps, toUint8 } from './augment.js';
import { type RgbSource, cropResize, cropResizeMask } from './resize.js';
import { Rng } from './rng.js';
import { type BadFile, type ImageSource, loadGood } from './sources.js';

/** Everything the pair sampler and batch assembly read; the config system maps its fields onto this. */
export interface PairOptions {
  imageSize: number;
  /** RandomResizedCrop scale range (fraction of the image area). */
  minCropScale: number;
  maxCropScale: number;
  /** RandomResizedCrop aspect-ratio range, sampled log-uniformly. */
  ratio: readonly [number, number];
  iouThreshold: number;
  iouMaxTries: number;
  views: readonly [ViewAugParams, ViewAugParams];
  /** Size of the dense feature map (image_size / output stride) for ΔC and RoI positions. */
  featureH: number;
  featureW: number;
  /** RoI-align output size S. */
  roiSize: number;
}

export const DEFAULT_PAIR_OPTIONS: PairOptions = {
  imageSize: 224, minCropScale: 0.08, maxCropScale: 1, ratio: [3 / 4, 4 / 3],
  iouThreshold: 0.5, iouMaxTries: 20, views: BYOL_VIEWS,
  featureH: 7, featureW: 7, roiSize: 7,
};

/** Throws naming the first field that is out of range and what it must be. */
export function validatePairOptions(o: PairOptions): void {
  const bad = (field: string, value: unknown, want: string): never => {
    throw new RangeError(`data option ${field} = ${JSON.stringify(value)}: must be ${want}`);
  };
  for (const f of ['imageSize', 'featureH', 'featureW', 'roiSize', 'iouMaxTries'] as const) {
    if (!Number.isInteger(o[f]) || o[f] < 1) bad(f, o[f], 'a positive integer');
  }
  if (!(o.minCropScale > 0 && o.minCropScale <= o.maxCropScale && o.maxCropScale <= 1)) {
    bad('minCropScale/maxCropScale', [o.minCropScale, o.maxCropScale], '0 < min ≤ max ≤ 1');
  }
  if (!(o.ratio[0] > 0 && o.ratio[0] <= o.ratio[1])) bad('ratio', o.ratio, '0 < low ≤ high');
  if (!(o.iouThreshold >= 0)) bad('iouThreshold', o.iouThreshold, '≥ 0 (above 1 no pair passes)');
  o.views.forEach((v, i) => {
    for (const k of ['flipProb', 'jitterProb', 'grayscaleProb', 'blurProb', 'solarizeProb'] as const) {
      if (!(v[k] >= 0 && v[k] <= 1)) bad(`views[${i}].${k}`, v[k], 'a probability in [0, 1]');
    }
    if (!(v.blurSigma[0] > 0 && v.blurSigma[0] <= v.blurSigma[1])) bad(`views[${i}].blurSigma`, v.blurSigma, '0 < low ≤ high');
  });
}

/** The stream of pair `slot` of batch `step` under run seed `seed`. */
export function pairRng(seed: number, step: number, slot: number): Rng {
  return Rng.fromSeed(seed).fork(step, slot);
}

/** Python's round(): halves go to the even neighbour, as in torchvision's int(round(...)). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torchvision RandomResizedCrop.get_params on a width×height image, in whole pixels, returned
 * normalised: 10 attempts at a box of random area and log-uniform aspect ratio that fits, then the
 * central crop with the aspect ratio clamped into `ratio`.
 */
export function sampleCropBox(rng: Rng, width: number, height: number, scale: readonly [number, number], ratio: readonly [number, number]): Box {
  const area = width * height;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const w = roundHalfEven(Math.sqrt(target * aspect));
    const h = roundHalfEven(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const i = rng.int(height - h + 1);
      const j = rng.int(width - w + 1);
      return [j / width, i / height, (j + w) / width, (i + h) / height];
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = Math.max(1, roundHalfEven(w / ratio[0]));
  else if (inRatio > ratio[1]) w = Math.max(1, roundHalfEven(h * ratio[1]));
  const i = Math.floor((height - h) / 2);
  const j = Math.floor((width - w) / 2);
  return [j / width, i / height, (j + w) / width, (i + h) / height];
}

export interface PairGeometry {
  box1: Box;
  box2: Box;
  iou: number;
  /** IoU ≥ threshold within the allowed tries: the pair goes to the dense losses. */
  dense: boolean;
  /** Box pairs drawn (1 … iouMaxTries). */
  tries: number;
}

/** Draws box pairs until IoU ≥ threshold or iouMaxTries is spent (then the last pair, not dense). */
export function samplePairBoxes(rng: Rng, width: number, height: number, o: PairOptions): PairGeometry {
  const scale = [o.minCropScale, o.maxCropScale] as const;
  let box1: Box = [0, 0, 1, 1];
  let box2: Box = box1;
  let v = 0;
  for (let t = 1; t <= o.iouMaxTries; t++) {
    box1 = sampleCropBox(rng, width, height, scale, o.ratio);
    box2 = sampleCropBox(rng, width, height, scale, o.ratio);
    v = iou(box1, box2);
    if (v >= o.iouThreshold) return { box1, box2, iou: v, dense: true, tries: t };
  }
  return { box1, box2, iou: v, dense: false, tries: o.iouMaxTries };
}

export interface Pair extends PairGeometry {
  /** The image actually used (a bad file is replaced by the next good one). */
  index: number;
  /** CHW uint8 [3, S, S] RGB, augmented (the graphs normalise it). */
  view1: Uint8Array;
  view2: Uint8Array;
  flip1: boolean;
  flip2: boolean;
  ops: [ViewOps, ViewOps];
  /** Class masks cropped and flipped like the views (nearest), when the source has masks. */
  mask1?: Uint8Array;
  mask2?: Uint8Array;
}

/** Builds pair views from a decoded image with the pair's stream `rng`. */
export function makePair(image: RgbSource & { mask?: Uint8Array }, index: number, rng: Rng, o: PairOptions): Pair {
  const geometry = samplePairBoxes(rng.fork(0), image.width, image.height, o);
  const boxes = [geometry.box1, geometry.box2] as const;
  const S = o.imageSize;
  const views = [0, 1].map((v) => {
    const ops = sampleViewOps(rng.fork(1 + v), o.views[v]!);
    const pixels = new Float32Array(3 * S * S);
    cropResize(image, boxes[v]!, S, ops.flip, pixels);
    applyViewOps(pixels, 0, S, ops);
    const mask = image.mask && cropResizeMask(image.mask, image.width, image.height, boxes[v]!, S, ops.flip);
    return { ops, pixels: toUint8(pixels), mask };
  });
  const [a, b] = views as [(typeof views)[0], (typeof views)[0]];
  const pair: Pair = {
    ...geometry, index, view1: a.pixels, view2: b.pixels, flip1: a.ops.flip, flip2: b.ops.flip, ops: [a.ops, b.ops],
  };
  if (a.mask && b.mask) {
    pair.mask1 = a.mask;
    pair.mask2 = b.mask;
  }
  return pair;
}

/** One unit of loader work: pair `slot` of batch `step`, from image `index` (or the next good one). */
export interface PairTask {
  step: number;
  slot: number;
  index: number;
}

/** Loads the task's image and builds its pair; the same code runs in workers and in-process. */
export async function producePair(source: ImageSource, known: ReadonlySet<number>, onBad: (b: BadFile) => void, seed: number, task: PairTask, o: PairOptions): Promise<Pair> {
  const { image, index } = await loadGood(source, task.index, known, onBad);
  return makePair(image, index, pairRng(seed, task.step, task.slot), o);
}

/** The message for a pair that could not be made: which pair, which image, why. */
export function describeTaskError(source: ImageSource, task: PairTask, e: unknown): string {
  const why = e instanceof Error ? e.message : String(e);
  return `pair ${task.slot} of batch ${task.step} (image ${source.itemName(task.index)} of ${source.name}): ${why}`;
}
