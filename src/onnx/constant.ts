/** Literal tensors in a graph: scalars typed like a partner value, int64 vectors for axes and shapes. */
import { type DType, fromNumbers } from './dtype.js';
import type { Graph, Value } from './ir.js';

/** A JS number where an op expects a tensor: it becomes a scalar constant of the partner's dtype. */
export type Operand = Value | number;

export function scalar(graph: Graph, value: number, dtype: DType = 'float32'): Value {
  return graph.constant(fromNumbers(dtype, [value]), [], dtype);
}

/** `a` as a value, turning a number into a scalar of `like`'s dtype. */
export function lift(a: Operand, like: Value): Value {
  return typeof a === 'number' ? scalar(like.graph, a, like.dtype) : a;
}

/** A 1-D int64 constant (axes, shapes, pads, slice bounds). */
export function ints(graph: Graph, values: readonly number[]): Value {
  return graph.constant(fromNumbers('int64', values), [values.length], 'int64');
}

/** A constant tensor of any shape from numbers. */
export function tensor(graph: Graph, values: ArrayLike<number>, shape: readonly number[], dtype: DType = 'float32'): Value {
  return graph.constant(fromNumbers(dtype, values), shape, dtype);
}
