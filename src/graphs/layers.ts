/**
 * Parameterised layers shared by the heads, declared in the caller's current scope with PyTorch's
 * names and default initialisation (nn.Linear and nn.Conv2d: weight and bias U(±1/√fan_in)).
 */
import type { Value } from '../onnx/ir.js';
import { conv } from '../onnx/ops/Conv.js';
import { gemm } from '../onnx/ops/Gemm.js';

/** nn.Linear(in, out): `weight` (out, in) and `bias` (out); x is (B, in). */
export function linear(x: Value, out: number): Value {
  const g = x.graph;
  const fanIn = x.shape[1]!;
  const bound = 1 / Math.sqrt(fanIn);
  const w = g.param('weight', [out, fanIn], { kind: 'uniform', bound });
  const b = g.param('bias', [out], { kind: 'uniform', bound }, 'no_decay');
  return gemm(x, w, b, { transB: true });
}

/** nn.Conv2d(in, out, 1): `weight` (out, in, 1, 1) and `bias` (out); x is (B, in, h, w). */
export function conv1x1(x: Value, out: number): Value {
  const g = x.graph;
  const fanIn = x.shape[1]!;
  const bound = 1 / Math.sqrt(fanIn);
  const w = g.param('weight', [out, fanIn, 1, 1], { kind: 'uniform', bound });
  const b = g.param('bias', [out], { kind: 'uniform', bound }, 'no_decay');
  return conv(x, w, b);
}
