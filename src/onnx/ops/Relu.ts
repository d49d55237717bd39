import { scalar } from '../constant.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { floatElementwise } from '../rules.js';
import { greater } from './Greater.js';
import { where } from './Where.js';

/** Relu'(0) = 0, as PyTorch: the gradient passes only where the input is strictly positive. */
export const Relu = defineOp<{}, { X: Value }>({
  type: 'Relu',
  inputs: { X: 'differentiable' },
  attrs: {},
  infer: ({ X }, _, fail) => floatElementwise([X], fail),
  vjp: ({ g, x: { X } }) => ({ X: where(greater(X, 0), g, scalar(g.graph, 0, g.dtype)) }),
});

export function relu(x: Value): Value {
  return Relu.call({ X: x }, {});
}
