import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { floatElementwise } from '../rules.js';
import { div } from './Div.js';
import { mul } from './Mul.js';

/** d√x = g / (2√x), reusing the output; infinite at x = 0 (as in PyTorch), so callers keep x > 0. */
export const Sqrt = defineOp<{}, { X: Value }>({
  type: 'Sqrt',
  inputs: { X: 'differentiable' },
  attrs: {},
  infer: ({ X }, _, fail) => floatElementwise([X], fail),
  vjp: ({ g, y: [Y] }) => ({ X: div(mul(g, 0.5), Y!) }),
});

export function sqrt(x: Value): Value {
  return Sqrt.call({ X: x }, {});
}
