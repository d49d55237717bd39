/**
 * Crop-and-resize of a view, the way torchvision's RandomResizedCrop does it on a PIL image (and on
 * tensors with antialias=True): PIL's separable bilinear resampling, whose triangle filter widens by
 * the downscale factor, so a large crop shrunk to 112 px is antialiased rather than aliased, and an
 * upscaled crop (tiny images included) is plain bilinear. Pixel centres sit at half-integers; source
 * pixels outside the image get no weight (PIL renormalises). The one difference from PIL: values stay
 * float instead of being rounded to 8 bits between steps.
 */
import type { Box } from './alignment.js';

export interface RgbSource {
  width: number;
  height: number;
  /** HWC, 3 channels, 8 bits. */
  rgb: Uint8Array;
}

interface Taps {
  start: Int32Array;
  count: Int32Array;
  /** `maxTaps` weights per output sample, normalised to sum 1. */
  weights: Float32Array;
  maxTaps: number;
}

/**
 * PIL's precompute_coeffs for the bilinear filter over source range [in0, in1) → outSize samples.
 * Every sample centre lies in [0, inSize] (boxes are inside the image), so each has a tap of positive weight.
 */
function taps(inSize: number, in0: number, in1: number, outSize: number): Taps {
  const scale = (in1 - in0) / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const maxTaps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * maxTaps);
  for (let o = 0; o < outSize; o++) {
    const centre = in0 + (o + 0.5) * scale;
    const lo = Math.max(Math.trunc(centre - support + 0.5), 0);
    const hi = Math.min(Math.trunc(centre + support + 0.5), inSize);
    let total = 0;
    let n = 0;
    for (let x = lo; x < hi && n < maxTaps; x++, n++) {
      const w = Math.max(0, 1 - Math.abs((x - centre + 0.5) / filterScale));
      weights[o * maxTaps + n] = w;
      total += w;
    }
    for (let k = 0; k < n; k++) weights[o * maxTaps + k]! /= total;
    start[o] = lo;
    count[o] = n;
  }
  return { start, count, weights, maxTaps };
}

/**
 * Resamples `box` (normalised to the image) to size×size and writes it as CHW floats in [0, 1] into
 * `out` at `at`, mirrored left–right when `flip`.
 */
export function cropResize(img: RgbSource, box: Box, size: number, flip: boolean, out: Float32Array, at = 0): void {
  const { width: W, height: H, rgb } = img;
  const tx = taps(W, box[0] * W, box[2] * W, size);
  const ty = taps(H, box[1] * H, box[3] * H, size);
  // Horizontal pass over the source rows the vertical taps touch.
  let rowLo = H;
  let rowHi = 0;
  for (let o = 0; o < size; o++) {
    rowLo = Math.min(rowLo, ty.start[o]!);
    rowHi = Math.max(rowHi, ty.start[o]! + ty.count[o]!);
  }
  const rows = rowHi - rowLo;
  const tmp = new Float32Array(rows * size * 3);
  for (let r = 0; r < rows; r++) {
    const src = (rowLo + r) * W * 3;
    for (let o = 0; o < size; o++) {
      let a = 0, b = 0, c = 0;
      const s = tx.start[o]!;
      const wo = o * tx.maxTaps;
      for (let k = 0; k < tx.count[o]!; k++) {
        const w = tx.weights[wo + k]!;
        const p = src + (s + k) * 3;
        a += w * rgb[p]!;
        b += w * rgb[p + 1]!;
        c += w * rgb[p + 2]!;
      }
      const t = (r * size + o) * 3;
      tmp[t] = a;
      tmp[t + 1] = b;
      tmp[t + 2] = c;
    }
  }
  const plane = size * size;
  for (let y = 0; y < size; y++) {
    const s = ty.start[y]! - rowLo;
    const wo = y * ty.maxTaps;
    for (let o = 0; o < size; o++) {
      let a = 0, b = 0, c = 0;
      for (let k = 0; k < ty.count[y]!; k++) {
        const w = ty.weights[wo + k]!;
        const t = ((s + k) * size + o) * 3;
        a += w * tmp[t]!;
        b += w * tmp[t + 1]!;
        c += w * tmp[t + 2]!;
      }
      const q = at + y * size + (flip ? size - 1 - o : o);
      out[q] = clamp01(a / 255);
      out[q + plane] = clamp01(b / 255);
      out[q + 2 * plane] = clamp01(c / 255);
    }
  }
}

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

/** The same crop of a class mask, nearest neighbour (labels must not be blended), size×size. */
export function cropResizeMask(mask: Uint8Array, width: number, height: number, box: Box, size: number, flip: boolean): Uint8Array {
  const out = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    const sy = Math.min(height - 1, Math.max(0, Math.floor((box[1] + ((y + 0.5) / size) * (box[3] - box[1])) * height)));
    for (let x = 0; x < size; x++) {
      const sx = Math.min(width - 1, Math.max(0, Math.floor((box[0] + ((x + 0.5) / size) * (box[2] - box[0])) * width)));
      out[y * size + (flip ? size - 1 - x : x)] = mask[sy * width + sx]!;
    }
  }
  return out;
}
