import { ints } from '../constant.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { reducedAxes } from '../reduce.js';
import { reshape } from './Reshape.js';

/** Removes size-1 axes (opset 13+: axes are an int64 input; without it or when empty, every size-1 axis). */
export const Squeeze = defineOp<{}, { data: Value; axes: Value | undefined }>({
  type: 'Squeeze',
  inputs: { data: 'differentiable', axes: { grad: 'nondifferentiable', optional: true } },
  attrs: {},
  infer: ({ data, axes }, _, fail) => {
    const listed = axes ? reducedAxes(data, axes, fail) : [];
    const drop = listed.length > 0 ? listed : data.shape.flatMap((d, i) => (d === 1 ? [i] : []));
    const wide = drop.find((a) => data.shape[a] !== 1);
    if (wide !== undefined) fail(`axis ${wide} has size ${data.shape[wide]}, not 1`);
    return { dtype: data.dtype, shape: data.shape.filter((_, i) => !drop.includes(i)) };
  },
  vjp: ({ g, x: { data } }) => ({ data: reshape(g, data.shape) }),
});

/** Removes `axes` (every size-1 axis when omitted); returns `x` itself when nothing is removed. */
export function squeeze(x: Value, axes?: readonly number[]): Value {
  // Axes are always written out: ORT's kernel rejects an omitted axes input ("Axes input is null"),
  // and ONNX shape inference reads an empty list as "none" where the kernel reads it as "all".
  const drop = axes ?? x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
  if (drop.length === 0) return x;
  return Squeeze.call({ data: x, axes: ints(x.graph, drop) }, {});
}
