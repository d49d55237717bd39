import { scalar } from '../constant.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { normalizeAxis } from '../shape.js';
import { expand } from './Expand.js';
import { reshape } from './Reshape.js';
import { scatterElements } from './ScatterElements.js';

/**
 * Takes slices of `data` along `axis` at `indices` (negative ones count from the end). The gradient
 * scatter-adds the cotangent into zeros, so repeated indices accumulate: ScatterElements pairs
 * every update with an index, so the cotangent's index axes become one and the indices are
 * broadcast over the other axes.
 */
export const Gather = defineOp<{ axis: number }, { data: Value; indices: Value }>({
  type: 'Gather',
  inputs: { data: 'differentiable', indices: 'nondifferentiable' },
  attrs: { axis: 'int' },
  infer: ({ data, indices }, { axis }, fail) => {
    if (indices.dtype !== 'int64' && indices.dtype !== 'int32') fail(`indices must be int64 or int32, got ${indices.dtype}`);
    const a = normalizeAxis(axis, data.rank) ?? fail(`axis ${axis} is out of range for rank ${data.rank}`);
    return { dtype: data.dtype, shape: [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)] };
  },
  vjp: ({ g, x: { data, indices }, attrs: { axis } }) => {
    const a = normalizeAxis(axis, data.rank)!;
    const shape = data.shape.map((d, i) => (i === a ? indices.size : d));
    const index = expand(reshape(indices, shape.map((d, i) => (i === a ? d : 1))), shape);
    const zeros = expand(scalar(g.graph, 0, g.dtype), data.shape);
    return { data: scatterElements(zeros, index, reshape(g, shape), { axis: a, reduction: 'add' }) };
  },
});

export function gather(x: Value, indices: Value, axis = 0): Value {
  return Gather.call({ data: x, indices }, { axis });
}
