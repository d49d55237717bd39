import { scalar } from '../constant.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { elementwise } from '../rules.js';
import { greater } from './Greater.js';
import { less } from './Less.js';
import { neg } from './Neg.js';
import { where } from './Where.js';

/**
 * d|x| = g·sign(x) with sign(0) = 0, as in PyTorch. Written with two Wheres rather than Sign,
 * which has no WebGPU kernel.
 */
export const Abs = defineOp<{}, { X: Value }>({
  type: 'Abs',
  inputs: { X: 'differentiable' },
  attrs: {},
  infer: ({ X }, _, fail) => elementwise([X], fail),
  vjp: ({ g, x: { X } }) => ({ X: where(greater(X, 0), g, where(less(X, 0), neg(g), scalar(g.graph, 0, g.dtype))) }),
});

export function abs(x: Value): Value {
  return Abs.call({ X: x }, {});
}
