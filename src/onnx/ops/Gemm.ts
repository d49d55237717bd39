import { formatShape } from '../dtype.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { broadcastShapes, sameShape } from '../shape.js';
import { mul } from './Mul.js';

interface GemmAttrs {
  readonly alpha: number;
  readonly beta: number;
  readonly transA: number;
  readonly transB: number;
}

/**
 * Y = α·op(A)·op(B) + β·C, op = transpose when its flag is set, C broadcast to [M,N]. The
 * gradients are Gemms again, from dop(A) = α·g·op(B)ᵀ and dop(B) = α·op(A)ᵀ·g (transposed back
 * when the flag is set); dC = β·g, which the engine sums back to C's shape.
 */
export const Gemm = defineOp<GemmAttrs, { A: Value; B: Value; C: Value | undefined }>({
  type: 'Gemm',
  inputs: { A: 'differentiable', B: 'differentiable', C: { grad: 'differentiable', optional: true } },
  attrs: { alpha: 'float', beta: 'float', transA: 'int', transB: 'int' },
  infer: ({ A, B, C }, { transA, transB }, fail) => {
    if (A.rank !== 2 || B.rank !== 2) fail(`A and B must be matrices, got ranks ${A.rank} and ${B.rank}`);
    if (A.dtype !== B.dtype || (C && C.dtype !== A.dtype)) fail('A, B and C must share a dtype');
    const [m, k] = (transA ? [...A.shape].reverse() : A.shape) as [number, number];
    const [kb, n] = (transB ? [...B.shape].reverse() : B.shape) as [number, number];
    if (k !== kb) fail(`inner dimensions differ: op(A) is ${m}×${k}, op(B) is ${kb}×${n} (transA=${transA}, transB=${transB})`);
    if (C && !sameShape(broadcastShapes(C.shape, [m, n]) ?? [], [m, n])) fail(`C of shape ${formatShape(C.shape)} does not broadcast to [${m},${n}]`);
    return { dtype: A.dtype, shape: [m, n] };
  },
  vjp: ({ g, x: { A, B }, attrs: { alpha, beta, transA, transB }, needed }) => {
    const [tA, tB] = [transA === 1, transB === 1];
    // dA = α·g·op(B)ᵀ, or its transpose α·op(B)·gᵀ when A enters transposed.
    const dA = () => (tA ? gemm(B, g, undefined, { alpha, transA: tB, transB: true }) : gemm(g, B, undefined, { alpha, transB: !tB }));
    // dB = α·op(A)ᵀ·g, or its transpose α·gᵀ·op(A) when B enters transposed.
    const dB = () => (tB ? gemm(g, A, undefined, { alpha, transA: true, transB: tA }) : gemm(A, g, undefined, { alpha, transA: !tA }));
    return { A: needed.A ? dA() : null, B: needed.B ? dB() : null, C: needed.C ? (beta === 1 ? g : mul(g, beta)) : null };
  },
});

export interface GemmOptions {
  readonly alpha?: number;
  readonly beta?: number;
  readonly transA?: boolean;
  readonly transB?: boolean;
}

/** α·op(a)·op(b) + β·c (c optional; a Linear layer is `gemm(x, w, bias, { transB: true })`). */
export function gemm(a: Value, b: Value, c?: Value, { alpha = 1, beta = 1, transA = false, transB = false }: GemmOptions = {}): Value {
  return Gemm.call({ A: a, B: b, C: c }, { alpha, beta, transA: transA ? 1 : 0, transB: transB ? 1 : 0 });
}
