import { ints, scalar } from '../constant.js';
import { GradError } from '../errors.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { constInts, normalizeAxis } from '../shape.js';
import { slice } from './Slice.js';

type PadMode = 'constant' | 'reflect' | 'edge';
type PadInputs = { data: Value; pads: Value; constant_value: Value | undefined; axes: Value | undefined };

/**
 * Opset-18 Pad: `pads` = [begins…, ends…] over `axes` (all axes when omitted), non-negative. The
 * gradient of constant padding is the cotangent's interior, a Slice. Reflect and edge padding
 * (image borders, outside the differentiated graphs) have no rule: their VJP throws.
 */
export const Pad = defineOp<{ mode: string }, PadInputs>({
  type: 'Pad',
  inputs: {
    data: 'differentiable',
    pads: 'nondifferentiable',
    constant_value: { grad: { notImplemented: 'the pad value is a constant in every use (zero padding)' }, optional: true },
    axes: { grad: 'nondifferentiable', optional: true },
  },
  attrs: { mode: 'string' },
  infer: (x, { mode }, fail) => {
    if (!['constant', 'reflect', 'edge'].includes(mode)) fail(`mode '${mode}' is not one of constant, reflect, edge`);
    if (x.constant_value && (x.constant_value.rank !== 0 || x.constant_value.dtype !== x.data.dtype)) fail(`constant_value must be a ${x.data.dtype} scalar`);
    const [begin, end] = padsPerAxis(x, fail);
    return { dtype: x.data.dtype, shape: x.data.shape.map((d, i) => d + begin[i]! + end[i]!) };
  },
  vjp: ({ g, x, attrs: { mode } }) => {
    if (mode !== 'constant') throw new GradError(`Pad: the gradient of mode '${mode}' is not implemented (only constant padding is differentiated)`);
    const [begin] = padsPerAxis(x, (m) => { throw new GradError(m); });
    return { data: slice(g, begin, begin.map((b, i) => b + x.data.shape[i]!)) };
  },
});

/** Begin and end padding for every axis of the data (zero on axes `axes` leaves out). */
function padsPerAxis({ data, pads, axes }: PadInputs, fail: (m: string) => never): [number[], number[]] {
  const p = constInts(pads, 'pads', fail);
  const ax = axes ? constInts(axes, 'axes', fail).map((a) => normalizeAxis(a, data.rank) ?? fail(`axis ${a} is out of range for rank ${data.rank}`)) : data.shape.map((_, i) => i);
  if (p.length !== 2 * ax.length) fail(`pads has ${p.length} entries; ${ax.length} padded axes need ${2 * ax.length}`);
  if (p.some((v) => v < 0)) fail(`pads ${JSON.stringify(p)} are negative; crop with slice instead`);
  const [begin, end] = [data.shape.map(() => 0), data.shape.map(() => 0)];
  ax.forEach((a, i) => ((begin[a] = p[i]!), (end[a] = p[i + ax.length]!)));
  return [begin, end];
}

export interface PadOptions {
  readonly mode?: PadMode;
  /** Fill value for constant mode. */
  readonly value?: number;
}

/** Pads every axis of `x` by `pads` = [begin_0, …, begin_{r−1}, end_0, …, end_{r−1}]. */
export function pad(x: Value, pads: readonly number[], { mode = 'constant', value = 0 }: PadOptions = {}): Value {
  const fill = value === 0 ? undefined : scalar(x.graph, value, x.dtype);
  return Pad.call({ data: x, pads: ints(x.graph, pads), constant_value: fill, axes: undefined }, { mode });
}
