/**
 * OrtSessionOptions built from a session plan (session-options.ts). ORT copies the options into a
 * session at creation, so the handle is released right after; external-data buffers are not
 * copied and are returned for the session to free when it is released.
 */
import type { SessionPlan } from '../session-options.js';
import { type HostPointer, type SessionOptionsHandle, ortApi } from './api.js';

export interface BuiltOptions {
  readonly handle: SessionOptionsHandle;
  /** ORT-allocated copies of the external-data files, to free after the session is released. */
  readonly buffers: readonly HostPointer[];
}

export function buildSessionOptions(plan: SessionPlan, externalData: readonly { path: string; data: Uint8Array }[] = []): BuiltOptions {
  const api = ortApi();
  const handle = api.createSessionOptions();
  const buffers: HostPointer[] = [];
  try {
    api.setOptimizationLevel(handle, plan.optimization);
    if (plan.threads !== null) api.setIntraOpThreads(handle, plan.threads);
    for (const [key, value] of Object.entries(plan.config)) api.addSessionConfigEntry(handle, key, value);
    if (plan.provider?.name === 'CUDA') api.appendCuda(handle, plan.provider.settings);
    else if (plan.provider) api.appendProvider(handle, plan.provider.name, plan.provider.settings);
    if (externalData.length > 0) {
      const files = externalData.map((f) => {
        const data = api.alloc(f.data.byteLength);
        buffers.push(data);
        api.copyIn(data, f.data);
        return { name: f.path, data, bytes: f.data.byteLength };
      });
      api.addExternalDataInMemory(handle, files);
    }
    return { handle, buffers };
  } catch (e) {
    api.releaseSessionOptions(handle);
    for (const b of buffers) api.free(b);
    throw e;
  }
}
