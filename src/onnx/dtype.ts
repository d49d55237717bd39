/** Element types the builder knows, with their ONNX TensorProto codes and JS array types. */

export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'uint8' | 'bool';

export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

/** TensorProto.DataType codes (onnx.proto). */
export const ONNX_DTYPE: Readonly<Record<DType, number>> = {
  float32: 1,
  uint8: 2,
  int32: 6,
  int64: 7,
  bool: 9,
  float64: 11,
};

export function dtypeFromOnnx(code: number): DType {
  for (const [name, c] of Object.entries(ONNX_DTYPE)) if (c === code) return name as DType;
  throw new Error(`ONNX data type ${code} is not supported (supported: ${Object.keys(ONNX_DTYPE).join(', ')})`);
}

export const BYTES_PER_ELEMENT: Readonly<Record<DType, number>> = {
  float32: 4,
  float64: 8,
  int64: 8,
  int32: 4,
  uint8: 1,
  bool: 1,
};

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

export function allocate(dtype: DType, size: number): TensorData {
  switch (dtype) {
    case 'float32': return new Float32Array(size);
    case 'float64': return new Float64Array(size);
    case 'int64': return new BigInt64Array(size);
    case 'int32': return new Int32Array(size);
    case 'uint8':
    case 'bool': return new Uint8Array(size);
  }
}

/** Builds a typed array of `dtype` from plain numbers (int64 values are converted to BigInt). */
export function fromNumbers(dtype: DType, values: ArrayLike<number>): TensorData {
  if (dtype === 'int64') return BigInt64Array.from(Array.from(values, (v) => BigInt(Math.trunc(v))));
  const out = allocate(dtype, values.length) as Float32Array;
  for (let i = 0; i < values.length; i++) out[i] = values[i]!;
  return out;
}

/** Reads element i of any tensor as a JS number. */
export function elementAt(data: TensorData, i: number): number {
  return Number(data[i]!);
}

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
