/**
 * Memory infos: where ORT puts an output bound with BindOutputToDevice. Host outputs go to CPU
 * memory; resident outputs go to the provider's device memory ("Cuda" on cuda, "WebGPU_Buf" on
 * webgpu), or stay in CPU memory on the cpu provider, where a resident is an ORT host tensor.
 */
import type { ConcreteProvider } from '../providers.js';
import { type MemoryInfoHandle, ortApi } from './api.js';

/** ORT's memory-info names for each GPU provider's device memory. */
export const DEVICE_MEMORY_NAME = { cuda: 'Cuda', webgpu: 'WebGPU_Buf' } as const;

/** A session's two memory infos, released with the session. */
export class SessionMemory {
  readonly host: MemoryInfoHandle;
  /** Where resident outputs go: device memory, or host memory on the cpu provider. */
  readonly resident: MemoryInfoHandle;

  constructor(provider: ConcreteProvider, deviceId: number) {
    const api = ortApi();
    this.host = api.cpuMemoryInfo();
    this.resident = provider === 'cpu' ? this.host : api.deviceMemoryInfo(DEVICE_MEMORY_NAME[provider], deviceId);
  }

  release(): void {
    const api = ortApi();
    if (this.resident !== this.host) api.releaseMemoryInfo(this.resident);
    api.releaseMemoryInfo(this.host);
  }
}
