import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { type PairOption, checkWindow, pair, quad } from '../window.js';
import type { ConvOptions } from './Conv.js';

export interface ConvTransposeAttrs {
  readonly dilations: readonly number[];
  readonly group: number;
  readonly kernel_shape: readonly number[];
  readonly output_padding: readonly number[];
  readonly pads: readonly number[];
  readonly strides: readonly number[];
}

const FORWARD_ONLY = 'ConvTranspose is only emitted by the Conv input-gradient rule and the MaxPool rule; second derivatives are not needed';

/**
 * 2-D transposed convolution (the adjoint of Conv), forward only. W is (C_in, C_out/group, kh, kw);
 * the output is s·(n−1) + output_padding + d·(k−1) + 1 − pad_begin − pad_end per spatial axis.
 */
export const ConvTranspose = defineOp<ConvTransposeAttrs, { X: Value; W: Value; B: Value | undefined }>({
  type: 'ConvTranspose',
  inputs: {
    X: { notImplemented: FORWARD_ONLY },
    W: { notImplemented: FORWARD_ONLY },
    B: { grad: { notImplemented: FORWARD_ONLY }, optional: true },
  },
  attrs: { dilations: 'ints', group: 'int', kernel_shape: 'ints', output_padding: 'ints', pads: 'ints', strides: 'ints' },
  infer: ({ X, W, B }, a, fail) => {
    if (X.rank !== 4 || W.rank !== 4) fail('only 2-D transposed convolutions (rank-4 X and W) are supported');
    if (X.dtype !== 'float32' || W.dtype !== 'float32') fail('X and W must be float32 (ONNX Runtime has no float64 ConvTranspose kernel on the CPU)');
    checkWindow({ kernel: a.kernel_shape, strides: a.strides, pads: a.pads, dilations: a.dilations }, fail);
    const [n, c, h, w] = X.shape as [number, number, number, number];
    const [wi, wo, kh, kw] = W.shape as [number, number, number, number];
    if (!Number.isInteger(a.group) || a.group < 1 || c % a.group !== 0) fail(`group ${a.group} must be a positive divisor of the input channels ${c}`);
    if (wi !== c) fail(`input channels (${c}) ≠ weight dim 0 (${wi})`);
    if (kh !== a.kernel_shape[0] || kw !== a.kernel_shape[1]) fail(`kernel_shape ${JSON.stringify(a.kernel_shape)} ≠ weight spatial shape [${kh},${kw}]`);
    if (a.output_padding.length !== 2 || !a.output_padding.every((p, i) => Number.isInteger(p) && p >= 0 && p < Math.max(a.strides[i]!, a.dilations[i]!))) {
      fail(`output_padding ${JSON.stringify(a.output_padding)} must be 2 non-negative integers below max(stride, dilation)`);
    }
    const out = [h, w].map((len, i) => a.strides[i]! * (len - 1) + a.output_padding[i]! + a.dilations[i]! * (a.kernel_shape[i]! - 1) + 1 - a.pads[i]! - a.pads[i + 2]!);
    if (!out.every((o) => o >= 1)) fail(`the output would be empty (${JSON.stringify(out)})`);
    const channels = wo * a.group;
    if (B && (B.rank !== 1 || B.shape[0] !== channels)) fail(`bias must have shape [${channels}]`);
    return { dtype: X.dtype, shape: [n, channels, out[0]!, out[1]!] };
  },
});

export interface ConvTransposeOptions extends ConvOptions {
  readonly outputPadding?: PairOption;
}

export function convTranspose(x: Value, w: Value, b?: Value, options: ConvTransposeOptions = {}): Value {
  return ConvTranspose.call(
    { X: x, W: w, B: b },
    {
      dilations: pair(options.dilations, 1),
      group: options.group ?? 1,
      kernel_shape: w.shape.slice(2),
      output_padding: pair(options.outputPadding, 0),
      pads: quad(options.pads),
      strides: pair(options.strides, 1),
    },
  );
}
