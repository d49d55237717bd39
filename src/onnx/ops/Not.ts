import type { Value } from '../ir.js';
import { defineOp } from '../op.js';

export const Not = defineOp<{}, { X: Value }>({
  type: 'Not',
  inputs: { X: 'nondifferentiable' },
  attrs: {},
  infer: ({ X }, _, fail) => {
    if (X.dtype !== 'bool') fail(`needs a bool input, got ${X.dtype}`);
    return { dtype: 'bool', shape: X.shape };
  },
});

/** Logical negation of a bool tensor. */
export function not(x: Value): Value {
  return Not.call({ X: x }, {});
}
