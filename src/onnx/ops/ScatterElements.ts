import { formatShape } from '../dtype.js';
import type { Value } from '../ir.js';
import { type GradRule, defineOp } from '../op.js';
import { normalizeAxis, sameShape } from '../shape.js';

const VJP_ONLY: GradRule = { notImplemented: 'used only inside VJP rules' };

/** Writes (or with reduction 'add', accumulates) `updates` into a copy of `data` at `indices` along `axis`. */
export const ScatterElements = defineOp<{ axis: number; reduction: string }, { data: Value; indices: Value; updates: Value }>({
  type: 'ScatterElements',
  inputs: { data: VJP_ONLY, indices: 'nondifferentiable', updates: VJP_ONLY },
  attrs: { axis: 'int', reduction: 'string' },
  infer: ({ data, indices, updates }, { axis, reduction }, fail) => {
    if (reduction !== 'none' && reduction !== 'add') fail(`reduction '${reduction}' is not supported (none, add)`);
    if (indices.dtype !== 'int64' && indices.dtype !== 'int32') fail(`indices must be int64 or int32, got ${indices.dtype}`);
    if (updates.dtype !== data.dtype) fail(`updates must be ${data.dtype} like data, got ${updates.dtype}`);
    if (!sameShape(indices.shape, updates.shape)) fail(`indices ${formatShape(indices.shape)} and updates ${formatShape(updates.shape)} must have one shape`);
    const a = normalizeAxis(axis, data.rank) ?? fail(`axis ${axis} is out of range for rank ${data.rank}`);
    if (indices.rank !== data.rank || indices.shape.some((d, i) => i !== a && d > data.shape[i]!)) fail(`indices must have data's rank and fit inside it off axis ${a}`);
    return { dtype: data.dtype, shape: data.shape };
  },
});

export interface ScatterOptions {
  readonly axis?: number;
  readonly reduction?: 'none' | 'add';
}

export function scatterElements(data: Value, indices: Value, updates: Value, { axis = 0, reduction = 'none' }: ScatterOptions = {}): Value {
  return ScatterElements.call({ data, indices, updates }, { axis, reduction });
}
