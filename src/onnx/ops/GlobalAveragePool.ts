import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { expand } from './Expand.js';
import { mul } from './Mul.js';

/** Mean over every spatial cell: (N, C, H, W) → (N, C, 1, 1). Its VJP spreads g/(H·W) back over the cells. */
export const GlobalAveragePool = defineOp<{}, { X: Value }>({
  type: 'GlobalAveragePool',
  inputs: { X: 'differentiable' },
  attrs: {},
  infer: ({ X }, _, fail) => {
    if (X.rank < 3) fail(`needs an (N, C, spatial…) input, got rank ${X.rank}`);
    if (X.dtype !== 'float32') fail('X must be float32 (ONNX Runtime has no float64 GlobalAveragePool kernel on the CPU)');
    return { dtype: X.dtype, shape: X.shape.map((d, i) => (i < 2 ? d : 1)) };
  },
  vjp: ({ g, x: { X } }) => {
    const cells = X.shape.slice(2).reduce((a, b) => a * b, 1);
    return { X: expand(mul(g, 1 / cells), X.shape) };
  },
});

/** The spatial mean of an (N, C, …) map, keeping singleton spatial axes: (N, C, 1, 1) for NCHW. */
export function globalAveragePool(x: Value): Value {
  return GlobalAveragePool.call({ X: x }, {});
}
