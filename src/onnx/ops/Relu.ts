import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { floatElementwise } from '../rules.js';
import { cast } from './Cast.js';
import { greater } from './Greater.js';
import { mul } from './Mul.js';

/**
 * Relu'(0) = 0, as PyTorch: the gradient passes only where the input is strictly positive. The
 * mask multiplies g (Greater, Cast, Mul) rather than selecting it (Where): ONNX Runtime's CPU Where
 * took 3.0 ms on a 16×64×56×56 map against 1.5 ms for Cast + Mul (ResNet-18 step: 8.8 → 5.9 ms).
 */
export const Relu = defineOp<{}, { X: Value }>({
  type: 'Relu',
  inputs: { X: 'differentiable' },
  attrs: {},
  infer: ({ X }, _, fail) => floatElementwise([X], fail),
  vjp: ({ g, x: { X } }) => ({ X: mul(g, cast(greater(X, 0), g.dtype)) }),
});

export function relu(x: Value): Value {
  return Relu.call({ X: x }, {});
}
