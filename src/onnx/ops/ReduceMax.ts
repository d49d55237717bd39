import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { type ReduceAttrs, reduceArgs, reduceInfer } from '../reduce.js';

export const ReduceMax = defineOp<ReduceAttrs, { data: Value; axes: Value | undefined }>({
  type: 'ReduceMax',
  inputs: {
    data: { notImplemented: 'used only behind StopGradient (the max shift of logSumExp), where no gradient reaches it' },
    axes: { grad: 'nondifferentiable', optional: true },
  },
  attrs: { keepdims: 'int', noop_with_empty_axes: 'int' },
  infer: ({ data, axes }, attrs, fail) => reduceInfer(data, axes, attrs, fail),
});

/** Max over `axes` (all axes when omitted). */
export function reduceMax(x: Value, axes?: readonly number[], keepdims = false): Value {
  return ReduceMax.call(...reduceArgs(x, axes, keepdims));
}
