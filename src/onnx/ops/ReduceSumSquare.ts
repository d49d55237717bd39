import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { type ReduceAttrs, keptShape, reduceArgs, reduceInfer } from '../reduce.js';
import { mul } from './Mul.js';
import { reshape } from './Reshape.js';

export const ReduceSumSquare = defineOp<ReduceAttrs, { data: Value; axes: Value | undefined }>({
  type: 'ReduceSumSquare',
  inputs: { data: 'differentiable', axes: { grad: 'nondifferentiable', optional: true } },
  attrs: { keepdims: 'int', noop_with_empty_axes: 'int' },
  infer: ({ data, axes }, attrs, fail) => reduceInfer(data, axes, attrs, fail),
  // d Σx² = 2x·g, with g broadcast back over the reduced axes by Mul.
  vjp: ({ g, x: { data, axes } }) => ({ data: mul(mul(data, 2), reshape(g, keptShape(data, axes))) }),
});

/** Σ x² over `axes` (all axes when omitted). */
export function reduceSumSquare(x: Value, axes?: readonly number[], keepdims = false): Value {
  return ReduceSumSquare.call(...reduceArgs(x, axes, keepdims));
}
