import { ints } from '../constant.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { broadcastShapes, constInts, sameShape } from '../shape.js';

/** Broadcasting: the engine sums the cotangent back to the input's shape, so the rule passes it through. */
export const Expand = defineOp<{}, { input: Value; shape: Value }>({
  type: 'Expand',
  inputs: { input: 'differentiable', shape: 'nondifferentiable' },
  attrs: {},
  infer: ({ input, shape }, _, fail) => {
    const target = constInts(shape, 'shape', fail);
    const out = broadcastShapes(input.shape, target) ?? fail(`cannot broadcast ${JSON.stringify(input.shape)} to ${JSON.stringify(target)}`);
    return { dtype: input.dtype, shape: out };
  },
  vjp: ({ g }) => ({ input: g }),
});

/** Broadcast `x` to `shape` (numpy rules); returns `x` when it already has that shape. */
export function expand(x: Value, shape: readonly number[]): Value {
  if (sameShape(x.shape, shape)) return x;
  return Expand.call({ input: x, shape: ints(x.graph, shape) }, {});
}
