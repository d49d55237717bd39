import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { type ReduceAttrs, keptShape, reduceArgs, reduceInfer } from '../reduce.js';
import { expand } from './Expand.js';
import { reshape } from './Reshape.js';

export const ReduceSum = defineOp<ReduceAttrs, { data: Value; axes: Value | undefined }>({
  type: 'ReduceSum',
  inputs: { data: 'differentiable', axes: { grad: 'nondifferentiable', optional: true } },
  attrs: { keepdims: 'int', noop_with_empty_axes: 'int' },
  infer: ({ data, axes }, attrs, fail) => reduceInfer(data, axes, attrs, fail),
  vjp: ({ g, x: { data, axes } }) => ({ data: expand(reshape(g, keptShape(data, axes)), data.shape) }),
});

/** Sum over `axes` (all axes when omitted). */
export function reduceSum(x: Value, axes?: readonly number[], keepdims = false): Value {
  return ReduceSum.call(...reduceArgs(x, axes, keepdims));
}
