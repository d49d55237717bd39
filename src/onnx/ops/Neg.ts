import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { elementwise } from '../rules.js';

export const Neg = defineOp<{}, { X: Value }>({
  type: 'Neg',
  inputs: { X: 'differentiable' },
  attrs: {},
  infer: ({ X }, _, fail) => elementwise([X], fail),
  vjp: ({ g }) => ({ X: neg(g) }),
});

export function neg(x: Value): Value {
  return Neg.call({ X: x }, {});
}
