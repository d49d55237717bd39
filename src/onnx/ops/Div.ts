import type { Operand } from '../constant.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { elementwise } from '../rules.js';
import { operands } from './Add.js';
import { mul } from './Mul.js';
import { neg } from './Neg.js';

/** d(A/B) = dA/B − dB·(A/B)/B; the second form reuses the output instead of squaring B. */
export const Div = defineOp<{}, { A: Value; B: Value }>({
  type: 'Div',
  inputs: { A: 'differentiable', B: 'differentiable' },
  attrs: {},
  infer: ({ A, B }, _, fail) => elementwise([A, B], fail),
  vjp: ({ g, x: { B }, y: [Y], needed }) => {
    const gOverB = div(g, B);
    return { A: needed.A ? gOverB : null, B: needed.B ? neg(mul(gOverB, Y!)) : null };
  },
});

export function div(a: Operand, b: Operand): Value {
  const [A, B] = operands(a, b);
  return Div.call({ A, B }, {});
}
