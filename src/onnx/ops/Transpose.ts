import type { Value } from '../ir.js';
import { defineOp } from '../op.js';

export const Transpose = defineOp<{ perm: readonly number[] }, { data: Value }>({
  type: 'Transpose',
  inputs: { data: 'differentiable' },
  attrs: { perm: 'ints' },
  infer: ({ data }, { perm }, fail) => {
    const sorted = [...perm].sort((a, b) => a - b);
    if (perm.length !== data.rank || !sorted.every((p, i) => p === i)) fail(`perm ${JSON.stringify(perm)} is not a permutation of 0..${data.rank - 1}`);
    return { dtype: data.dtype, shape: perm.map((p) => data.shape[p]!) };
  },
  vjp: ({ g, attrs: { perm } }) => ({ data: transpose(g, inversePermutation(perm)) }),
});

export function transpose(x: Value, perm: readonly number[]): Value {
  return Transpose.call({ data: x }, { perm });
}

export function inversePermutation(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}
