import { tensor } from '../constant.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { type PadsOption, type PairOption, checkWindow, pair, quad, uncovered, windowOut } from '../window.js';
import { cast } from './Cast.js';
import { tapKernel } from '../convGrad.js';
import { conv } from './Conv.js';
import { convTranspose } from './ConvTranspose.js';
import { equal } from './Equal.js';
import { matMul } from './MatMul.js';
import { mul } from './Mul.js';
import { pad } from './Pad.js';
import { relu } from './Relu.js';
import { reshape } from './Reshape.js';

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
 * element PyTorch and ONNX Runtime return as the index. One Conv with one-hot kernels gathers every
 * window of the padded input as k² channels; Equal with Y marks the offsets holding the maximum,
 * and a k²×k² MatMul with Relu keeps the first mark of each window (ArgMax and int64 Equal would
 * do it in fewer ops, but have no WebGPU kernel in ONNX Runtime 1.29). One ConvTranspose with the
 * same kernels scatters mask·g back onto the input grid (stride s, dilation d), cropped to the
 * input. Several windows sharing a maximum each send it their own cotangent, which adds up. The
 * padding is the lowest finite float32 rather than −∞ (0·−∞ would be NaN in the gather's
 * products), so X must be finite, as it is wherever the loss is. Measured (ResNet-18 stem
 * pool, batch 16, 112², CPU, kernel time in the step): 17 ms against 29 ms for the previous
 * per-offset form (k² strided Slices compared with Y, 2k² Wheres), whose step-2 Slices copy element
 * by element (12 ms); the Conv gathers all windows at once (3 ms).
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
    const taps = kh * kw;
    const window = { strides: [a.strides[0]!, a.strides[1]!], dilations: [a.dilations[0]!, a.dilations[1]!] } as const;
    const p = a.pads;
    const padded = p.some((v) => v > 0) ? pad(X, [0, 0, p[0]!, p[1]!, 0, 0, p[2]!, p[3]!], { value: -MAX_FLOAT32 }) : X;
    const kernel = tapKernel(g.graph, kh, kw);
    const windows = reshape(conv(reshape(padded, [n * c, 1, padded.shape[2]!, padded.shape[3]!]), kernel, undefined, window), [n * c, taps, ho * wo]);
    const hits = cast(equal(windows, reshape(Y!, [n * c, 1, ho * wo])), g.dtype);
    // first[t] = relu(hits[t] − Σ_{t'<t} hits[t']): 1 at the first hit, 0 elsewhere (exact small integers).
    const firstOf = new Float32Array(taps * taps);
    for (let t = 0; t < taps; t++) for (let u = 0; u <= t; u++) firstOf[t * taps + u] = u === t ? 1 : -1;
    const first = relu(matMul(tensor(g.graph, firstOf, [taps, taps]), hits));
    const claims = reshape(mul(first, reshape(g, [n * c, 1, ho * wo])), [n * c, taps, ho, wo]);
    const outputPadding = [0, 1].map((i) => uncovered(X.shape[2 + i]!, a.kernel_shape[i]!, a.strides[i]!, p[i]!, p[i + 2]!, a.dilations[i]!)) as [number, number];
    const dx = convTranspose(claims, kernel, undefined, { ...window, pads: [p[0]!, p[1]!, p[2]!, p[3]!], outputPadding });
    return { X: reshape(dx, [n, c, h, w]) };
  },
});

/** The largest finite float32. */
const MAX_FLOAT32 = 3.4028234663852886e38;

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
