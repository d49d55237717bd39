import type { Operand } from '../constant.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { floatElementwise } from '../rules.js';
import { operands } from './Add.js';
import { log } from './Log.js';
import { mul } from './Mul.js';
import { sub } from './Sub.js';

/**
 * Z = X^Y with X and Y of one float dtype (ONNX also allows an integer exponent; a number given to
 * the builder becomes a scalar of the base's dtype). dX = g·Y·X^(Y−1); dY = g·Z·ln X, which needs
 * X > 0 (NaN otherwise, as in PyTorch).
 */
export const Pow = defineOp<{}, { X: Value; Y: Value }>({
  type: 'Pow',
  inputs: { X: 'differentiable', Y: 'differentiable' },
  attrs: {},
  infer: ({ X, Y }, _, fail) => floatElementwise([X, Y], fail),
  vjp: ({ g, x: { X, Y }, y: [Z], needed }) => ({
    X: needed.X ? mul(g, mul(Y, pow(X, sub(Y, 1)))) : null,
    Y: needed.Y ? mul(g, mul(Z!, log(X))) : null,
  }),
});

export function pow(base: Operand, exponent: Operand): Value {
  const [X, Y] = operands(base, exponent);
  return Pow.call({ X, Y }, {});
}
