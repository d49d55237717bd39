import { type DType, ONNX_DTYPE } from '../dtype.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';

/**
 * A float-to-float cast passes the cotangent back cast to the input's dtype. Casts to or from
 * integers and bools carry no gradient without a rule saying so: the engine never sends a
 * cotangent into an integer value, and never asks for one from an integer input.
 */
export const Cast = defineOp<{ to: number }, { input: Value }>({
  type: 'Cast',
  inputs: { input: 'differentiable' },
  attrs: { to: 'int' },
  infer: ({ input }, { to }, fail) => {
    const dtype = (Object.keys(ONNX_DTYPE) as DType[]).find((d) => ONNX_DTYPE[d] === to);
    const known = Object.entries(ONNX_DTYPE).map(([d, code]) => `${code} (${d})`);
    return { dtype: dtype ?? fail(`target type code ${to} is not one of ${known.join(', ')}`), shape: input.shape };
  },
  vjp: ({ g, x: { input } }) => ({ input: cast(g, input.dtype) }),
});

/** `x` as `dtype`; returns `x` itself when it already has that dtype. */
export function cast(x: Value, dtype: DType): Value {
  if (x.dtype === dtype) return x;
  return Cast.call({ input: x }, { to: ONNX_DTYPE[dtype] });
}
