import { scalar, tensor } from '../constant.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { type PadsOption, type PairOption, checkWindow, pair, quad, uncovered, windowOut } from '../window.js';
import { concat } from './Concat.js';
import { convTranspose } from './ConvTranspose.js';
import { greater } from './Greater.js';
import { pad } from './Pad.js';
import { reshape } from './Reshape.js';
import { slice } from './Slice.js';
import { where } from './Where.js';

export interface MaxPoolAttrs {
  readonly ceil_mode: number;
  readonly dilations: readonly number[];
  readonly kernel_shape: readonly number[];
  readonly pads: readonly number[];
  readonly strides: readonly number[];
}

/**
 * 2-D max pooling (padding counts as −∞), output Y only. The backward pass does not use MaxPool's
 * Indices output, which WebGPU cannot produce. Tie rule: each output's cotangent goes to the FIRST
 * maximal element of its window in row-major window order (kernel row, then column), which is the
 * element PyTorch and ONNX Runtime return as the index. For each kernel offset (a, b), in that
 * order, the strided slice of the −∞-padded input at the offset is compared with Y; where it equals
 * Y (Y > slice is false) and the output is still unclaimed, the offset takes the remaining
 * cotangent. The k² per-offset cotangents, stacked as channels, are scattered back onto the input
 * grid by one ConvTranspose with one-hot kernels (stride s, dilation d), cropped to the input.
 * Several windows sharing a maximum each send it their own cotangent, which adds up.
 */
export const MaxPool = defineOp<MaxPoolAttrs, { X: Value }>({
  type: 'MaxPool',
  inputs: { X: 'differentiable' },
  attrs: { ceil_mode: 'int', dilations: 'ints', kernel_shape: 'ints', pads: 'ints', strides: 'ints' },
  infer: ({ X }, a, fail) => {
    if (X.rank !== 4) fail('only 2-D pooling (rank-4 X) is supported');
    if (X.dtype !== 'float32') fail('X must be float32');
    if (a.ceil_mode !== 0) fail('ceil_mode=1 is not supported');
    checkWindow({ kernel: a.kernel_shape, strides: a.strides, pads: a.pads, dilations: a.dilations }, fail);
    const out = [0, 1].map((i) => {
      const [n, k, s, d, begin, end] = [X.shape[2 + i]!, a.kernel_shape[i]!, a.strides[i]!, a.dilations[i]!, a.pads[i]!, a.pads[i + 2]!];
      const m = windowOut(n, k, s, begin, end, d);
      if (m < 1) fail(`the window (dilated extent ${d * (k - 1) + 1}) does not fit the padded input on spatial axis ${i}`);
      // Every window must see at least one input element, or its maximum would be −∞ padding.
      for (let j = 0; j < m; j++) {
        const first = j * s - begin;
        if (!Array.from({ length: k }, (_, t) => first + t * d).some((q) => q >= 0 && q < n)) fail(`window ${j} on spatial axis ${i} lies entirely in the padding`);
      }
      return m;
    });
    return { dtype: X.dtype, shape: [X.shape[0]!, X.shape[1]!, out[0]!, out[1]!] };
  },
  vjp: ({ g, x: { X }, y: [Y], attrs: a }) => {
    const [n, c, h, w] = X.shape as [number, number, number, number];
    const [, , ho, wo] = Y!.shape as [number, number, number, number];
    const [kh, kw] = [a.kernel_shape[0]!, a.kernel_shape[1]!];
    const [sh, sw] = [a.strides[0]!, a.strides[1]!];
    const [dh, dw] = [a.dilations[0]!, a.dilations[1]!];
    const p = a.pads;
    const padded = p.some((v) => v > 0) ? pad(X, [0, 0, p[0]!, p[1]!, 0, 0, p[2]!, p[3]!], { value: -Infinity }) : X;
    const zero = scalar(g.graph, 0, g.dtype);
    let remaining = g;
    const claims: Value[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const [r0, c0] = [i * dh, j * dw];
        const window = slice(padded, [r0, c0], [r0 + sh * (ho - 1) + 1, c0 + sw * (wo - 1) + 1], [2, 3], [sh, sw]);
        const below = greater(Y!, window); // false where this offset holds the maximum
        claims.push(reshape(where(below, zero, remaining), [n * c, 1, ho, wo]));
        if (claims.length < kh * kw) remaining = where(below, remaining, zero);
      }
    }
    const taps = kh * kw;
    const oneHot = new Float32Array(taps * taps);
    for (let t = 0; t < taps; t++) oneHot[t * taps + t] = 1;
    const kernel = tensor(g.graph, oneHot, [taps, 1, kh, kw]);
    const outputPadding = [0, 1].map((i) => uncovered(X.shape[2 + i]!, a.kernel_shape[i]!, a.strides[i]!, p[i]!, p[i + 2]!, a.dilations[i]!)) as [number, number];
    const stacked = taps === 1 ? claims[0]! : concat(claims, 1);
    const dx = convTranspose(stacked, kernel, undefined, { strides: [sh, sw], dilations: [dh, dw], pads: [p[0]!, p[1]!, p[2]!, p[3]!], outputPadding });
    return { X: reshape(dx, [n, c, h, w]) };
  },
});

export interface MaxPoolOptions {
  readonly kernel: PairOption;
  /** Defaults to 1 (ONNX's default, unlike PyTorch's stride = kernel). */
  readonly strides?: PairOption;
  readonly pads?: PadsOption;
  readonly dilations?: PairOption;
}

/** Max pooling of an (N, C, H, W) map; ResNet's stem pool is `maxPool(x, { kernel: 3, strides: 2, pads: 1 })`. */
export function maxPool(x: Value, options: MaxPoolOptions): Value {
  return MaxPool.call(
    { X: x },
    { ceil_mode: 0, dilations: pair(options.dilations, 1), kernel_shape: pair(options.kernel, 1), pads: quad(options.pads), strides: pair(options.strides, 1) },
  );
}
