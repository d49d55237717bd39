import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { floatElementwise } from '../rules.js';
import { div } from './Div.js';

/** d ln x = g / x. */
export const Log = defineOp<{}, { input: Value }>({
  type: 'Log',
  inputs: { input: 'differentiable' },
  attrs: {},
  infer: ({ input }, _, fail) => floatElementwise([input], fail),
  vjp: ({ g, x: { input } }) => ({ input: div(g, input) }),
});

export function log(x: Value): Value {
  return Log.call({ input: x }, {});
}
