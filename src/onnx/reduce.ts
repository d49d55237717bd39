/** The shape rule and builder plumbing shared by the Reduce* ops (opset 18: axes are an input). */
import { ints } from './constant.js';
import type { Value } from './ir.js';
import type { TypeInfo } from './op.js';
import { constInts, normalizeAxis } from './shape.js';

export interface ReduceAttrs {
  readonly keepdims: number;
  readonly noop_with_empty_axes: number;
}

/** Axes a Reduce node reduces over, resolved and sorted (no axes input means all of them). */
export function reducedAxes(data: Value, axes: Value | undefined, fail: (m: string) => never): number[] {
  if (!axes) return data.shape.map((_, i) => i);
  const resolved = constInts(axes, 'axes', fail).map((a) => normalizeAxis(a, data.rank) ?? fail(`axis ${a} is out of range for rank ${data.rank}`));
  if (new Set(resolved).size !== resolved.length) fail(`axes ${JSON.stringify(resolved)} repeat an axis`);
  return resolved.sort((a, b) => a - b);
}

export function reduceInfer(data: Value, axes: Value | undefined, attrs: ReduceAttrs, fail: (m: string) => never): TypeInfo {
  if (attrs.noop_with_empty_axes !== 0) fail('noop_with_empty_axes=1 is not supported');
  const reduced = reducedAxes(data, axes, fail);
  const shape = attrs.keepdims ? data.shape.map((d, i) => (reduced.includes(i) ? 1 : d)) : data.shape.filter((_, i) => !reduced.includes(i));
  return { dtype: data.dtype, shape };
}

/** Builder arguments for a Reduce node: all axes when `axes` is omitted. */
export function reduceArgs(data: Value, axes: readonly number[] | undefined, keepdims: boolean): [{ data: Value; axes: Value | undefined }, ReduceAttrs] {
  return [{ data, axes: axes === undefined ? undefined : ints(data.graph, axes) }, { keepdims: keepdims ? 1 : 0, noop_with_empty_axes: 0 }];
}

/** The shape of the output with keepdims=1, which a cotangent is reshaped to before broadcasting back. */
export function keptShape(data: Value, axes: Value | undefined): number[] {
  const reduced = reducedAxes(data, axes, (m) => {
    throw new Error(m);
  });
  return data.shape.map((d, i) => (reduced.includes(i) ? 1 : d));
}
