/** Shape rules shared by families of ops (elementwise, comparisons). */
import { type DType, isFloat } from './dtype.js';
import type { Value } from './ir.js';
import type { TypeInfo } from './op.js';
import { broadcastAll } from './shape.js';

type Fail = (message: string) => never;

/** Elementwise op over broadcast inputs of one dtype; `resultDType` for comparisons (bool). */
export function elementwise(inputs: readonly Value[], fail: Fail, resultDType?: DType): TypeInfo {
  const dtype = inputs[0]!.dtype;
  const other = inputs.find((v) => v.dtype !== dtype);
  if (other) fail(`inputs must share one dtype, got ${dtype} and ${other.dtype}`);
  return { dtype: resultDType ?? dtype, shape: broadcastAll(inputs.map((v) => v.shape), fail) };
}

/** Elementwise op defined only for floating-point inputs (exp, log, sqrt, ...). */
export function floatElementwise(inputs: readonly Value[], fail: Fail): TypeInfo {
  const info = elementwise(inputs, fail);
  if (!isFloat(info.dtype)) fail(`needs float32 or float64 inputs, got ${info.dtype}`);
  return info;
}
