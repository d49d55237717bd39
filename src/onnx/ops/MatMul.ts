import { formatShape } from '../dtype.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { broadcastShapes } from '../shape.js';
import { transpose } from './Transpose.js';

/**
 * Matrix product over the last two axes with numpy broadcasting of the batch axes. 1-D operands
 * (numpy's vector promotion) are refused: reshape a vector to [1,k] or [k,1]. dA = g·Bᵀ and
 * dB = Aᵀ·g come out with the broadcast batch shape; the engine sums them back.
 */
export const MatMul = defineOp<{}, { A: Value; B: Value }>({
  type: 'MatMul',
  inputs: { A: 'differentiable', B: 'differentiable' },
  attrs: {},
  infer: ({ A, B }, _, fail) => {
    if (A.rank < 2 || B.rank < 2) fail('1-D operands are not supported; reshape a vector to [1,k] or [k,1]');
    if (A.dtype !== B.dtype) fail(`A and B must share a dtype, got ${A.dtype} and ${B.dtype}`);
    const [n, k] = A.shape.slice(-2) as [number, number];
    const [kb, m] = B.shape.slice(-2) as [number, number];
    if (k !== kb) fail(`inner dimensions differ: A has ${k} columns, B has ${kb} rows`);
    const [batchA, batchB] = [A.shape.slice(0, -2), B.shape.slice(0, -2)];
    const batch = broadcastShapes(batchA, batchB) ?? fail(`batch shapes ${formatShape(batchA)} and ${formatShape(batchB)} do not broadcast`);
    return { dtype: A.dtype, shape: [...batch, n, m] };
  },
  vjp: ({ g, x: { A, B }, needed }) => ({
    A: needed.A ? matMul(g, matrixTranspose(B)) : null,
    B: needed.B ? matMul(matrixTranspose(A), g) : null,
  }),
});

export function matMul(a: Value, b: Value): Value {
  return MatMul.call({ A: a, B: b }, {});
}

/** Swaps the last two axes. */
export function matrixTranspose(x: Value): Value {
  const perm = x.shape.map((_, i) => i);
  perm.splice(-2, 2, x.rank - 1, x.rank - 2);
  return transpose(x, perm);
}
