/**
 * The input and weight gradients of Conv (ops/Conv.ts):
 * - Stride 1, group 1, pads ≤ d·(k−1): one im2col of g serves dX and dW. With G holding
 *   g[n, o, y + p − d·a, x + p − d·b] (zero outside g) in row (o, a, b) and column (n, y, x),
 *   dX = Wᵀ·G (contracting o, a, b) and dW = X·Gᵀ (contracting n, y, x). `gemm` lays G out for
 *   the whole batch, (k²·O, N·H·W), by Pad + k² Slices + Concat, and runs two Gemms; `matMul`
 *   builds it per image, (N, O·k², H·W), by one Conv of g with one-hot kernels, and runs batched
 *   MatMuls with no transposes of activations.
 * - Otherwise dX is ConvTranspose(g, W), or a Conv with the transposed (and flipped) kernel
 *   (`conv`, stride 1: 1×1 kernels, or groups on maps of 28×28 and more); dW is one Gemm of gᵀ with
 *   the channel-major im2col of X (`gemm`, group 1), or a Conv of Xᵀ (channels as batch) with gᵀ
 *   as the kernel (`conv`: groups, or under 16 input channels).
 * Why (ONNX Runtime CPU, 2 threads, ResNet-18 train step at batch 16, 112²; kernel ms of each
 * layer's backward inside the step, before → after; the previous rule was ConvTranspose or the
 * flipped Conv for dX and k² per-offset Gemms over strided Slices for dW, whose Slices cost as
 * much as the Gemms): 3×3 at 28×28, 16.0 → 13.4 (`matMul`; `gemm` 16.0); 14×14, 15.2 → 11.9
 * (`gemm`; `matMul` 14.9: thin per-image products); 7×7, 15.9 → 11.2; 4×4, 20.2 → 14.7. Strided
 * 3×3 layers, one Gemm over X's im2col for dW: 32.3 → 27.9 for the three. The 7×7 RGB stem keeps
 * the Conv form (13.5; one Gemm over 49 strided Slices of 3 channels was 1.3× slower alone).
 * tools/bench-conv-grad.ts times the formulations per layer in isolation, where copies are cheaper
 * than inside a step: confirm choices with `node dist/tools/bench-step.js --profile`.
 */
import { ints, tensor } from './constant.js';
import { GraphError } from './errors.js';
import type { Graph, Value } from './ir.js';
import { type Quad, uncovered } from './window.js';
import { concat } from './ops/Concat.js';
import { type ConvAttrs, conv } from './ops/Conv.js';
import { convTranspose } from './ops/ConvTranspose.js';
import { gather } from './ops/Gather.js';
import { gemm } from './ops/Gemm.js';
import { matMul } from './ops/MatMul.js';
import { pad } from './ops/Pad.js';
import { reduceSum } from './ops/ReduceSum.js';
import { reshape } from './ops/Reshape.js';
import { slice } from './ops/Slice.js';
import { transpose } from './ops/Transpose.js';

/**
 * One-hot kernels (kh·kw, 1, kh, kw): output channel t = a·kw + b of a Conv with them reads tap
 * (a, b) of each window, or tap (kh−1−a, kw−1−b) when `reversed`; as a ConvTranspose kernel, input
 * channel t scatters to tap (a, b).
 */
export function tapKernel(graph: Graph, kh: number, kw: number, reversed = false): Value {
  const taps = kh * kw;
  const data = new Float32Array(taps * taps);
  for (let t = 0; t < taps; t++) data[t * taps + (reversed ? taps - 1 - t : t)] = 1;
  return tensor(graph, data, [taps, 1, kh, kw]);
}

export interface Geometry {
  readonly k: readonly [number, number];
  readonly s: readonly [number, number];
  readonly d: readonly [number, number];
  readonly p: Quad;
  readonly group: number;
  /** Pads of g that turn the input gradient into a stride-1 correlation: d·(k−1) − p per side. */
  readonly flipPads: Quad;
  /** Stride 1 and flipPads ≥ 0: dX is a Conv of g, and g's windows line up with X. */
  readonly flippable: boolean;
}

export function geometry(a: ConvAttrs): Geometry {
  const [k, s, d] = [[a.kernel_shape[0]!, a.kernel_shape[1]!], [a.strides[0]!, a.strides[1]!], [a.dilations[0]!, a.dilations[1]!]] as const;
  const p: Quad = [a.pads[0]!, a.pads[1]!, a.pads[2]!, a.pads[3]!];
  const flipPads: Quad = [d[0] * (k[0] - 1) - p[0], d[1] * (k[1] - 1) - p[1], d[0] * (k[0] - 1) - p[2], d[1] * (k[1] - 1) - p[3]];
  return { k, s, d, p, group: a.group, flipPads, flippable: s[0] === 1 && s[1] === 1 && flipPads.every((v) => v >= 0) };
}

/** How the input gradient is computed (see the file comment); `auto` is the CPU policy's choice. */
export type ConvInputGradMethod = 'auto' | 'gemm' | 'matMul' | 'conv' | 'convTranspose';
/** How the weight gradient is computed (see the file comment); `auto` is the CPU policy's choice. */
export type ConvWeightGradMethod = 'auto' | 'gemm' | 'matMul' | 'conv';

export interface ConvGradMethods {
  readonly dX: Exclude<ConvInputGradMethod, 'auto'>;
  readonly dW: Exclude<ConvWeightGradMethod, 'auto'>;
}

/** The CPU's formulations for one layer (measured with MLAS; see the file comment). */
export function cpuConvMethods(X: Value, geo: Geometry): ConvGradMethods {
  const [c, cells] = [X.shape[1]!, X.shape[2]! * X.shape[3]!];
  const single = geo.k[0] === 1 && geo.k[1] === 1;
  // matMul's per-image (O·k², C) products stay no larger than G while C ≤ H·W.
  if (geo.group === 1 && geo.flippable && !single) return cells >= 28 * 28 && c <= cells ? { dX: 'matMul', dW: 'matMul' } : { dX: 'gemm', dW: 'gemm' };
  return {
    dX: geo.flippable && (single || cells >= 28 * 28) ? 'conv' : 'convTranspose',
    dW: geo.group === 1 && c >= 16 ? 'gemm' : 'conv',
  };
}

/**
 * The GPU's formulations: the two convolutions cuDNN runs natively for any geometry. dX is
 * ConvTranspose(g, W) (a Conv with the swapped kernel for stride-1 1×1 layers, where it is a plain
 * GEMM), dW a Conv of Xᵀ with gᵀ as the kernel; no im2col copies, which cost memory bandwidth a GPU
 * spends better on the convolutions themselves.
 */
export function gpuConvMethods(_X: Value, geo: Geometry): ConvGradMethods {
  const single = geo.k[0] === 1 && geo.k[1] === 1;
  return { dX: geo.flippable && single ? 'conv' : 'convTranspose', dW: 'conv' };
}

/**
 * dX and dW of Conv(X, W) for the cotangent g, each only when wanted; the two share g's im2col
 * when their methods use the same one. `auto` methods take the CPU's choice.
 */
export function convGrads(
  X: Value,
  g: Value,
  W: Value,
  attrs: ConvAttrs,
  want: { X: boolean; W: boolean },
  methods: { dX?: ConvInputGradMethod; dW?: ConvWeightGradMethod } = {},
): { X: Value | null; W: Value | null } {
  const geo = geometry(attrs);
  const auto = cpuConvMethods(X, geo);
  const mx = methods.dX && methods.dX !== 'auto' ? methods.dX : auto.dX;
  const mw = methods.dW && methods.dW !== 'auto' ? methods.dW : auto.dW;
  const built = new Map<Im2col['layout'], Im2col>();
  const im2col = (layout: Im2col['layout'], what: string): Im2col => {
    if (geo.group !== 1 || !geo.flippable) {
      throw new GraphError(`Conv ${what}: the '${layout}' method needs group 1, stride 1 and pads ≤ d·(k−1), got group ${geo.group}, strides ${JSON.stringify(geo.s)}, pads ${JSON.stringify(geo.p)}`);
    }
    if (!built.has(layout)) built.set(layout, gIm2col(layout, g, W, geo));
    return built.get(layout)!;
  };
  let dX: Value | null = null;
  if (want.X) {
    if (mx === 'gemm' || mx === 'matMul') dX = im2colInputGrad(im2col(mx, 'dX'), X);
    else dX = mx === 'conv' ? flippedConvInputGrad(g, W, X, geo) : transposedConvInputGrad(g, W, X, geo);
  }
  let dW: Value | null = null;
  if (want.W) {
    // With 1×1 kernels g needs no im2col, and X's is the cheaper side (no transpose of the result).
    const fromG = mw === 'matMul' || (mw === 'gemm' && geo.group === 1 && geo.flippable && geo.k[0] * geo.k[1] > 1);
    if (fromG) dW = im2colWeightGrad(im2col(mw, 'dW'), X, W);
    else if (mw === 'gemm') dW = xIm2colWeightGrad(X, g, W, geo);
    else dW = convWeightGradByConv(X, g, geo);
  }
  return { X: dX, W: dW };
}

/** dX of Conv(X, W) for the cotangent g (for tests, tools/bench-conv-grad.ts and tools/check-backbone-ep.ts). */
export function convInputGrad(g: Value, W: Value, X: Value, attrs: ConvAttrs, method: ConvInputGradMethod = 'auto'): Value {
  return convGrads(X, g, W, attrs, { X: true, W: false }, { dX: method }).X!;
}

/** dW of Conv(X, W) for the cotangent g (for tests, tools/bench-conv-grad.ts and tools/check-backbone-ep.ts). */
export function convWeightGrad(X: Value, g: Value, W: Value, attrs: ConvAttrs, method: ConvWeightGradMethod = 'auto'): Value {
  return convGrads(X, g, W, attrs, { X: false, W: true }, { dW: method }).W!;
}

/** g's im2col G in one layout, with the (C, ·) view of W whose columns match G's rows. */
interface Im2col {
  readonly layout: 'gemm' | 'matMul';
  readonly cols: Value;
  readonly wt: Value;
}

/**
 * `gemm`: G is (k²·O, N·H·W), rows (a, b, o), from k² Slices of g padded by flipPads. Tap-major
 * rows let W reach its (C, k²·O) view, and dW its layout, by 2-D transposes, 3× faster than moving
 * 9-float blocks ((O, C, 9) → (C, O, 9): 2.3 ms for a 512×512×3×3 kernel).
 * `matMul`: G is (N, O·k², H·W), rows (o, a, b): a Conv of each channel of g with reversed
 * one-hot kernels.
 */
function gIm2col(layout: Im2col['layout'], g: Value, W: Value, geo: Geometry): Im2col {
  const { k, d, flipPads: fp } = geo;
  const [n, o, ho, wo] = g.shape as [number, number, number, number];
  const [c, kk] = [W.shape[1]!, k[0] * k[1]];
  const [h, w] = [ho + fp[0] + fp[2] - d[0] * (k[0] - 1), wo + fp[1] + fp[3] - d[1] * (k[1] - 1)];
  if (layout === 'matMul') {
    const cols = conv(reshape(g, [n * o, 1, ho, wo]), tapKernel(g.graph, k[0], k[1], true), undefined, { pads: fp, dilations: d });
    return { layout, cols: reshape(cols, [n, o * kk, h * w]), wt: reshape(transpose(W, [1, 0, 2, 3]), [c, o * kk]) };
  }
  const gt = transpose(g, [1, 0, 2, 3]);
  const padded = fp.some((v) => v > 0) ? pad(gt, [0, 0, fp[0], fp[1], 0, 0, fp[2], fp[3]]) : gt;
  const taps: Value[] = [];
  for (let a = 0; a < k[0]; a++) {
    for (let b = 0; b < k[1]; b++) {
      const [r0, c0] = [d[0] * (k[0] - 1 - a), d[1] * (k[1] - 1 - b)];
      const window = padded.shape[2] === h && padded.shape[3] === w ? padded : slice(padded, [r0, c0], [r0 + h, c0 + w], [2, 3]);
      taps.push(reshape(window, [o, n * h * w]));
    }
  }
  return { layout, cols: taps.length === 1 ? taps[0]! : concat(taps, 0), wt: reshape(transpose(reshape(W, [o, c * kk]), [1, 0]), [c, kk * o]) };
}

/** dX = Wᵀ·G. */
function im2colInputGrad({ layout, cols, wt }: Im2col, X: Value): Value {
  const [n, c, h, w] = X.shape as [number, number, number, number];
  if (layout === 'matMul') return reshape(matMul(wt, cols), [n, c, h, w]);
  return transpose(reshape(gemm(wt, cols), [c, n, h, w]), [1, 0, 2, 3]);
}

/** dW = X·Gᵀ: per image and summed over the batch (`matMul`), or one Gemm (`gemm`). */
function im2colWeightGrad({ layout, cols }: Im2col, X: Value, W: Value): Value {
  const [n, c, h, w] = X.shape as [number, number, number, number];
  const [o, , kh, kw] = W.shape as [number, number, number, number];
  if (layout === 'matMul') {
    const xt = transpose(reshape(X, [n, c, h * w]), [0, 2, 1]);
    return transpose(reshape(reduceSum(matMul(cols, xt), [0]), [o, kh, kw, c]), [0, 3, 1, 2]);
  }
  // X·Gᵀ is (C, k²·O), i.e. (C·k², O): one 2-D transpose gives W's layout.
  const xt = reshape(transpose(X, [1, 0, 2, 3]), [c, n * h * w]);
  return reshape(transpose(reshape(gemm(xt, cols, undefined, { transB: true }), [c * kh * kw, o]), [1, 0]), W.shape);
}

/** dW = gᵀ·im2col(X)ᵀ, one Gemm (group 1). */
function xIm2colWeightGrad(X: Value, g: Value, W: Value, geo: Geometry): Value {
  if (geo.group !== 1) throw new GraphError(`Conv dW: the 'gemm' method needs group 1, got ${geo.group}`);
  const o = g.shape[1]!;
  return reshape(gemm(reshape(transpose(g, [1, 0, 2, 3]), [o, g.size / o]), xColumns(X, g, geo), undefined, { transB: true }), W.shape);
}

/**
 * X cut to the rows and columns some window reaches, and the end padding the windows reach (≤ the
 * declared pads): trailing rows a stride skips over get no gradient and need not be read.
 */
function reachedInput(X: Value, g: Value, geo: Geometry): { x: Value; ends: readonly [number, number] } {
  const { k, s, d, p } = geo;
  const [h, w] = [X.shape[2]!, X.shape[3]!];
  const reach = [0, 1].map((i) => d[i]! * (k[i]! - 1) + 1 + s[i]! * (g.shape[2 + i]! - 1) - [h, w][i]! - p[i]!) as [number, number];
  const x = reach[0] < 0 || reach[1] < 0 ? slice(X, [0, 0], [h + Math.min(0, reach[0]), w + Math.min(0, reach[1])], [2, 3]) : X;
  return { x, ends: [Math.max(0, reach[0]), Math.max(0, reach[1])] };
}

/** The channel-major im2col of X, (C·k², N·Ho·Wo), rows (c, a, b): strided Slices of the padded Xᵀ. */
function xColumns(X: Value, g: Value, geo: Geometry): Value {
  const { k, s, d, p } = geo;
  const [n, c] = X.shape as [number, number];
  const [ho, wo] = [g.shape[2]!, g.shape[3]!];
  const { x, ends } = reachedInput(X, g, geo);
  const xt = transpose(x, [1, 0, 2, 3]);
  const padded = p[0] + p[1] + ends[0] + ends[1] > 0 ? pad(xt, [0, 0, p[0], p[1], 0, 0, ends[0], ends[1]]) : xt;
  const taps: Value[] = [];
  for (let a = 0; a < k[0]; a++) {
    for (let b = 0; b < k[1]; b++) {
      const [r0, c0] = [d[0] * a, d[1] * b];
      const whole = r0 === 0 && c0 === 0 && s[0] === 1 && s[1] === 1 && padded.shape[2] === ho && padded.shape[3] === wo;
      const window = whole ? padded : slice(padded, [r0, c0], [r0 + s[0] * (ho - 1) + 1, c0 + s[1] * (wo - 1) + 1], [2, 3], [s[0], s[1]]);
      taps.push(reshape(window, [c, 1, n * ho * wo]));
    }
  }
  return reshape(taps.length === 1 ? taps[0]! : concat(taps, 1), [c * k[0] * k[1], n * ho * wo]);
}

/** Stride 1: dX[i] = Σ_a g[i + p − d·a]·W[a], a Conv with the flipped, in/out-swapped kernel padded by flipPads. */
function flippedConvInputGrad(g: Value, W: Value, X: Value, geo: Geometry): Value {
  const { k, d, group, flipPads, flippable } = geo;
  if (!flippable) throw new GraphError(`Conv dX: the 'conv' method needs stride 1 and pads ≤ d·(k−1), got strides ${JSON.stringify(geo.s)}, pads ${JSON.stringify(geo.p)}`);
  const [o, ci] = W.shape as [number, number];
  const taps = k[0] * k[1];
  // (O, C/G, kh, kw) → (C, O/G, kh, kw), reversing both spatial axes (= the flattened kh·kw axis).
  let kernel = reshape(W, [group, o / group, ci, taps]);
  if (taps > 1) kernel = gather(kernel, ints(g.graph, Array.from({ length: taps }, (_, i) => taps - 1 - i)), 3);
  kernel = reshape(transpose(kernel, [0, 2, 1, 3]), [X.shape[1]!, o / group, k[0], k[1]]);
  return conv(g, kernel, undefined, { pads: flipPads, dilations: d, group });
}

/** ConvTranspose(g, W) with the output_padding that restores H and W. */
function transposedConvInputGrad(g: Value, W: Value, X: Value, geo: Geometry): Value {
  const { k, s, d, p, group } = geo;
  const outputPadding = [0, 1].map((i) => uncovered(X.shape[2 + i]!, k[i]!, s[i]!, p[i]!, p[i + 2]!, d[i]!)) as [number, number];
  return convTranspose(g, W, undefined, { strides: s, pads: p, dilations: d, group, outputPadding });
}

/**
 * Channels become the batch, the batch becomes channels, and gᵀ is the kernel (grouped when
 * group > 1): dW[o, c, a, b] = Σ_{n,i,j} X[n, c, d·a + s·i, d·b + s·j]·g[n, o, i, j], so strides and
 * dilations swap.
 */
function convWeightGradByConv(X: Value, g: Value, geo: Geometry): Value {
  const { s, d, p, group } = geo;
  const { x, ends } = reachedInput(X, g, geo);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const ci = c / group;
  const xt = group === 1 ? transpose(x, [1, 0, 2, 3]) : reshape(transpose(reshape(x, [n, group, ci, h, w]), [2, 1, 0, 3, 4]), [ci, group * n, h, w]);
  const r = conv(xt, transpose(g, [1, 0, 2, 3]), undefined, { strides: d, dilations: s, pads: [p[0], p[1], ends[0], ends[1]], group });
  return transpose(r, [1, 0, 2, 3]);
}
