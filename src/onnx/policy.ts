/**
 * Device policies: the gradient formulations a graph is built with, chosen for the device it will
 * run on and recorded in the bundle manifest. The autodiff engine hands the policy to every rule;
 * a rule with device-specific forms asks it instead of deciding itself (today Conv: see
 * convGrad.ts for the forms and the measurements behind each choice).
 */
import { type ConvGradMethods, type Geometry, cpuConvMethods, gpuConvMethods } from './convGrad.js';
import type { Value } from './ir.js';

export type DevicePolicyName = 'cpu' | 'gpu';

export interface DevicePolicy {
  readonly name: DevicePolicyName;
  /** Conv's dX and dW formulations for a layer with input `X` and this geometry. */
  conv(X: Value, geometry: Geometry): ConvGradMethods;
}

/** im2col forms where ONNX Runtime's CPU kernels (MLAS) run them fastest. */
export const CPU_POLICY: DevicePolicy = { name: 'cpu', conv: cpuConvMethods };

/** ConvTranspose and transposed-Conv forms, which cuDNN and WebGPU run natively. */
export const GPU_POLICY: DevicePolicy = { name: 'gpu', conv: gpuConvMethods };

export const DEVICE_POLICIES: Readonly<Record<DevicePolicyName, DevicePolicy>> = { cpu: CPU_POLICY, gpu: GPU_POLICY };
