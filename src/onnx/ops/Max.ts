import { type Operand, scalar } from '../constant.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { elementwise } from '../rules.js';
import { operands } from './Add.js';
import { less } from './Less.js';
import { where } from './Where.js';

/**
 * Binary Max (ONNX's is variadic; two inputs cover every use here). Ties send the whole gradient
 * to A: max(x, c) passes g wherever x ≥ c. The engine sums the broadcast cotangents back.
 */
export const Max = defineOp<{}, { A: Value; B: Value }>({
  type: 'Max',
  inputs: { A: 'differentiable', B: 'differentiable' },
  attrs: {},
  infer: ({ A, B }, _, fail) => elementwise([A, B], fail),
  vjp: ({ g, x: { A, B }, needed }) => {
    const bWins = less(A, B);
    const zero = scalar(g.graph, 0, g.dtype);
    return { A: needed.A ? where(bWins, zero, g) : null, B: needed.B ? where(bWins, g, zero) : null };
  },
});

export function max(a: Operand, b: Operand): Value {
  const [A, B] = operands(a, b);
  return Max.call({ A, B }, {});
}
