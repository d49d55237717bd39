import { type Operand, lift } from '../constant.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { elementwise } from '../rules.js';

export const Add = defineOp<{}, { A: Value; B: Value }>({
  type: 'Add',
  inputs: { A: 'differentiable', B: 'differentiable' },
  attrs: {},
  infer: ({ A, B }, _, fail) => elementwise([A, B], fail),
  vjp: ({ g }) => ({ A: g, B: g }),
});

export function add(a: Operand, b: Operand): Value {
  const [A, B] = operands(a, b);
  return Add.call({ A, B }, {});
}

/** Lifts numbers to scalars typed like the other operand (at least one must be a Value). */
export function operands(a: Operand, b: Operand): [Value, Value] {
  if (typeof a === 'number' && typeof b === 'number') throw new TypeError('an elementwise op needs at least one tensor operand, got two numbers');
  const like = (typeof a === 'number' ? b : a) as Value;
  return [lift(a, like), lift(b, like)];
}
