import { shapeSize } from '../dtype.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { reshape } from './Reshape.js';

/** Collapses the axes before `axis` into one and those from `axis` on into another. */
export const Flatten = defineOp<{ axis: number }, { input: Value }>({
  type: 'Flatten',
  inputs: { input: 'differentiable' },
  attrs: { axis: 'int' },
  infer: ({ input }, { axis }, fail) => {
    const a = axis < 0 ? axis + input.rank : axis;
    if (a < 0 || a > input.rank) fail(`axis ${axis} is out of range [${-input.rank}, ${input.rank}]`);
    return { dtype: input.dtype, shape: [shapeSize(input.shape.slice(0, a)), shapeSize(input.shape.slice(a))] };
  },
  vjp: ({ g, x: { input } }) => ({ input: reshape(g, input.shape) }),
});

export function flatten(x: Value, axis = 1): Value {
  return Flatten.call({ input: x }, { axis });
}
