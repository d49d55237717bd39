import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { floatElementwise } from '../rules.js';
import { mul } from './Mul.js';

/** d eˣ = g·eˣ, reusing the output. */
export const Exp = defineOp<{}, { input: Value }>({
  type: 'Exp',
  inputs: { input: 'differentiable' },
  attrs: {},
  infer: ({ input }, _, fail) => floatElementwise([input], fail),
  vjp: ({ g, y: [Y] }) => ({ input: mul(g, Y!) }),
});

export function exp(x: Value): Value {
  return Exp.call({ input: x }, {});
}
