/**
 * OrtValues holding tensors, and copies between them and JS typed arrays. A host tensor is
 * allocated by ORT's CPU allocator and filled with memcpy; reading one copies it out. Only values
 * known to be in host memory are ever read or written here (a device pointer is never touched).
 */
import { type DType, ONNX_DTYPE, type TensorData, allocate, dtypeFromOnnx, shapeSize } from '../../onnx/dtype.js';
import { type AllocatorHandle, type ValueHandle, ortApi } from './api.js';

/**
 * A new ORT host tensor holding a copy of `data`, from `allocator` (a session's arena, for tensors
 * that live for one run) or ORT's default allocator (for tensors that may outlive any session).
 */
export function hostTensor(dtype: DType, dims: readonly number[], data: TensorData, allocator?: AllocatorHandle): ValueHandle {
  const api = ortApi();
  // ORT's element types are ONNX's TensorProto data types.
  const value = api.createHostTensor(ONNX_DTYPE[dtype], dims, allocator);
  try {
    api.copyIn(api.hostData(value), data);
    return value;
  } catch (e) {
    api.releaseValue(value);
    throw e;
  }
}

/** Overwrites an ORT host tensor with `data` (same element count, checked by the caller). */
export function writeHostTensor(value: ValueHandle, data: TensorData): void {
  const api = ortApi();
  api.copyIn(api.hostData(value), data);
}

/** A JS copy of an ORT host tensor. */
export function readHostTensor(value: ValueHandle, dtype: DType, dims: readonly number[]): TensorData {
  const api = ortApi();
  const out = allocate(dtype, shapeSize(dims));
  api.copyOut(out, api.hostData(value));
  return out;
}

/** Element type and shape of a tensor value. */
export function describeTensor(value: ValueHandle): { dtype: DType; dims: number[] } {
  const { elementType, dims } = ortApi().tensorType(value);
  return { dtype: dtypeFromOnnx(elementType), dims };
}

export function releaseValue(value: ValueHandle): void {
  ortApi().releaseValue(value);
}
