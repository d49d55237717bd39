import { scalar } from '../constant.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { broadcastAll } from '../shape.js';

export const Where = defineOp<{}, { C: Value; X: Value; Y: Value }>({
  type: 'Where',
  inputs: { C: 'nondifferentiable', X: 'differentiable', Y: 'differentiable' },
  attrs: {},
  infer: ({ C, X, Y }, _, fail) => {
    if (C.dtype !== 'bool') fail(`condition must be bool, got ${C.dtype}`);
    if (X.dtype !== Y.dtype) fail(`X and Y must share a dtype, got ${X.dtype} and ${Y.dtype}`);
    return { dtype: X.dtype, shape: broadcastAll([C.shape, X.shape, Y.shape], fail) };
  },
  vjp: ({ g, x: { C }, needed }) => {
    const zero = scalar(g.graph, 0, g.dtype);
    return { X: needed.X ? where(C, g, zero) : null, Y: needed.Y ? where(C, zero, g) : null };
  },
});

export function where(condition: Value, x: Value, y: Value): Value {
  return Where.call({ C: condition, X: x, Y: y }, {});
}
