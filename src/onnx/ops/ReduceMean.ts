import { shapeSize } from '../dtype.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { type ReduceAttrs, keptShape, reduceArgs, reduceInfer } from '../reduce.js';
import { expand } from './Expand.js';
import { mul } from './Mul.js';
import { reshape } from './Reshape.js';

export const ReduceMean = defineOp<ReduceAttrs, { data: Value; axes: Value | undefined }>({
  type: 'ReduceMean',
  inputs: { data: 'differentiable', axes: { grad: 'nondifferentiable', optional: true } },
  attrs: { keepdims: 'int', noop_with_empty_axes: 'int' },
  infer: ({ data, axes }, attrs, fail) => reduceInfer(data, axes, attrs, fail),
  vjp: ({ g, x: { data, axes }, y: [Y] }) => {
    const count = data.size / shapeSize(Y!.shape);
    return { data: expand(reshape(mul(g, 1 / count), keptShape(data, axes)), data.shape) };
  },
});

/** Mean over `axes` (all axes when omitted). */
export function reduceMean(x: Value, axes?: readonly number[], keepdims = false): Value {
  return ReduceMean.call(...reduceArgs(x, axes, keepdims));
}
