/**
 * Sliding-window geometry shared by Conv, ConvTranspose and the pooling ops: 2-D windows over NCHW
 * tensors, explicit pads (no auto_pad), floor rounding (no ceil_mode). Pads are ONNX-ordered
 * [top, left, bottom, right].
 */

export type Pair = readonly [number, number];
export type Quad = readonly [number, number, number, number];

/** What a builder accepts for a 2-D attribute: one number for both axes, or one per axis. */
export type PairOption = number | readonly [number, number];
/** Pads: one number for all four sides, [h, w] (symmetric), or ONNX's [top, left, bottom, right]. */
export type PadsOption = number | readonly [number, number] | readonly [number, number, number, number];

export function pair(v: PairOption | undefined, fallback: number): Pair {
  if (v === undefined) return [fallback, fallback];
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

export function quad(v: PadsOption | undefined): Quad {
  if (v === undefined) return [0, 0, 0, 0];
  if (typeof v === 'number') return [v, v, v, v];
  return v.length === 2 ? [v[0], v[1], v[0], v[1]] : [v[0], v[1], v[2], v[3]];
}

/** Output length of a window sweep: ⌊(n + begin + end − d·(k−1) − 1) / s⌋ + 1. */
export function windowOut(n: number, k: number, s: number, begin: number, end: number, d = 1): number {
  return Math.floor((n + begin + end - d * (k - 1) - 1) / s) + 1;
}

/**
 * Checks the 2-D window attributes of a node: lengths, positivity, and that at least one window
 * fits; `fail` reports what is wrong.
 */
export function checkWindow(
  attrs: { readonly kernel: readonly number[]; readonly strides: readonly number[]; readonly pads: readonly number[]; readonly dilations: readonly number[] },
  fail: (m: string) => never,
): void {
  const { kernel, strides, pads, dilations } = attrs;
  if (kernel.length !== 2 || strides.length !== 2 || dilations.length !== 2 || pads.length !== 4) {
    fail(`2-D windows need kernel_shape, strides, dilations of length 2 and pads of length 4, got kernel ${JSON.stringify(kernel)}, strides ${JSON.stringify(strides)}, dilations ${JSON.stringify(dilations)}, pads ${JSON.stringify(pads)}`);
  }
  if (![...kernel, ...strides, ...dilations].every((v) => Number.isInteger(v) && v >= 1)) fail('kernel_shape, strides and dilations must be positive integers');
  if (!pads.every((v) => Number.isInteger(v) && v >= 0)) fail(`pads must be non-negative integers, got ${JSON.stringify(pads)}`);
}

/**
 * The output padding that makes a transposed sweep reproduce an input length n exactly: the rows
 * of the (padded) input past the last window are not covered by any window.
 */
export function uncovered(n: number, k: number, s: number, begin: number, end: number, d = 1): number {
  return (n + begin + end - d * (k - 1) - 1) % s;
}
