/**
 * An OrtSession with its declared inputs and outputs, the memory infos its runs bind outputs to,
 * and the external-data buffers it was created from; `release()` frees all of them.
 */
import { type DType, dtypeFromOnnx } from '../../onnx/dtype.js';
import type { ConcreteProvider } from '../providers.js';
import type { SessionPlan } from '../session-options.js';
import { type HostPointer, type SessionHandle, ortApi } from './api.js';
import { ortEnv } from './env.js';
import { SessionMemory } from './memory.js';
import { buildSessionOptions } from './options.js';

export interface TensorSpec {
  readonly name: string;
  readonly dtype: DType;
  /** Symbolic dimensions are -1. */
  readonly shape: readonly number[];
}

export class NativeSession {
  private released = false;

  private constructor(
    readonly handle: SessionHandle,
    readonly memory: SessionMemory,
    readonly inputs: readonly TensorSpec[],
    readonly outputs: readonly TensorSpec[],
    private readonly buffers: readonly HostPointer[],
  ) {}

  /** Creates a session; ORT's errors (a provider that cannot load, a bad model) are thrown as they come. */
  static create(model: string | Uint8Array, provider: ConcreteProvider, deviceId: number, plan: SessionPlan, externalData?: readonly { path: string; data: Uint8Array }[]): NativeSession {
    const api = ortApi();
    // The environment first: appending a provider (WebGPU) logs through its default logger.
    const env = ortEnv();
    const options = buildSessionOptions(plan, externalData);
    let handle: SessionHandle;
    try {
      handle = api.createSession(env, model, options.handle);
    } catch (e) {
      for (const b of options.buffers) api.free(b);
      throw e;
    } finally {
      api.releaseSessionOptions(options.handle);
    }
    let memory: SessionMemory | null = null;
    try {
      const inputs = specs(handle, 'input');
      const outputs = specs(handle, 'output');
      memory = new SessionMemory(handle, provider, deviceId);
      return new NativeSession(handle, memory, inputs, outputs, options.buffers);
    } catch (e) {
      memory?.release();
      api.releaseSession(handle);
      for (const b of options.buffers) api.free(b);
      throw e;
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    const api = ortApi();
    this.memory.release();
    api.releaseSession(this.handle);
    for (const b of this.buffers) api.free(b);
  }
}

function specs(session: SessionHandle, kind: 'input' | 'output'): TensorSpec[] {
  const api = ortApi();
  const out: TensorSpec[] = [];
  for (let i = 0; i < api.ioCount(session, kind); i++) {
    const name = api.ioName(session, kind, i);
    const type = api.ioType(session, kind, i);
    if (!type) throw new Error(`${kind} '${name}' is not a tensor, which multisiam does not support`);
    try {
      out.push({ name, dtype: dtypeFromOnnx(type.elementType), shape: type.dims });
    } catch (e) {
      throw new Error(`${kind} '${name}': ${(e as Error).message}`);
    }
  }
  return out;
}
