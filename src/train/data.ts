/** The data pipeline's options for a configuration, and a batch's tensors under the step graphs' input names. */
import { featureMapSize } from '../config/derived.js';
import type { MultiSiamConfig, ViewConfig } from '../config/schema.js';
import type { ViewAugParams } from '../data/augment.js';
import type { PairBatch } from '../data/batch.js';
import type { PairOptions } from '../data/pairs.js';
import { NAMES } from '../graphs/io.js';
import { methodFor } from '../methods/index.js';
import type { TensorData } from '../onnx/dtype.js';

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

/** The config's snake_case fields mapped onto the pair sampler; the method decides the IoU gate and the RoI grid. */
export function pairOptionsFor(cfg: MultiSiamConfig): PairOptions {
  const { h, w } = featureMapSize(cfg);
  const d = cfg.data;
  const rule = methodFor(cfg).pairs(cfg);
  return {
    imageSize: d.image_size,
    minCropScale: d.min_crop_scale,
    maxCropScale: d.max_crop_scale,
    ratio: d.ratio,
    iouThreshold: rule.iouThreshold,
    iouMaxTries: rule.iouMaxTries,
    views: [viewParams(d.view1), viewParams(d.view2)],
    featureH: h,
    featureW: w,
    roiSize: rule.roiSize,
  };
}

/** Every data tensor a batch offers, under the graphs' input names; a graph takes the ones it declares. */
export function batchFeeds(batch: PairBatch): Record<string, TensorData> {
  return {
    [NAMES.view(1)]: batch.view1,
    [NAMES.view(2)]: batch.view2,
    [NAMES.flip(1)]: batch.flip1,
    [NAMES.flip(2)]: batch.flip2,
    [NAMES.box(1)]: batch.boxes1,
    [NAMES.box(2)]: batch.boxes2,
    [NAMES.denseWeight]: batch.denseWeight,
    [NAMES.offset12]: batch.offset12,
    [NAMES.roiPositions(1)]: batch.roiPos1,
    [NAMES.roiPositions(2)]: batch.roiPos2,
  };
}
