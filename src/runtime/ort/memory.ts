/**
 * A session's memory infos and host allocator. Memory infos say where ORT puts an output bound
 * with BindOutputToDevice: host outputs go to CPU memory; resident outputs go to the provider's
 * device memory ("Cuda" on cuda, "WebGPU_Buf" on webgpu), or stay in CPU memory on the cpu
 * provider, where a resident is an ORT host tensor. Host inputs for one run are copied into
 * tensors from the session's CPU arena (see OrtApi.createSessionAllocator for why).
 */
import type { ConcreteProvider } from '../providers.js';
import { type AllocatorHandle, type MemoryInfoHandle, type SessionHandle, ortApi } from './api.js';

/** ORT's memory-info names for each GPU provider's device memory. */
export const DEVICE_MEMORY_NAME = { cuda: 'Cuda', webgpu: 'WebGPU_Buf' } as const;

/** A session's memory infos and host allocator, released before the session. */
export class SessionMemory {
  readonly host: MemoryInfoHandle;
  /** Where resident outputs go: device memory, or host memory on the cpu provider. */
  readonly resident: MemoryInfoHandle;
  /** The session's CPU allocator (an arena), for host tensors that live for one run. */
  readonly hostAllocator: AllocatorHandle;

  constructor(session: SessionHandle, provider: ConcreteProvider, deviceId: number) {
    const api = ortApi();
    this.host = api.cpuMemoryInfo();
    try {
      this.hostAllocator = api.createSessionAllocator(session, this.host);
    } catch (e) {
      api.releaseMemoryInfo(this.host);
      throw e;
    }
    this.resident = provider === 'cpu' ? this.host : api.deviceMemoryInfo(DEVICE_MEMORY_NAME[provider], deviceId);
  }

  release(): void {
    const api = ortApi();
    api.releaseAllocator(this.hostAllocator);
    if (this.resident !== this.host) api.releaseMemoryInfo(this.resident);
    api.releaseMemoryInfo(this.host);
  }
}
