/**
 * A batch of B view pairs with everything the step graphs take besides parameters (SPEC §2.4, §2.9):
 * images, boxes, flips, IoU weights, the offset map ΔC (view 1 online, view 2 target) and the RoI
 * sampling positions. Which image goes into slot b of batch k is `EpochOrder.indexAt(k·B + b)`:
 * every image once per epoch, in a per-epoch shuffle that depends only on the seed.
 */
import { roiBoxes, writeOffsetMap, writeRoiPositions } from './alignment.js';
import type { Pair, PairOptions } from './pairs.js';
import { Rng } from './rng.js';

export interface PairBatch {
  size: number;
  imageSize: number;
  featureH: number;
  featureW: number;
  roiSize: number;
  /** [B, 3, H, W] uint8 RGB images (normalised in the graphs). */
  view1: Uint8Array;
  view2: Uint8Array;
  /** [B, 4] boxes (x1, y1, x2, y2) normalised to the source image. */
  boxes1: Float32Array;
  boxes2: Float32Array;
  /** [B] 1 where the view was flipped horizontally. */
  flip1: Float32Array;
  flip2: Float32Array;
  /** [B] IoU of the two boxes. */
  iou: Float32Array;
  /** [B] 1 when IoU ≥ iou_threshold within iou_max_tries, else 0 (global loss only). */
  denseWeight: Float32Array;
  /** [B] box pairs drawn for each pair. */
  tries: Int32Array;
  /** [B, 2, h, w] ΔC with view 1 online and view 2 target; the other direction is its negation. */
  offset12: Float32Array;
  /** [B, S·S, 2] RoI sampling positions (x, y) on each view's h×w map. */
  roiPos1: Float32Array;
  roiPos2: Float32Array;
  /** [B] index of the image used (after any bad-file replacement). */
  sourceIndex: Int32Array;
  /** [B, H, W] class masks cropped/flipped like the views, when the source has masks. */
  mask1?: Uint8Array;
  mask2?: Uint8Array;
}

/** Packs B pairs (in slot order) into one batch and computes the alignment inputs. */
export function assembleBatch(pairs: readonly Pair[], o: PairOptions): PairBatch {
  const B = pairs.length;
  const S = o.imageSize;
  const { featureH: h, featureW: w, roiSize: R } = o;
  const img = 3 * S * S;
  const batch: PairBatch = {
    size: B, imageSize: S, featureH: h, featureW: w, roiSize: R,
    view1: new Uint8Array(B * img), view2: new Uint8Array(B * img),
    boxes1: new Float32Array(B * 4), boxes2: new Float32Array(B * 4),
    flip1: new Float32Array(B), flip2: new Float32Array(B),
    iou: new Float32Array(B), denseWeight: new Float32Array(B), tries: new Int32Array(B),
    offset12: new Float32Array(B * 2 * h * w),
    roiPos1: new Float32Array(B * R * R * 2), roiPos2: new Float32Array(B * R * R * 2),
    sourceIndex: new Int32Array(B),
  };
  const withMasks = B > 0 && pairs.every((p) => p.mask1 && p.mask2);
  const mask1 = withMasks ? new Uint8Array(B * S * S) : undefined;
  const mask2 = withMasks ? new Uint8Array(B * S * S) : undefined;
  pairs.forEach((p, b) => {
    batch.view1.set(p.view1, b * img);
    batch.view2.set(p.view2, b * img);
    batch.boxes1.set(p.box1, b * 4);
    batch.boxes2.set(p.box2, b * 4);
    batch.flip1[b] = p.flip1 ? 1 : 0;
    batch.flip2[b] = p.flip2 ? 1 : 0;
    batch.iou[b] = p.iou;
    batch.denseWeight[b] = p.dense ? 1 : 0;
    batch.tries[b] = p.tries;
    batch.sourceIndex[b] = p.index;
    writeOffsetMap(p.box1, p.box2, h, w, batch.offset12, b * 2 * h * w);
    const [roi1, roi2] = roiBoxes(p.box1, p.box2);
    writeRoiPositions(p.box1, roi1, h, w, R, batch.roiPos1, b * R * R * 2);
    writeRoiPositions(p.box2, roi2, h, w, R, batch.roiPos2, b * R * R * 2);
    if (mask1 && mask2) {
      mask1.set(p.mask1!, b * S * S);
      mask2.set(p.mask2!, b * S * S);
    }
  });
  if (mask1 && mask2) {
    batch.mask1 = mask1;
    batch.mask2 = mask2;
  }
  return batch;
}

/** Fraction of pairs that reached the IoU threshold: the `iou_pass_rate` metric. */
export function iouPassRate(batch: PairBatch): number {
  let s = 0;
  for (const v of batch.denseWeight) s += v;
  return batch.size === 0 ? 0 : s / batch.size;
}

/** Image order: a fresh permutation of the dataset per epoch, a pure function of (seed, epoch). */
export class EpochOrder {
  private epoch = -1;
  private perm: Uint32Array = new Uint32Array(0);

  constructor(private readonly count: number, private readonly seed: number) {
    if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`dataset size ${count}: need at least one image`);
  }

  /** The image at global sample position `pos` (= step·B + slot). */
  indexAt(pos: number): number {
    const epoch = Math.floor(pos / this.count);
    if (epoch !== this.epoch) {
      // Key −1 keeps this stream apart from the pair streams, whose first key is a step ≥ 0.
      this.perm = Rng.fromSeed(this.seed).fork(-1, epoch).permutation(this.count);
      this.epoch = epoch;
    }
    return this.perm[pos - epoch * this.count]!;
  }
}
