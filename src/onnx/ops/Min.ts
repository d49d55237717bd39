import { type Operand, scalar } from '../constant.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { elementwise } from '../rules.js';
import { operands } from './Add.js';
import { less } from './Less.js';
import { where } from './Where.js';

/**
 * Binary Min (ONNX's is variadic). Ties send the whole gradient to A, as in Max: min(x, c)
 * passes g wherever x ≤ c. The engine sums the broadcast cotangents back.
 */
export const Min = defineOp<{}, { A: Value; B: Value }>({
  type: 'Min',
  inputs: { A: 'differentiable', B: 'differentiable' },
  attrs: {},
  infer: ({ A, B }, _, fail) => elementwise([A, B], fail),
  vjp: ({ g, x: { A, B }, needed }) => {
    const bWins = less(B, A);
    const zero = scalar(g.graph, 0, g.dtype);
    return { A: needed.A ? where(bWins, zero, g) : null, B: needed.B ? where(bWins, g, zero) : null };
  },
});

export function min(a: Operand, b: Operand): Value {
  const [A, B] = operands(a, b);
  return Min.call({ A, B }, {});
}
