import { ints } from '../constant.js';
import { GradError } from '../errors.js';
import type { Value } from '../ir.js';
import { defineOp } from '../op.js';
import { constInts, normalizeAxis } from '../shape.js';
import { pad } from './Pad.js';
import { reshape } from './Reshape.js';
import { unsqueeze } from './Unsqueeze.js';

type SliceInputs = { data: Value; starts: Value; ends: Value; axes: Value | undefined; steps: Value | undefined };

/** One sliced axis after ONNX's clamping: elements start, start+step, … (count of them). */
interface SlicedAxis {
  readonly axis: number;
  readonly start: number;
  readonly step: number;
  readonly count: number;
}

/**
 * Strided slice with static bounds (starts/ends/axes/steps are int64 constants); positive steps
 * only. The gradient puts the cotangent back with zeros around it: steps > 1 first spread it
 * (step−1 zeros after each element), then one Pad places it at the starts.
 */
export const Slice = defineOp<{}, SliceInputs>({
  type: 'Slice',
  inputs: { data: 'differentiable', starts: 'nondifferentiable', ends: 'nondifferentiable', axes: { grad: 'nondifferentiable', optional: true }, steps: { grad: 'nondifferentiable', optional: true } },
  attrs: {},
  infer: (x, _, fail) => {
    const shape = [...x.data.shape];
    for (const s of slicedAxes(x, fail)) shape[s.axis] = s.count;
    return { dtype: x.data.dtype, shape };
  },
  vjp: ({ g, x }) => {
    const { data } = x;
    const pads = new Array<number>(2 * data.rank).fill(0);
    let spread = g;
    for (const { axis, start, step } of slicedAxes(x, (m) => { throw new GradError(m); })) {
      if (step > 1) spread = dilate(spread, axis, step, data.shape[axis]! - start);
      pads[axis] = start;
      pads[axis + data.rank] = data.shape[axis]! - start - spread.shape[axis]!;
    }
    return { data: pad(spread, pads) };
  },
});

function slicedAxes({ data, starts, ends, axes, steps }: SliceInputs, fail: (m: string) => never): SlicedAxis[] {
  const [s, e] = [constInts(starts, 'starts', fail), constInts(ends, 'ends', fail)];
  const ax = axes ? constInts(axes, 'axes', fail) : s.map((_, i) => i);
  const st = steps ? constInts(steps, 'steps', fail) : s.map(() => 1);
  if (e.length !== s.length || ax.length !== s.length || st.length !== s.length) fail(`starts, ends, axes and steps must have one entry per sliced axis (${s.length})`);
  const resolved = ax.map((a) => normalizeAxis(a, data.rank) ?? fail(`axis ${a} is out of range for rank ${data.rank}`));
  if (new Set(resolved).size !== resolved.length) fail(`axes ${JSON.stringify(ax)} repeat an axis`);
  return resolved.map((axis, i) => {
    const [dim, step] = [data.shape[axis]!, st[i]!];
    if (step <= 0) fail(`step ${step} on axis ${axis}: only positive steps are supported`);
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
    const [start, end] = [clamp(s[i]!), clamp(e[i]!)];
    return { axis, start, step, count: Math.max(0, Math.ceil((end - start) / step)) };
  });
}

/** Spreads `x` along `axis` to stride `step` (step−1 zeros after each element), cut to `limit` elements. */
function dilate(x: Value, axis: number, step: number, limit: number): Value {
  const n = x.shape[axis]!;
  const gaps = new Array<number>(2 * (x.rank + 1)).fill(0);
  gaps[x.rank + 1 + axis + 1] = step - 1;
  const spread = reshape(pad(unsqueeze(x, [axis + 1]), gaps), x.shape.map((d, i) => (i === axis ? n * step : d)));
  return n * step > limit ? slice(spread, [0], [limit], [axis]) : spread;
}

/** `x[starts:ends:steps]` on `axes` (all leading axes when omitted); negative bounds count from the end. */
export function slice(x: Value, starts: readonly number[], ends: readonly number[], axes?: readonly number[], steps?: readonly number[]): Value {
  const g = x.graph;
  return Slice.call({ data: x, starts: ints(g, starts), ends: ints(g, ends), axes: axes && ints(g, axes), steps: steps && ints(g, steps) }, {});
}
