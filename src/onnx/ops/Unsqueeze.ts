import { ints } from '../constant.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { constInts, normalizeAxis } from '../shape.js';
import { reshape } from './Reshape.js';

/** Inserts size-1 axes at `axes`, which index the output (opset 13+: an int64 input). */
export const Unsqueeze = defineOp<{}, { data: Value; axes: Value }>({
  type: 'Unsqueeze',
  inputs: { data: 'differentiable', axes: 'nondifferentiable' },
  attrs: {},
  infer: ({ data, axes }, _, fail) => {
    const given = constInts(axes, 'axes', fail);
    const rank = data.rank + given.length;
    const inserted = given.map((a) => normalizeAxis(a, rank) ?? fail(`axis ${a} is out of range for output rank ${rank}`));
    if (new Set(inserted).size !== inserted.length) fail(`axes ${JSON.stringify(given)} repeat an axis`);
    const kept = [...data.shape];
    return { dtype: data.dtype, shape: Array.from({ length: rank }, (_, i) => (inserted.includes(i) ? 1 : kept.shift()!)) };
  },
  vjp: ({ g, x: { data } }) => ({ data: reshape(g, data.shape) }),
});

export function unsqueeze(x: Value, axes: readonly number[]): Value {
  return Unsqueeze.call({ data: x, axes: ints(x.graph, axes) }, {});
}
