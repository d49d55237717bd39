import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { floatElementwise } from '../rules.js';
import { normalizeAxis } from '../shape.js';
import { mul } from './Mul.js';
import { reduceSum } from './ReduceSum.js';
import { sub } from './Sub.js';

/** Softmax along one axis (opset 13+). dx = s·(g − Σ_axis g·s), reusing the output s. */
export const Softmax = defineOp<{ axis: number }, { input: Value }>({
  type: 'Softmax',
  inputs: { input: 'differentiable' },
  attrs: { axis: 'int' },
  infer: ({ input }, { axis }, fail) => {
    if (normalizeAxis(axis, input.rank) === null) fail(`axis ${axis} is out of range for rank ${input.rank}`);
    return floatElementwise([input], fail);
  },
  vjp: ({ g, y: [S], attrs: { axis } }) => ({ input: mul(S!, sub(g, reduceSum(mul(g, S!), [axis], true))) }),
});

export function softmax(x: Value, axis = -1): Value {
  return Softmax.call({ input: x }, { axis });
}
