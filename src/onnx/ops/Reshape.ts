import { ints } from '../constant.js';
import { shapeSize } from '../dtype.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { constInts, sameShape } from '../shape.js';

export const Reshape = defineOp<{ allowzero: number }, { data: Value; shape: Value }>({
  type: 'Reshape',
  inputs: { data: 'differentiable', shape: 'nondifferentiable' },
  attrs: { allowzero: 'int' },
  infer: ({ data, shape }, { allowzero }, fail) => {
    const target = constInts(shape, 'shape', fail);
    if (allowzero !== 0) fail('allowzero=1 is not supported');
    const copied = target.map((d, i) => (d === 0 ? (data.shape[i] ?? fail(`shape entry ${i} is 0 (copy) but the input has rank ${data.rank}`)) : d));
    const unknown = copied.filter((d) => d === -1).length;
    if (unknown > 1) fail(`shape ${JSON.stringify(target)} has more than one -1`);
    const known = shapeSize(copied.filter((d) => d !== -1));
    const out = copied.map((d) => (d === -1 ? data.size / known : d));
    if (!out.every((d) => Number.isInteger(d) && d >= 0) || shapeSize(out) !== data.size) {
      fail(`cannot reshape ${data.size} elements to ${JSON.stringify(target)}`);
    }
    return { dtype: data.dtype, shape: out };
  },
  vjp: ({ g, x: { data } }) => ({ data: reshape(g, data.shape) }),
});

/** Reshape to a static shape (one -1 allowed); a no-op reshape returns `x` itself. */
export function reshape(x: Value, shape: readonly number[]): Value {
  if (sameShape(x.shape, shape)) return x;
  return Reshape.call({ data: x, shape: ints(x.graph, shape) }, { allowzero: 0 });
}
