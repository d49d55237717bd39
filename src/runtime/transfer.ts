/**
 * Copies between host memory and one GPU provider's device memory, by running small Identity
 * sessions on that provider: ORT copies a host input to the device when it is bound, and a device
 * output to the host when it is bound to CPU memory, so a copy is one run with the right bindings.
 * (ORT's CopyTensors needs the provider registered in the environment as a plugin library, which
 * the providers bundled with onnxruntime-node are not.)
 *
 * - download: device tensors in, outputs bound to CPU memory (a whole set in one run);
 * - upload: a host tensor in, the output bound to device memory (a new device tensor);
 * - write: a host tensor in, the output bound to an existing device tensor (its address is kept).
 *
 * The sessions are cached by the tensors' dtypes and shapes and released with the owning session.
 */
import { type DType, type TensorData } from '../onnx/dtype.js';
import { Graph } from '../onnx/ir.js';
import { writeModel } from '../onnx/serialize.js';
import { ResidencyError } from './errors.js';
import type { ValueHandle } from './ort/api.js';
import { Binding } from './ort/binding.js';
import { NativeSession } from './ort/session.js';
import { hostTensor, readHostTensor, releaseValue } from './ort/value.js';
import type { Cell, DeviceLink } from './residency.js';
import { type SessionOptions, sessionPlan } from './session-options.js';

type Shape = { readonly dtype: DType; readonly dims: readonly number[] };

export class Transfer implements DeviceLink {
  private readonly sessions = new Map<string, NativeSession>();
  private released = false;

  /** `options` are the owning session's: the copies run on the same provider and device, without CUDA-graph capture. */
  constructor(
    private readonly provider: 'cuda' | 'webgpu',
    private readonly deviceId: number,
    private readonly options: SessionOptions,
    private readonly owner: string,
  ) {}

  async download(cells: readonly Cell[]): Promise<TensorData[]> {
    const session = this.identity(cells);
    const binding = new Binding(session.handle);
    try {
      cells.forEach((c, i) => binding.input(`x${i}`, c.native(c.label)!));
      cells.forEach((_, i) => binding.outputTo(`y${i}`, session.memory.host));
      await binding.run({});
      const values = binding.outputs();
      try {
        return values.map((value, i) => readHostTensor(value, cells[i]!.dtype, cells[i]!.dims));
      } finally {
        values.forEach(releaseValue);
      }
    } finally {
      binding.release();
    }
  }

  /** A new device tensor holding a copy of `data`; the caller owns it. */
  async upload(shape: Shape, data: TensorData): Promise<ValueHandle> {
    const [value] = await this.copyFromHost(shape, data, (binding, session) => binding.outputTo('y0', session.memory.resident));
    return value!;
  }

  async write(cell: Cell, data: TensorData): Promise<void> {
    const target = cell.native(cell.label)!;
    // BindOutput hands back another reference to the same tensor; only the target's owner keeps one.
    for (const v of await this.copyFromHost(cell, data, (binding) => binding.outputInto('y0', target))) releaseValue(v);
  }

  release(): void {
    this.released = true;
    for (const s of this.sessions.values()) s.release();
    this.sessions.clear();
  }

  private async copyFromHost(shape: Shape, data: TensorData, bindOutput: (binding: Binding, session: NativeSession) => void): Promise<ValueHandle[]> {
    const session = this.identity([shape]);
    const binding = new Binding(session.handle);
    const input = hostTensor(shape.dtype, shape.dims, data, session.memory.hostAllocator);
    try {
      binding.input('x0', input);
      bindOutput(binding, session);
      await binding.run({});
      return binding.outputs();
    } finally {
      releaseValue(input);
      binding.release();
    }
  }

  /** The cached Identity session for tensors of these shapes (inputs x0…, outputs y0…). */
  private identity(shapes: readonly Shape[]): NativeSession {
    if (this.released) throw new ResidencyError(`${this.owner} was released; read, write or upload its device tensors before release()`);
    const key = shapes.map((s) => `${s.dtype}[${s.dims.join(',')}]`).join(' ');
    let session = this.sessions.get(key);
    if (!session) {
      const g = new Graph(`copy ${shapes.length} tensor(s)`);
      shapes.forEach((s, i) => g.output(`y${i}`, g.input(`x${i}`, s.dtype, s.dims)));
      const options: SessionOptions = { threads: 1, optimization: 'disabled', cuda: { ...this.options.cuda, cudaGraph: false } };
      session = NativeSession.create(writeModel(g).model, this.provider, this.deviceId, sessionPlan(this.provider, options));
      this.sessions.set(key, session);
    }
    return session;
  }
}
