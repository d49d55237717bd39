import type { Operand } from '../constant.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { elementwise } from '../rules.js';
import { operands } from './Add.js';

export const Mul = defineOp<{}, { A: Value; B: Value }>({
  type: 'Mul',
  inputs: { A: 'differentiable', B: 'differentiable' },
  attrs: {},
  infer: ({ A, B }, _, fail) => elementwise([A, B], fail),
  vjp: ({ g, x: { A, B }, needed }) => ({
    A: needed.A ? mul(g, B) : null,
    B: needed.B ? mul(g, A) : null,
  }),
});

export function mul(a: Operand, b: Operand): Value {
  const [A, B] = operands(a, b);
  return Mul.call({ A, B }, {});
}
