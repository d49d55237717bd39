import { type Operand, lift, scalar } from '../constant.js';
import { formatShape } from '../dtype.js';
import type { Value } from '../ir.js';
import { type GradRule, defineOp } from '../op.js';
import { greater } from './Greater.js';
import { less } from './Less.js';
import { where } from './Where.js';

const BOUND: GradRule = { notImplemented: 'clip bounds are constants or hyper-parameters here; their gradient is never needed' };

/**
 * The gradient passes strictly inside the bounds (min < x < max) and is zero on and beyond them
 * (PyTorch passes it at x = min and x = max too; the sets differ only on ties).
 */
export const Clip = defineOp<{}, { input: Value; min: Value | undefined; max: Value | undefined }>({
  type: 'Clip',
  inputs: { input: 'differentiable', min: { grad: BOUND, optional: true }, max: { grad: BOUND, optional: true } },
  attrs: {},
  infer: ({ input, min, max }, _, fail) => {
    for (const [name, bound] of [['min', min], ['max', max]] as const) {
      if (bound && bound.rank !== 0) fail(`${name} must be a scalar (shape []), got ${formatShape(bound.shape)}`);
      if (bound && bound.dtype !== input.dtype) fail(`${name} must be ${input.dtype} like the input, got ${bound.dtype}`);
    }
    return { dtype: input.dtype, shape: input.shape };
  },
  vjp: ({ g, x: { input, min, max } }) => {
    const zero = scalar(g.graph, 0, g.dtype);
    const aboveMin = min ? where(greater(input, min), g, zero) : g;
    return { input: max ? where(less(input, max), aboveMin, zero) : aboveMin };
  },
});

/** Clamps `x` to [min, max]; either bound may be left out, numbers become scalars of x's dtype. */
export function clip(x: Value, bounds: { readonly min?: Operand; readonly max?: Operand }): Value {
  const bound = (b: Operand | undefined) => (b === undefined ? undefined : lift(b, x));
  return Clip.call({ input: x, min: bound(bounds.min), max: bound(bounds.max) }, {});
}
