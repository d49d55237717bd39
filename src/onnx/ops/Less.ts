import type { Operand } from '../constant.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { elementwise } from '../rules.js';
import { operands } from './Add.js';

export const Less = defineOp<{}, { A: Value; B: Value }>({
  type: 'Less',
  inputs: { A: 'nondifferentiable', B: 'nondifferentiable' },
  attrs: {},
  infer: ({ A, B }, _, fail) => elementwise([A, B], fail, 'bool'),
});

export function less(a: Operand, b: Operand): Value {
  const [A, B] = operands(a, b);
  return Less.call({ A, B }, {});
}
