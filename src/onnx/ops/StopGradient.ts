import type { Value } from '../ir.js';
import { defineOp } from '../op.js';

/**
 * Blocks gradients: written to ONNX as an Identity node, but its input is non-differentiable, so
 * the engine never propagates through it (BYOL targets, K-means centroids, softmax's max shift).
 */
export const StopGradient = defineOp<{}, { input: Value }>({
  type: 'Identity',
  name: 'StopGradient',
  inputs: { input: 'nondifferentiable' },
  attrs: {},
  infer: ({ input }) => ({ dtype: input.dtype, shape: input.shape }),
});

export function stopGradient(x: Value): Value {
  return StopGradient.call({ input: x }, {});
}
