/**
 * Floating-point operation counts of a graph from the static shapes of its nodes (`multisiam
 * inspect`, tools/bundle-report.ts). The convention, the usual one for CNN FLOP tables:
 * - Conv, ConvTranspose, MatMul, Gemm: 2 × multiply-adds (torchvision's 4.1 GMAC ResNet-50 is
 *   8.2 GFLOP here). Conv: output elements × C_in/group × kh × kw; ConvTranspose: input elements ×
 *   C_out/group × kh × kw (each input element is scattered over the window); MatMul: output elements
 *   × K; Gemm: M·N·K. Padding zeros count as work; biases and Gemm's C are not counted.
 * - Elementwise arithmetic, comparisons, selection (Where) and reductions, pooling and Softmax:
 *   1 per output element (a reduction's inner adds are not counted).
 * - Data movement (Reshape, Transpose, Slice, Gather, Concat, Expand, Pad, Identity, casts, …): 0.
 * An op type not listed here counts 1 per output element and is named in `unclassified`, so a new op
 * shows up in the report instead of silently counting as free.
 */
import type { Graph, Node } from './ir.js';
import { shapeSize } from './dtype.js';

export type FlopClass = 'multiply-add' | 'elementwise' | 'movement';

const ELEMENTWISE = new Set([
  'Abs', 'Add', 'Sub', 'Mul', 'Div', 'Neg', 'Exp', 'Log', 'Sqrt', 'Pow', 'Relu', 'Max', 'Min', 'Clip',
  'Greater', 'Less', 'Equal', 'Not', 'Where', 'Softmax',
  'ReduceMean', 'ReduceSum', 'ReduceSumSquare', 'ReduceMax', 'GlobalAveragePool', 'MaxPool',
]);
const MOVEMENT = new Set([
  'Reshape', 'Transpose', 'Slice', 'Gather', 'Concat', 'Expand', 'Pad', 'Identity', 'Flatten', 'Squeeze',
  'Unsqueeze', 'ScatterElements', 'StopGradient', 'Cast',
]);
const MULTIPLY_ADD = new Set(['Conv', 'ConvTranspose', 'MatMul', 'Gemm']);

export interface FlopCount {
  readonly total: number;
  /** 2 × multiply-adds of Conv, ConvTranspose, MatMul, Gemm. */
  readonly multiplyAdd: number;
  /** 1 per output element of elementwise and reduction ops. */
  readonly elementwise: number;
  /** FLOPs by op type, largest first. */
  readonly byOp: Readonly<Record<string, number>>;
  /** Op types this counter does not know (counted as elementwise). */
  readonly unclassified: readonly string[];
}

export function flopClass(opType: string): FlopClass | null {
  if (MULTIPLY_ADD.has(opType)) return 'multiply-add';
  if (ELEMENTWISE.has(opType)) return 'elementwise';
  if (MOVEMENT.has(opType)) return 'movement';
  return null;
}

/** FLOPs of one node (see the file comment for the convention). */
export function nodeFlops(node: Node): number {
  const type = node.op.type;
  const out = node.outputs[0];
  if (!out) return 0;
  switch (type) {
    case 'Conv': {
      const w = node.inputs[1]!.shape; // (M, C/group, kh, kw)
      return 2 * out.size * shapeSize(w.slice(1));
    }
    case 'ConvTranspose': {
      const w = node.inputs[1]!.shape; // (C, M/group, kh, kw)
      return 2 * node.inputs[0]!.size * shapeSize(w.slice(1));
    }
    case 'MatMul': {
      const a = node.inputs[0]!.shape;
      return 2 * out.size * a[a.length - 1]!;
    }
    case 'Gemm': {
      const a = node.inputs[0]!.shape;
      const k = node.attrs['transA'] === 1 ? a[0]! : a[1]!;
      return 2 * out.size * k;
    }
    default:
      return MOVEMENT.has(type) ? 0 : out.size;
  }
}

export function graphFlops(graph: Graph): FlopCount {
  const byOp = new Map<string, number>();
  const unclassified = new Set<string>();
  let multiplyAdd = 0;
  let elementwise = 0;
  for (const node of graph.nodes) {
    const type = node.op.type;
    const cls = flopClass(type);
    if (cls === 'movement') continue;
    if (cls === null) unclassified.add(type);
    const f = nodeFlops(node);
    byOp.set(type, (byOp.get(type) ?? 0) + f);
    if (cls === 'multiply-add') multiplyAdd += f;
    else elementwise += f;
  }
  const sorted = [...byOp].sort((a, b) => b[1] - a[1]);
  return { total: multiplyAdd + elementwise, multiplyAdd, elementwise, byOp: Object.fromEntries(sorted), unclassified: [...unclassified].sort() };
}

/** 1234567890 → '1.23 GFLOP'. */
export function formatFlops(n: number): string {
  const units: [number, string][] = [[1e15, 'PFLOP'], [1e12, 'TFLOP'], [1e9, 'GFLOP'], [1e6, 'MFLOP'], [1e3, 'kFLOP']];
  for (const [scale, unit] of units) if (n >= scale) return `${(n / scale).toFixed(n / scale >= 100 ? 0 : n / scale >= 10 ? 1 : 2)} ${unit}`;
  return `${n} FLOP`;
}
