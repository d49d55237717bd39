/** The data pipeline's options for a configuration (the config's snake_case fields mapped onto them). */
import { type MultiSiamConfig, type ViewConfig, featureMapSize } from '../config/index.js';
import type { ViewAugParams } from '../data/augment.js';
import type { PairBatch } from '../data/batch.js';
import type { PairOptions } from '../data/pairs.js';

function viewParams(v: ViewConfig): ViewAugParams {
  return {
    flipProb: v.flip_p,
    jitterProb: v.jitter_p,
    brightness: v.brightness,
    contrast: v.contrast,
    saturation: v.saturation,
    hue: v.hue,
    grayscaleProb: v.grayscale_p,
    blurProb: v.blur_p,
    blurSigma: v.blur_sigma,
    solarizeProb: v.solarize_p,
    solarizeThreshold: 0.5,
  };
}

export function pairOptionsFor(cfg: MultiSiamConfig): PairOptions {
  const { h, w } = featureMapSize(cfg);
  const d = cfg.data;
  return {
    imageSize: d.image_size,
    minCropScale: d.min_crop_scale,
    maxCropScale: d.max_crop_scale,
    ratio: d.ratio,
    iouThreshold: d.iou_threshold,
    iouMaxTries: d.iou_max_tries,
    views: [viewParams(d.view1), viewParams(d.view2)],
    featureH: h,
    featureW: w,
    roiSize: d.roi_size,
    mean: d.mean,
    std: d.std,
  };
}

/** A batch's tensors under the step graphs' data-input names (src/graphs/inputs.ts). */
export function batchFeeds(batch: PairBatch): Record<string, Float32Array> {
  return {
    view1: batch.view1,
    view2: batch.view2,
    flip1: batch.flip1,
    flip2: batch.flip2,
    dense_weight: batch.denseWeight,
    offset12: batch.offset12,
    roi_pos1: batch.roiPos1,
    roi_pos2: batch.roiPos2,
  };
}
