/**
 * BYOL's asymmetric view augmentations (SPEC §2.2) as data: one ViewAugParams per view, one sampler
 * and one function that applies the sampled ops, so view 1 and view 2 differ only in their params.
 * Each op follows torchvision's tensor implementation on CHW floats in [0, 1] (clamped after each op);
 * the result is quantised to uint8, which is what a step uploads (the graphs normalise it with the
 * configured mean/std).
 */
import type { Rng } from './rng.js';

export interface ViewAugParams {
  flipProb: number;
  /** Probability of applying colour jitter (all four factors, in a random order). */
  jitterProb: number;
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
  grayscaleProb: number;
  blurProb: number;
  /** σ range in output pixels; the kernel is ~0.1·image_size (23 at 224), odd. */
  blurSigma: readonly [number, number];
  solarizeProb: number;
  /** On [0, 1] values: x ≥ threshold becomes 1 − x. */
  solarizeThreshold: number;
}

const BYOL_COMMON = {
  flipProb: 0.5, jitterProb: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1,
  grayscaleProb: 0.2, blurSigma: [0.1, 2.0], solarizeThreshold: 0.5,
} as const;

/** BYOL (Grill et al. 2020, Table 6): blur 1.0 / 0.1, solarize 0 / 0.2. */
export const BYOL_VIEWS: readonly [ViewAugParams, ViewAugParams] = [
  { ...BYOL_COMMON, blurProb: 1.0, solarizeProb: 0 },
  { ...BYOL_COMMON, blurProb: 0.1, solarizeProb: 0.2 },
];

/** Geometry only (flip kept): for tests and for probing what the crops alone do. */
export const GEOMETRY_ONLY: ViewAugParams = {
  ...BYOL_COMMON, jitterProb: 0, grayscaleProb: 0, blurProb: 0, solarizeProb: 0,
};


/** What one view drew: plain data, so a batch's augmentations can be logged or replayed. */
export interface ViewOps {
  flip: boolean;
  /** Jitter factors and torchvision's random op order (0 brightness, 1 contrast, 2 saturation, 3 hue), or null. */
  jitter: { order: number[]; brightness: number; contrast: number; saturation: number; hue: number } | null;
  grayscale: boolean;
  blurSigma: number | null;
  /** The solarize threshold when solarize applies, else null. */
  solarize: number | null;
}

/**
 * Draws a view's ops. Every variable is drawn whether or not its op applies, so changing one
 * probability never shifts the draws of the others.
 */
export function sampleViewOps(rng: Rng, p: ViewAugParams): ViewOps {
  const flip = rng.next() < p.flipProb;
  const jitterOn = rng.next() < p.jitterProb;
  const brightness = rng.uniform(Math.max(0, 1 - p.brightness), 1 + p.brightness);
  const contrast = rng.uniform(Math.max(0, 1 - p.contrast), 1 + p.contrast);
  const saturation = rng.uniform(Math.max(0, 1 - p.saturation), 1 + p.saturation);
  const hue = rng.uniform(-p.hue, p.hue);
  const order = Array.from(rng.permutation(4));
  const grayscale = rng.next() < p.grayscaleProb;
  const blurOn = rng.next() < p.blurProb;
  const sigma = rng.uniform(p.blurSigma[0], p.blurSigma[1]);
  const solarize = rng.next() < p.solarizeProb ? p.solarizeThreshold : null;
  return {
    flip,
    jitter: jitterOn ? { order, brightness, contrast, saturation, hue } : null,
    grayscale,
    blurSigma: blurOn ? sigma : null,
    solarize,
  };
}

/**
 * Odd kernel size nearest 0.1·size (BYOL's 23 px at 224 scaled: 11 at 112), at least 3, and small
 * enough for reflect padding (≤ 2·size − 1).
 */
export function blurKernelSize(size: number): number {
  return Math.min(Math.max(3, 2 * Math.floor(0.05 * size) + 1), 2 * size - 1);
}

/** Applies the colour ops of `ops` in place to a CHW [3, size, size] image in [0, 1]. */
export function applyViewOps(img: Float32Array, at: number, size: number, ops: ViewOps): void {
  const n = size * size;
  const v = img.subarray(at, at + 3 * n);
  if (ops.jitter) {
    const j = ops.jitter;
    for (const k of j.order) {
      if (k === 0) blend(v, n, j.brightness, () => 0);
      else if (k === 1) {
        let m = 0;
        for (let i = 0; i < n; i++) m += gray(v, i, n);
        m /= n;
        blend(v, n, j.contrast, () => m);
      } else if (k === 2) blend(v, n, j.saturation, (i) => gray(v, i, n));
      else shiftHue(v, n, j.hue);
    }
  }
  if (ops.grayscale) {
    for (let i = 0; i < n; i++) v[i] = v[i + n] = v[i + 2 * n] = gray(v, i, n);
  }
  if (ops.blurSigma !== null) gaussianBlur(v, size, ops.blurSigma, blurKernelSize(size));
  const t = ops.solarize;
  if (t !== null) for (let i = 0; i < 3 * n; i++) if (v[i]! >= t) v[i] = 1 - v[i]!;
}

/** [0, 1] floats to uint8 as torchvision's ToPILImage does after augmentation: round(255·x), clamped. */
export function toUint8(src: Float32Array, dst: Uint8Array = new Uint8Array(src.length)): Uint8Array {
  for (let i = 0; i < src.length; i++) dst[i] = Math.round(255 * Math.min(1, Math.max(0, src[i]!)));
  return dst;
}

/** torchvision's rgb_to_grayscale weights. */
function gray(v: Float32Array, i: number, n: number): number {
  return 0.2989 * v[i]! + 0.587 * v[i + n]! + 0.114 * v[i + 2 * n]!;
}

/** torchvision _blend: clamp(f·x + (1 − f)·other(pixel)). */
function blend(v: Float32Array, n: number, f: number, other: (i: number) => number): void {
  for (let i = 0; i < n; i++) {
    const o = (1 - f) * other(i);
    for (let c = 0; c < 3; c++) {
      const k = i + c * n;
      const x = f * v[k]! + o;
      v[k] = x < 0 ? 0 : x > 1 ? 1 : x;
    }
  }
}

/** torchvision adjust_hue: RGB → HSV, h = (h + shift) mod 1, back to RGB. */
function shiftHue(v: Float32Array, n: number, shift: number): void {
  for (let i = 0; i < n; i++) {
    const r = v[i]!, g = v[i + n]!, b = v[i + 2 * n]!;
    const max = Math.max(r, g, b);
    const min = Math.min(r, g, b);
    const cr = max - min;
    if (cr === 0) continue; // grey: hue is undefined and the shift leaves the pixel as it is
    const s = cr / max;
    const rc = (max - r) / cr, gc = (max - g) / cr, bc = (max - b) / cr;
    let h = max === r ? bc - gc : max === g ? 2 + rc - bc : 4 + gc - rc;
    h = (((h / 6 + 1) % 1) + shift + 1) % 1;
    const h6 = h * 6;
    const sector = Math.floor(h6) % 6;
    const f = h6 - Math.floor(h6);
    const p = clamp01(max * (1 - s));
    const q = clamp01(max * (1 - s * f));
    const t = clamp01(max * (1 - s * (1 - f)));
    // torchvision _hsv2rgb's sector table, written out so no array is built per pixel.
    let or: number, og: number, ob: number;
    switch (sector) {
      case 0: or = max; og = t; ob = p; break;
      case 1: or = q; og = max; ob = p; break;
      case 2: or = p; og = max; ob = t; break;
      case 3: or = p; og = q; ob = max; break;
      case 4: or = t; og = p; ob = max; break;
      default: or = max; og = p; ob = q;
    }
    v[i] = or;
    v[i + n] = og;
    v[i + 2 * n] = ob;
  }
}

const clamp01 = (x: number): number => (x < 0 ? 0 : x > 1 ? 1 : x);

/**
 * torchvision gaussian_blur: separable kernel of size k (≤ 2·size − 1), σ in pixels, reflect padding.
 * Taps under 1e-4 of the centre weight are left out: for σ ≤ 2 they hold < 1e-5 of the kernel's mass
 * (far below the 1/255 step torchvision's 8-bit path rounds to) and skipping them halves the cost at
 * the typical σ ≈ 1.
 */
function gaussianBlur(v: Float32Array, size: number, sigma: number, kernelSize: number): void {
  const half = Math.min((kernelSize - 1) / 2, Math.ceil(sigma * Math.sqrt(2 * Math.log(1e4))));
  const k = 2 * half + 1;
  const kernel = new Float64Array(k);
  let sum = 0;
  for (let i = 0; i < k; i++) sum += kernel[i] = Math.exp(-0.5 * ((i - half) / sigma) ** 2);
  for (let i = 0; i < k; i++) kernel[i]! /= sum;
  const reflect = (i: number): number => (i < 0 ? -i : i >= size ? 2 * size - 2 - i : i);
  const n = size * size;
  const padded = new Float32Array(size + 2 * half);
  const rows = new Float32Array(n);
  for (let c = 0; c < 3; c++) {
    const ch = v.subarray(c * n, (c + 1) * n);
    for (let y = 0; y < size; y++) {
      for (let x = -half; x < size + half; x++) padded[x + half] = ch[y * size + reflect(x)]!;
      for (let x = 0; x < size; x++) {
        let a = 0;
        for (let t = 0; t < k; t++) a += kernel[t]! * padded[x + t]!;
        rows[y * size + x] = a;
      }
    }
    // Vertical pass as whole-row multiply-adds, which walk memory in order.
    for (let y = 0; y < size; y++) {
      const dst = y * size;
      ch.fill(0, dst, dst + size);
      for (let t = 0; t < k; t++) {
        const src = reflect(y + t - half) * size;
        const w = kernel[t]!;
        for (let x = 0; x < size; x++) ch[dst + x]! += w * rows[src + x]!;
      }
    }
  }
}
