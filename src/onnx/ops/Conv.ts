import { ints } from '../constant.js';
import { GraphError } from '../errors.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { type PadsOption, type PairOption, type Quad, checkWindow, pair, quad, uncovered, windowOut } from '../window.js';
import { concat } from './Concat.js';
import { convTranspose } from './ConvTranspose.js';
import { gather } from './Gather.js';
import { gemm } from './Gemm.js';
import { pad } from './Pad.js';
import { reduceSum } from './ReduceSum.js';
import { reshape } from './Reshape.js';
import { slice } from './Slice.js';
import { transpose } from './Transpose.js';

export interface ConvAttrs {
  readonly dilations: readonly number[];
  readonly group: number;
  readonly kernel_shape: readonly number[];
  readonly pads: readonly number[];
  readonly strides: readonly number[];
}

/**
 * 2-D convolution, NCHW: X (N, C, H, W), W (O, C/group, kh, kw), optional bias B (O). Gradients:
 * - dB = Σ_{N,H,W} g.
 * - dX: ConvTranspose(g, W) with the output_padding that restores H, W; or, with stride 1, a Conv
 *   of g with the spatially flipped, in/out-swapped kernel (padding d·(k−1) − p).
 * - dW: one Gemm per kernel offset, g (O, N·Ho·Wo) · slice_ab(X)ᵀ (N·Ho·Wo, C) (group 1); or a
 *   Conv of Xᵀ (channels as batch) with gᵀ as the kernel, strides and dilations swapped, grouped
 *   when group > 1.
 * `auto` choices, from tools/bench-conv-grad.ts on the CPU EP (ResNet-18/50 layers, 112–224 px):
 * the per-offset Gemm beats the Conv form 1.3–7× on every layer except one with few input channels
 * (the 7×7 RGB stem, where 49 skinny Gemms are ~4× slower), so Gemm unless C < 16 or group > 1;
 * the flipped Conv beats ConvTranspose on 1×1 kernels and large maps (up to 2.3×) but loses on
 * small maps with many channels (7×7×512: 1.5× slower), so it is used with stride 1 when the kernel
 * is 1×1 or the map has ≥ 28×28 cells.
 */
export const Conv = defineOp<ConvAttrs, { X: Value; W: Value; B: Value | undefined }>({
  type: 'Conv',
  inputs: { X: 'differentiable', W: 'differentiable', B: { grad: 'differentiable', optional: true } },
  attrs: { dilations: 'ints', group: 'int', kernel_shape: 'ints', pads: 'ints', strides: 'ints' },
  infer: ({ X, W, B }, a, fail) => {
    if (X.rank !== 4 || W.rank !== 4) fail('only 2-D convolutions (rank-4 X and W) are supported');
    if (X.dtype !== 'float32' || W.dtype !== 'float32') fail('X and W must be float32 (ONNX Runtime has no float64 Conv kernel on the CPU)');
    checkWindow({ kernel: a.kernel_shape, strides: a.strides, pads: a.pads, dilations: a.dilations }, fail);
    const [n, c, h, w] = X.shape as [number, number, number, number];
    const [o, ci, kh, kw] = W.shape as [number, number, number, number];
    if (!Number.isInteger(a.group) || a.group < 1 || c % a.group !== 0 || o % a.group !== 0) fail(`group ${a.group} must divide the input (${c}) and output (${o}) channels`);
    if (ci * a.group !== c) fail(`input channels (${c}) ≠ weight in-channels (${ci}) × group (${a.group})`);
    if (kh !== a.kernel_shape[0] || kw !== a.kernel_shape[1]) fail(`kernel_shape ${JSON.stringify(a.kernel_shape)} ≠ weight spatial shape [${kh},${kw}]`);
    if (B && (B.rank !== 1 || B.shape[0] !== o || B.dtype !== X.dtype)) fail(`bias must be a float32 vector of ${o}`);
    const out = [h, w].map((len, i) => windowOut(len, a.kernel_shape[i]!, a.strides[i]!, a.pads[i]!, a.pads[i + 2]!, a.dilations[i]!));
    if (!out.every((v) => v >= 1)) fail(`the kernel (dilated extent ${a.kernel_shape.map((k, i) => a.dilations[i]! * (k - 1) + 1).join('×')}) does not fit the padded input`);
    return { dtype: X.dtype, shape: [n, o, out[0]!, out[1]!] };
  },
  vjp: ({ g, x: { X, W }, attrs, needed }) => ({
    X: needed.X ? convInputGrad(g, W, X, attrs) : null,
    W: needed.W ? convWeightGrad(X, g, W, attrs) : null,
    B: needed.B ? reduceSum(g, [0, 2, 3]) : null,
  }),
});

export interface ConvOptions {
  readonly strides?: PairOption;
  readonly pads?: PadsOption;
  readonly dilations?: PairOption;
  readonly group?: number;
}

/** Conv(x, w, b) with attributes as options (defaults: stride 1, no padding, dilation 1, group 1). */
export function conv(x: Value, w: Value, b?: Value, options: ConvOptions = {}): Value {
  return Conv.call(
    { X: x, W: w, B: b },
    { dilations: pair(options.dilations, 1), group: options.group ?? 1, kernel_shape: w.shape.slice(2), pads: quad(options.pads), strides: pair(options.strides, 1) },
  );
}

interface Geometry {
  readonly k: readonly [number, number];
  readonly s: readonly [number, number];
  readonly d: readonly [number, number];
  readonly p: Quad;
  readonly group: number;
}

function geometry(a: ConvAttrs): Geometry {
  return { k: [a.kernel_shape[0]!, a.kernel_shape[1]!], s: [a.strides[0]!, a.strides[1]!], d: [a.dilations[0]!, a.dilations[1]!], p: [a.pads[0]!, a.pads[1]!, a.pads[2]!, a.pads[3]!], group: a.group };
}

/** How the input gradient is computed: `conv` (stride 1 only) or `convTranspose`; `auto` picks. */
export type ConvInputGradMethod = 'auto' | 'conv' | 'convTranspose';
/** How the weight gradient is computed: `gemm` (group 1 only) or `conv`; `auto` picks. */
export type ConvWeightGradMethod = 'auto' | 'gemm' | 'conv';

/** dX of Conv(X, W) for the cotangent g (exported for tools/bench-conv-grad.ts). */
export function convInputGrad(g: Value, W: Value, X: Value, attrs: ConvAttrs, method: ConvInputGradMethod = 'auto'): Value {
  const { k, s, d, p, group } = geometry(attrs);
  const [o, ci] = W.shape as [number, number];
  const c = X.shape[1]!;
  // Stride 1: dX[i] = Σ_a g[i + p − d·a]·W[a] is a plain Conv with the flipped kernel, padded by d·(k−1) − p.
  const flipPads: Quad = [d[0] * (k[0] - 1) - p[0], d[1] * (k[1] - 1) - p[1], d[0] * (k[0] - 1) - p[2], d[1] * (k[1] - 1) - p[3]];
  const flippable = s[0] === 1 && s[1] === 1 && flipPads.every((v) => v >= 0);
  if (method === 'conv' && !flippable) throw new GraphError(`convInputGrad: the 'conv' method needs stride 1 and pads ≤ d·(k−1), got strides ${JSON.stringify(s)}, pads ${JSON.stringify(p)}`);
  const flipFaster = (k[0] === 1 && k[1] === 1) || X.shape[2]! * X.shape[3]! >= 28 * 28;
  if (method === 'conv' || (method === 'auto' && flippable && flipFaster)) {
    // (O, C/G, kh, kw) → (C, O/G, kh, kw), reversing both spatial axes (= the flattened kh·kw axis).
    const taps = k[0] * k[1];
    let kernel = reshape(W, [group, o / group, ci, taps]);
    if (taps > 1) kernel = gather(kernel, ints(g.graph, Array.from({ length: taps }, (_, i) => taps - 1 - i)), 3);
    kernel = reshape(transpose(kernel, [0, 2, 1, 3]), [c, o / group, k[0], k[1]]);
    return conv(g, kernel, undefined, { pads: flipPads, dilations: d, group });
  }
  const outputPadding = [0, 1].map((i) => uncovered(X.shape[2 + i]!, k[i]!, s[i]!, p[i]!, p[i + 2]!, d[i]!)) as [number, number];
  return convTranspose(g, W, undefined, { strides: s, pads: p, dilations: d, group, outputPadding });
}

/** dW of Conv(X, W) for the cotangent g (exported for tools/bench-conv-grad.ts). */
export function convWeightGrad(X: Value, g: Value, W: Value, attrs: ConvAttrs, method: ConvWeightGradMethod = 'auto'): Value {
  const { k, s, d, p, group } = geometry(attrs);
  if (method === 'gemm' && group !== 1) throw new GraphError(`convWeightGrad: the 'gemm' method needs group 1, got ${group}`);
  const [n, c, h, w] = X.shape as [number, number, number, number];
  const [, o, ho, wo] = g.shape as [number, number, number, number];
  // End padding the windows actually reach (≤ the declared pads); negative: trailing rows unused.
  const reach = [0, 1].map((i) => d[i]! * (k[i]! - 1) + 1 + s[i]! * ((i === 0 ? ho : wo) - 1) - [h, w][i]! - p[i]!) as [number, number];
  const trimmed = reach[0] < 0 || reach[1] < 0 ? slice(X, [0, 0], [h + Math.min(0, reach[0]), w + Math.min(0, reach[1])], [2, 3]) : X;
  const endPads = [Math.max(0, reach[0]), Math.max(0, reach[1])] as const;

  if (method === 'gemm' || (method === 'auto' && group === 1 && c >= 16)) {
    const xt = transpose(trimmed, [1, 0, 2, 3]);
    const padded = p[0] + p[1] + endPads[0] + endPads[1] > 0 ? pad(xt, [0, 0, p[0], p[1], 0, 0, endPads[0], endPads[1]]) : xt;
    const gt = reshape(transpose(g, [1, 0, 2, 3]), [o, n * ho * wo]);
    const taps: Value[] = [];
    for (let a = 0; a < k[0]; a++) {
      for (let b = 0; b < k[1]; b++) {
        const [r0, c0] = [d[0] * a, d[1] * b];
        const whole = r0 === 0 && c0 === 0 && s[0] === 1 && s[1] === 1 && padded.shape[2] === ho && padded.shape[3] === wo;
        const window = whole ? padded : slice(padded, [r0, c0], [r0 + s[0] * (ho - 1) + 1, c0 + s[1] * (wo - 1) + 1], [2, 3], [s[0], s[1]]);
        taps.push(reshape(gemm(gt, reshape(window, [c, n * ho * wo]), undefined, { transB: true }), [o, c, 1]));
      }
    }
    return reshape(taps.length === 1 ? taps[0]! : concat(taps, 2), W.shape);
  }

  // Conv form: channels become the batch, the batch becomes channels, and gᵀ is the kernel:
  // dW[o, c, a, b] = Σ_{n,i,j} X[n, c, d·a + s·i, d·b + s·j]·g[n, o, i, j] (strides and dilations swap).
  const ci = c / group;
  const xt = group === 1
    ? transpose(trimmed, [1, 0, 2, 3])
    : reshape(transpose(reshape(trimmed, [n, group, ci, trimmed.shape[2]!, trimmed.shape[3]!]), [2, 1, 0, 3, 4]), [ci, group * n, trimmed.shape[2]!, trimmed.shape[3]!]);
  const r = conv(xt, transpose(g, [1, 0, 2, 3]), undefined, { strides: d, dilations: s, pads: [p[0], p[1], endPads[0], endPads[1]], group });
  return transpose(r, [1, 0, 2, 3]);
}
