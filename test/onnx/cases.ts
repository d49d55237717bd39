/**
 * The op-test table: at least two cases per differentiable op, each in a different attribute or
 * broadcasting setting, with input domains that keep finite differences away from kinks.
 * Run by test/onnx/ops.test.ts; the coverage check there fails when an op has fewer than two.
 */
import type { OpCase } from './gradcheck.js';
import * as op from '../../src/onnx/ops/index.js';

export const OP_CASES: readonly OpCase[] = [
  { op: 'Add', name: 'same shape', inputs: { a: { shape: [2, 3] }, b: { shape: [2, 3] } }, build: ({ a, b }) => op.add(a!, b!) },
  { op: 'Add', name: 'broadcast [2,3,4] + [3,1]', inputs: { a: { shape: [2, 3, 4] }, b: { shape: [3, 1] } }, build: ({ a, b }) => op.add(a!, b!) },
  { op: 'Sub', name: 'same shape', inputs: { a: { shape: [3, 2] }, b: { shape: [3, 2] } }, build: ({ a, b }) => op.sub(a!, b!) },
  { op: 'Sub', name: 'broadcast scalar − [2,3]', inputs: { a: { shape: [] }, b: { shape: [2, 3] } }, build: ({ a, b }) => op.sub(a!, b!) },
  { op: 'Mul', name: 'same shape', inputs: { a: { shape: [2, 3] }, b: { shape: [2, 3] } }, build: ({ a, b }) => op.mul(a!, b!) },
  { op: 'Mul', name: 'broadcast [2,1,4] · [3,1]', inputs: { a: { shape: [2, 1, 4] }, b: { shape: [3, 1] } }, build: ({ a, b }) => op.mul(a!, b!) },
  { op: 'Div', name: 'same shape', inputs: { a: { shape: [2, 3] }, b: { shape: [2, 3], domain: 'positive' } }, build: ({ a, b }) => op.div(a!, b!) },
  { op: 'Div', name: 'broadcast [2,3] / [3]', inputs: { a: { shape: [2, 3] }, b: { shape: [3], domain: 'positive' } }, build: ({ a, b }) => op.div(a!, b!) },
  { op: 'Neg', name: 'vector', inputs: { x: { shape: [5] } }, build: ({ x }) => op.neg(x!) },
  { op: 'Neg', name: '3-D', inputs: { x: { shape: [2, 2, 3] } }, build: ({ x }) => op.neg(x!) },
  { op: 'Relu', name: 'matrix', inputs: { x: { shape: [3, 4], domain: 'awayFromZero' } }, build: ({ x }) => op.relu(x!) },
  { op: 'Relu', name: 'NCHW', inputs: { x: { shape: [1, 2, 3, 3], domain: 'awayFromZero' } }, build: ({ x }) => op.relu(x!) },
  { op: 'Identity', name: 'vector', inputs: { x: { shape: [4] } }, build: ({ x }) => op.identity(x!) },
  { op: 'Identity', name: 'matrix', inputs: { x: { shape: [2, 3] } }, build: ({ x }) => op.identity(x!) },
  { op: 'Where', name: 'broadcast condition', inputs: { x: { shape: [2, 3] }, y: { shape: [2, 3] }, c: { shape: [3], domain: { values: [1, -1, 1] } } }, build: ({ x, y, c }) => op.where(op.greater(c!, 0), x!, y!) },
  { op: 'Where', name: 'broadcast branches', inputs: { x: { shape: [2, 1] }, y: { shape: [3] }, c: { shape: [2, 3], domain: { values: [1, -1, 1, -1, -1, 1] } } }, build: ({ x, y, c }) => op.where(op.greater(c!, 0), x!, y!) },
  { op: 'ReduceSum', name: 'axes [1], keepdims', inputs: { x: { shape: [2, 3, 4] } }, build: ({ x }) => op.reduceSum(x!, [1], true) },
  { op: 'ReduceSum', name: 'all axes', inputs: { x: { shape: [2, 3] } }, build: ({ x }) => op.reduceSum(x!) },
  { op: 'ReduceMean', name: 'axes [0,2,3] (batch-norm statistics)', inputs: { x: { shape: [2, 3, 2, 2] } }, build: ({ x }) => op.reduceMean(x!, [0, 2, 3], true) },
  { op: 'ReduceMean', name: 'axis -1 without keepdims', inputs: { x: { shape: [3, 4] } }, build: ({ x }) => op.reduceMean(x!, [-1]) },
  { op: 'ReduceSumSquare', name: 'axis 1 keepdims', inputs: { x: { shape: [2, 4, 3] } }, build: ({ x }) => op.reduceSumSquare(x!, [1], true) },
  { op: 'ReduceSumSquare', name: 'all axes', inputs: { x: { shape: [3, 2] } }, build: ({ x }) => op.reduceSumSquare(x!) },
  { op: 'Reshape', name: 'flatten with -1', inputs: { x: { shape: [2, 3, 4] } }, build: ({ x }) => op.reshape(x!, [2, -1]) },
  { op: 'Reshape', name: 'split an axis', inputs: { x: { shape: [6, 2] } }, build: ({ x }) => op.reshape(x!, [2, 3, 2]) },
  { op: 'Expand', name: '[3,1] to [2,3,4]', inputs: { x: { shape: [3, 1] } }, build: ({ x }) => op.expand(x!, [2, 3, 4]) },
  { op: 'Expand', name: 'scalar to [2,2]', inputs: { x: { shape: [] } }, build: ({ x }) => op.expand(x!, [2, 2]) },
  { op: 'Transpose', name: 'NCHW to NHWC', inputs: { x: { shape: [1, 2, 3, 4] } }, build: ({ x }) => op.transpose(x!, [0, 2, 3, 1]) },
  { op: 'Transpose', name: 'matrix', inputs: { x: { shape: [3, 5] } }, build: ({ x }) => op.transpose(x!, [1, 0]) },
  // Elementwise math, comparisons and casts.
  { op: 'Exp', name: 'matrix', inputs: { x: { shape: [2, 3] } }, build: ({ x }) => op.exp(x!) },
  { op: 'Exp', name: '3-D', inputs: { x: { shape: [2, 1, 3], domain: { uniform: [-2, 1] } } }, build: ({ x }) => op.exp(x!) },
  { op: 'Log', name: 'matrix', inputs: { x: { shape: [2, 3], domain: 'positive' } }, build: ({ x }) => op.log(x!) },
  { op: 'Log', name: 'vector', inputs: { x: { shape: [5], domain: { uniform: [0.5, 4] } } }, build: ({ x }) => op.log(x!) },
  { op: 'Sqrt', name: 'matrix', inputs: { x: { shape: [3, 2], domain: 'positive' } }, build: ({ x }) => op.sqrt(x!) },
  { op: 'Sqrt', name: '3-D', inputs: { x: { shape: [2, 2, 2], domain: { uniform: [0.5, 4] } } }, build: ({ x }) => op.sqrt(x!) },
  { op: 'Abs', name: 'matrix', inputs: { x: { shape: [3, 4], domain: 'awayFromZero' } }, build: ({ x }) => op.abs(x!) },
  { op: 'Abs', name: '3-D', inputs: { x: { shape: [2, 1, 3], domain: 'awayFromZero' } }, build: ({ x }) => op.abs(x!) },
  { op: 'Pow', name: 'same shape, both inputs', inputs: { x: { shape: [2, 3], domain: 'positive' }, y: { shape: [2, 3] } }, build: ({ x, y }) => op.pow(x!, y!) },
  { op: 'Pow', name: 'broadcast exponent [3]', inputs: { x: { shape: [2, 3], domain: 'positive' }, y: { shape: [3], domain: { uniform: [-2, 3] } } }, build: ({ x, y }) => op.pow(x!, y!) },
  { op: 'Pow', name: 'constant exponent 2.5', inputs: { x: { shape: [4], domain: 'positive' } }, build: ({ x }) => op.pow(x!, 2.5) },
  { op: 'Max', name: 'broadcast [2,3] with [3]', inputs: { a: { shape: [2, 3], domain: 'distinct' }, b: { shape: [3], domain: { values: [-1, 0.3, 1] } } }, build: ({ a, b }) => op.max(a!, b!) },
  { op: 'Max', name: 'scalar B', inputs: { a: { shape: [4], domain: 'distinct' }, b: { shape: [], domain: { values: [0.3] } } }, build: ({ a, b }) => op.max(a!, b!) },
  { op: 'Min', name: 'broadcast [3] with [2,3]', inputs: { a: { shape: [3], domain: { values: [-1, 0.3, 1] } }, b: { shape: [2, 3], domain: 'distinct' } }, build: ({ a, b }) => op.min(a!, b!) },
  { op: 'Min', name: 'scalar B', inputs: { a: { shape: [2, 2], domain: 'distinct' }, b: { shape: [], domain: { values: [0.5] } } }, build: ({ a, b }) => op.min(a!, b!) },
  { op: 'Clip', name: 'both bounds', inputs: { x: { shape: [3, 4], domain: 'distinct' } }, build: ({ x }) => op.clip(x!, { min: -0.5, max: 0.5 }) },
  { op: 'Clip', name: 'min only (relu-like)', inputs: { x: { shape: [2, 3], domain: 'awayFromZero' } }, build: ({ x }) => op.clip(x!, { min: 0 }) },
  { op: 'Clip', name: 'max only', inputs: { x: { shape: [5], domain: 'distinct' } }, build: ({ x }) => op.clip(x!, { max: 0.6 }) },
  { op: 'Cast', name: 'float32 → float64 → float32', inputs: { x: { shape: [2, 3] } }, build: ({ x }) => op.cast(op.mul(op.cast(x!, 'float64'), op.cast(x!, 'float64')), 'float32') },
  { op: 'Cast', name: 'bool mask cast to float (no gradient through the mask)', inputs: { x: { shape: [2, 3], domain: 'awayFromZero' } }, build: ({ x }) => op.mul(x!, op.cast(op.greater(x!, 0), 'float32')) },
  { op: 'Less', name: 'as a selector (min)', inputs: { a: { shape: [2, 3], domain: 'distinct' }, b: { shape: [3], domain: { values: [-1, 0.3, 1] } } }, build: ({ a, b }) => op.where(op.less(a!, b!), a!, b!) },
  { op: 'Equal', name: 'as a selector', inputs: { x: { shape: [2, 3] }, y: { shape: [2, 3] }, c: { shape: [3], dtype: 'int64', domain: { ints: [1, 0, 1] } } }, build: ({ x, y, c }) => op.where(op.equal(c!, op.cast(op.greater(x!, 100), 'int64')), y!, x!) },
  { op: 'Not', name: 'inverted selector', inputs: { x: { shape: [2, 3] }, y: { shape: [2, 3] }, c: { shape: [3], domain: { values: [1, -1, 1] } } }, build: ({ x, y, c }) => op.where(op.not(op.greater(c!, 0)), x!, y!) },
  // Softmax and matrix products.
  { op: 'Softmax', name: 'axis 1 of [2,3,4]', inputs: { x: { shape: [2, 3, 4] } }, build: ({ x }) => op.softmax(x!, 1) },
  { op: 'Softmax', name: 'axis -1 of [3,5]', inputs: { x: { shape: [3, 5] } }, build: ({ x }) => op.softmax(x!, -1) },
  { op: 'MatMul', name: '2-D [3,4]·[4,2]', inputs: { a: { shape: [3, 4] }, b: { shape: [4, 2] } }, build: ({ a, b }) => op.matMul(a!, b!) },
  { op: 'MatMul', name: 'batched 3-D [2,3,4]·[4,5] (B broadcast)', inputs: { a: { shape: [2, 3, 4] }, b: { shape: [4, 5] } }, build: ({ a, b }) => op.matMul(a!, b!) },
  { op: 'MatMul', name: 'both batches broadcast [2,1,3,4]·[3,4,2]', inputs: { a: { shape: [2, 1, 3, 4] }, b: { shape: [3, 4, 2] } }, build: ({ a, b }) => op.matMul(a!, b!) },
  { op: 'Gemm', name: 'plain, C row [2]', inputs: { a: { shape: [3, 4] }, b: { shape: [4, 2] }, c: { shape: [2] } }, build: ({ a, b, c }) => op.gemm(a!, b!, c!) },
  { op: 'Gemm', name: 'transA transB α=0.5 β=2, C [3,1]', inputs: { a: { shape: [4, 3] }, b: { shape: [2, 4] }, c: { shape: [3, 1] } }, build: ({ a, b, c }) => op.gemm(a!, b!, c!, { alpha: 0.5, beta: 2, transA: true, transB: true }) },
  { op: 'Gemm', name: 'Linear: transB, no C', inputs: { x: { shape: [3, 4] }, w: { shape: [5, 4] } }, build: ({ x, w }) => op.gemm(x!, w!, undefined, { transB: true }) },
  { op: 'Gemm', name: 'transA, β=-1, scalar C', inputs: { a: { shape: [4, 3] }, b: { shape: [4, 2] }, c: { shape: [] } }, build: ({ a, b, c }) => op.gemm(a!, b!, c!, { beta: -1, transA: true }) },
  // Movement ops.
  { op: 'Flatten', name: 'axis 1 of [2,3,4]', inputs: { x: { shape: [2, 3, 4] } }, build: ({ x }) => op.flatten(x!) },
  { op: 'Flatten', name: 'axis -1', inputs: { x: { shape: [2, 3, 2] } }, build: ({ x }) => op.flatten(x!, -1) },
  { op: 'Flatten', name: 'axis 0', inputs: { x: { shape: [2, 3] } }, build: ({ x }) => op.flatten(x!, 0) },
  { op: 'Squeeze', name: 'axes [1]', inputs: { x: { shape: [2, 1, 3, 1] } }, build: ({ x }) => op.squeeze(x!, [1]) },
  { op: 'Squeeze', name: 'all size-1 axes', inputs: { x: { shape: [1, 3, 1] } }, build: ({ x }) => op.squeeze(x!) },
  { op: 'Unsqueeze', name: 'axes [0]', inputs: { x: { shape: [2, 3] } }, build: ({ x }) => op.unsqueeze(x!, [0]) },
  { op: 'Unsqueeze', name: 'axes [-1, 1]', inputs: { x: { shape: [2, 3] } }, build: ({ x }) => op.unsqueeze(x!, [-1, 1]) },
  { op: 'Concat', name: 'axis 0, two inputs', inputs: { a: { shape: [2, 3] }, b: { shape: [1, 3] } }, build: ({ a, b }) => op.concat([a!, b!], 0) },
  { op: 'Concat', name: 'axis -1, three inputs', inputs: { a: { shape: [2, 2] }, b: { shape: [2, 1] }, c: { shape: [2, 3] } }, build: ({ a, b, c }) => op.concat([a!, b!, c!], -1) },
  { op: 'Concat', name: 'axis 1 of NCHW, one input used twice', inputs: { a: { shape: [1, 2, 2, 2] }, b: { shape: [1, 1, 2, 2] } }, build: ({ a, b }) => op.concat([a!, b!, a!], 1) },
  { op: 'Slice', name: 'negative start on axes subset [1]', inputs: { x: { shape: [4, 5] } }, build: ({ x }) => op.slice(x!, [-3], [5], [1]) },
  { op: 'Slice', name: 'step 2 on both axes', inputs: { x: { shape: [5, 6] } }, build: ({ x }) => op.slice(x!, [0, 1], [5, 6], [0, 1], [2, 2]) },
  { op: 'Slice', name: 'step 3, end clamped, axis 1 of 3-D', inputs: { x: { shape: [2, 7, 3] } }, build: ({ x }) => op.slice(x!, [1], [100], [1], [3]) },
  { op: 'Slice', name: 'step 3 reaching the last element', inputs: { x: { shape: [8] } }, build: ({ x }) => op.slice(x!, [0], [8], [0], [3]) },
  { op: 'Pad', name: 'asymmetric [2,3] by [1,0 | 2,3]', inputs: { x: { shape: [2, 3] } }, build: ({ x }) => op.pad(x!, [1, 0, 2, 3]) },
  { op: 'Pad', name: '3-D, value 1.5', inputs: { x: { shape: [1, 2, 3] } }, build: ({ x }) => op.pad(x!, [0, 1, 2, 0, 0, 1], { value: 1.5 }) },
  { op: 'Gather', name: 'axis 0, repeated and negative indices', inputs: { x: { shape: [4, 3] }, i: { shape: [5], dtype: 'int64', domain: { ints: [0, 2, 2, 3, -1] } } }, build: ({ x, i }) => op.gather(x!, i!, 0) },
  { op: 'Gather', name: 'axis 1, 2-D indices with repeats', inputs: { x: { shape: [2, 4, 3] }, i: { shape: [2, 2], dtype: 'int64', domain: { ints: [1, 1, 3, 0] } } }, build: ({ x, i }) => op.gather(x!, i!, 1) },
  // Ops with no gradient of their own: checked for their shape rules, in the way they are used.
  {
    op: 'ReduceMax',
    name: 'max shift behind StopGradient (softmax, shift-invariant)',
    inputs: { x: { shape: [3, 4] } },
    build: ({ x }) => {
      const e = op.exp(op.sub(x!, op.stopGradient(op.reduceMax(x!, [1], true))));
      return op.div(e, op.reduceSum(e, [1], true));
    },
  },
  { op: 'ScatterElements', name: 'add with repeated indices', inputs: { d: { shape: [3, 2], fixed: true }, i: { shape: [2, 2], dtype: 'int64', domain: { ints: [0, 2, 0, 1] } }, u: { shape: [2, 2], fixed: true } }, build: ({ d, i, u }) => op.scatterElements(d!, i!, u!, { axis: 0, reduction: 'add' }) },
  // ── Convolution and pooling (Conv, ConvTranspose, MaxPool, GlobalAveragePool) ──
  // Conv: each gradient path `auto` takes (stride 1, group 1: one im2col of g for dX and dW, as a
  // Gemm or per-image MatMuls; otherwise ConvTranspose / flipped-kernel Conv for dX and a Gemm over
  // the im2col of X / the Conv form for dW) and each attribute (stride, padding, dilation, groups)
  // in at least one case.
  { op: 'Conv', name: 'stride 2, pad 1, bias; (H+2p−k) mod s = 1 on H', inputs: { x: { shape: [1, 2, 6, 5] }, w: { shape: [3, 2, 3, 3] }, b: { shape: [3] } }, build: ({ x, w, b }) => op.conv(x!, w!, b!, { strides: 2, pads: 1 }) },
  { op: 'Conv', name: 'stride 1, pad 1, batch 2 (im2col of g, Gemm)', inputs: { x: { shape: [2, 2, 5, 5] }, w: { shape: [3, 2, 3, 3] } }, build: ({ x, w }) => op.conv(x!, w!, undefined, { pads: 1 }) },
  { op: 'Conv', name: 'dilation 2, pad 2', inputs: { x: { shape: [1, 2, 7, 6] }, w: { shape: [2, 2, 3, 3] } }, build: ({ x, w }) => op.conv(x!, w!, undefined, { dilations: 2, pads: 2 }) },
  { op: 'Conv', name: 'groups 2, pad 1, bias', inputs: { x: { shape: [1, 4, 5, 5] }, w: { shape: [4, 2, 3, 3] }, b: { shape: [4] } }, build: ({ x, w, b }) => op.conv(x!, w!, b!, { pads: 1, group: 2 }) },
  { op: 'Conv', name: 'groups 2, stride 2, asymmetric pads [1,0,0,1]', inputs: { x: { shape: [1, 4, 6, 5] }, w: { shape: [2, 2, 3, 3] } }, build: ({ x, w }) => op.conv(x!, w!, undefined, { strides: 2, pads: [1, 0, 0, 1], group: 2 }) },
  { op: 'Conv', name: '1×1 stride 2 (downsample), last row and column unused', inputs: { x: { shape: [2, 3, 6, 6] }, w: { shape: [4, 3, 1, 1] } }, build: ({ x, w }) => op.conv(x!, w!, undefined, { strides: 2 }) },
  { op: 'Conv', name: '16 input channels, stride 2, pad 1 (Gemm over the im2col of X for dW)', inputs: { x: { shape: [1, 16, 5, 4] }, w: { shape: [2, 16, 3, 3] } }, build: ({ x, w }) => op.conv(x!, w!, undefined, { strides: 2, pads: 1 }) },
  { op: 'Conv', name: '1×1 stride 1, bias (flipped-kernel Conv dX)', inputs: { x: { shape: [2, 3, 4, 4] }, w: { shape: [4, 3, 1, 1] }, b: { shape: [4] } }, build: ({ x, w, b }) => op.conv(x!, w!, b!) },
  { op: 'Conv', name: 'dilation 2 on a 28×28 map (per-image im2col of g, MatMul)', inputs: { x: { shape: [1, 1, 28, 28] }, w: { shape: [1, 1, 3, 3] } }, build: ({ x, w }) => op.conv(x!, w!, undefined, { dilations: 2, pads: 2 }) },
  { op: 'Conv', name: 'stride 2, dilation 2, pad 1, rectangular kernel', inputs: { x: { shape: [1, 2, 8, 9] }, w: { shape: [2, 2, 3, 2] } }, build: ({ x, w }) => op.conv(x!, w!, undefined, { strides: 2, dilations: 2, pads: 1 }) },
  // ConvTranspose has no VJP (it is emitted only by backward rules): its shape rule is checked
  // against ORT, with the output scaled by a differentiable scalar s so the case has a gradient.
  { op: 'ConvTranspose', name: 'stride 2, pad 1, output_padding 1 (shape; gradient of a scale only)', inputs: { x: { shape: [1, 3, 3, 3], fixed: true }, w: { shape: [3, 2, 3, 3], fixed: true }, s: { shape: [] } }, build: ({ x, w, s }) => op.mul(op.convTranspose(x!, w!, undefined, { strides: 2, pads: 1, outputPadding: 1 }), s!) },
  { op: 'ConvTranspose', name: 'groups 2, dilation 2, bias (shape; gradient of a scale only)', inputs: { x: { shape: [1, 4, 3, 4], fixed: true }, w: { shape: [4, 1, 2, 3], fixed: true }, b: { shape: [2], fixed: true }, s: { shape: [] } }, build: ({ x, w, b, s }) => op.mul(op.convTranspose(x!, w!, b!, { dilations: 2, group: 2 }), s!) },
  // MaxPool: distinct inputs keep finite differences away from ties (ties: test/onnx/maxpool.test.ts).
  { op: 'MaxPool', name: 'k3 s2 p1 (ResNet stem)', inputs: { x: { shape: [1, 2, 7, 6], domain: 'distinct' } }, build: ({ x }) => op.maxPool(x!, { kernel: 3, strides: 2, pads: 1 }) },
  { op: 'MaxPool', name: 'k2 s2, no padding', inputs: { x: { shape: [2, 2, 4, 5], domain: 'distinct' } }, build: ({ x }) => op.maxPool(x!, { kernel: 2, strides: 2 }) },
  { op: 'MaxPool', name: 'k3×2 s1 pads [1,0,1,1] dilation [1,2] (overlapping windows)', inputs: { x: { shape: [1, 1, 5, 6], domain: 'distinct' } }, build: ({ x }) => op.maxPool(x!, { kernel: [3, 2], strides: 1, pads: [1, 0, 1, 1], dilations: [1, 2] }) },
  { op: 'GlobalAveragePool', name: '[2,3,4,5]', inputs: { x: { shape: [2, 3, 4, 5] } }, build: ({ x }) => op.globalAveragePool(x!) },
  { op: 'GlobalAveragePool', name: '[1,4,1,3] (one row)', inputs: { x: { shape: [1, 4, 1, 3] } }, build: ({ x }) => op.globalAveragePool(x!) },
  // ── end of convolution and pooling cases ──
];
