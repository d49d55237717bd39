import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { normalizeAxis } from '../shape.js';
import { slice } from './Slice.js';

/** Joins its inputs along `axis`; each input's gradient is its slice of the cotangent. */
export const Concat = defineOp<{ axis: number }, { inputs: readonly Value[] }>({
  type: 'Concat',
  inputs: { inputs: { grad: 'differentiable', variadic: true } },
  attrs: { axis: 'int' },
  infer: ({ inputs }, { axis }, fail) => {
    const first = inputs[0]!;
    const a = normalizeAxis(axis, first.rank) ?? fail(`axis ${axis} is out of range for rank ${first.rank}`);
    inputs.forEach((v, i) => {
      if (v.dtype !== first.dtype) fail(`input ${i} is ${v.dtype} but input 0 is ${first.dtype}`);
      if (v.rank !== first.rank) fail(`input ${i} has rank ${v.rank} but input 0 has rank ${first.rank}`);
      const d = v.shape.findIndex((n, k) => k !== a && n !== first.shape[k]);
      if (d >= 0) fail(`input ${i} differs from input 0 on axis ${d} (${v.shape[d]} vs ${first.shape[d]}); only axis ${a} may differ`);
    });
    const joined = inputs.reduce((n, v) => n + v.shape[a]!, 0);
    return { dtype: first.dtype, shape: first.shape.map((n, k) => (k === a ? joined : n)) };
  },
  vjp: ({ g, x: { inputs }, attrs: { axis }, needed }) => {
    const a = normalizeAxis(axis, g.rank)!;
    let start = 0;
    return {
      inputs: inputs.map((v, i) => {
        const from = start;
        start += v.shape[a]!;
        return needed.inputs[i] ? slice(g, [from], [start], [a]) : null;
      }),
    };
  },
});

export function concat(xs: readonly Value[], axis: number): Value {
  return Concat.call({ inputs: xs }, { axis });
}
