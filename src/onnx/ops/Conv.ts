import { reduceSum } from './ReduceSum.js';
import { convGrads, geometry } from '../convGrad.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { type PadsOption, type PairOption, checkWindow, pair, quad, windowOut } from '../window.js';

export interface ConvAttrs {
  readonly dilations: readonly number[];
  readonly group: number;
  readonly kernel_shape: readonly number[];
  readonly pads: readonly number[];
  readonly strides: readonly number[];
}

/**
 * 2-D convolution, NCHW: X (N, C, H, W), W (O, C/group, kh, kw), optional bias B (O).
 * dB = Σ_{N,H,W} g; dX and dW come from `convGrads` (../convGrad.ts) in the formulations the
 * device policy picks for the layer (im2col forms on the CPU, ConvTranspose and transposed Conv on
 * GPUs; ../policy.ts), with the measurements that decided them.
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
  vjp: ({ g, x: { X, W }, attrs, needed, policy }) => ({
    ...convGrads(X, g, W, attrs, { X: needed.X, W: needed.W }, policy.conv(X, geometry(attrs))),
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
