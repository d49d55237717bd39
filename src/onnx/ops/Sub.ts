import type { Operand } from '../constant.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { elementwise } from '../rules.js';
import { operands } from './Add.js';
import { neg } from './Neg.js';

export const Sub = defineOp<{}, { A: Value; B: Value }>({
  type: 'Sub',
  inputs: { A: 'differentiable', B: 'differentiable' },
  attrs: {},
  infer: ({ A, B }, _, fail) => elementwise([A, B], fail),
  vjp: ({ g, needed }) => ({ A: g, B: needed.B ? neg(g) : null }),
});

export function sub(a: Operand, b: Operand): Value {
  const [A, B] = operands(a, b);
  return Sub.call({ A, B }, {});
}
