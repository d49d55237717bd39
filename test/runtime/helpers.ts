/** Small models and fake GPU tensors shared by the runtime tests. */
import ort from 'onnxruntime-node';
import { Graph } from '../../src/onnx/ir.js';
import { add, mul, reduceSum } from '../../src/onnx/ops/index.js';
import { writeModel } from '../../src/onnx/serialize.js';

/** `next.w = w + lr·x`, `loss = Σ w`, plus an int64 passthrough: inputs w[2,3], x[2,3], lr[], n[1]. */
export function stepModel(): Uint8Array {
  const g = new Graph('step');
  const w = g.param('w', [2, 3], { kind: 'constant', value: 0 });
  const x = g.input('x', 'float32', [2, 3]);
  const lr = g.input('lr', 'float32', [], 'hyper');
  const n = g.input('n', 'int64', [1]);
  g.output('next.w', add(w, mul(x, lr)));
  g.output('loss', reduceSum(w));
  g.output('count', n);
  return writeModel(g).model;
}

export interface FakeGpu {
  readonly tensor: ort.Tensor;
  readonly calls: { dispose: number; download: number };
}

/**
 * A tensor that claims to live in a WebGPU buffer, as onnxruntime-node returns for gpu-buffer
 * outputs: its download callback records the call and throws (the real one aborts the process).
 */
export function fakeGpuTensor(dims: readonly number[]): FakeGpu {
  const calls = { dispose: 0, download: 0 };
  const tensor = ort.Tensor.fromGpuBuffer({ size: 4 } as unknown as ort.Tensor.GpuBufferType, {
    dataType: 'float32',
    dims: [...dims],
    dispose: () => {
      calls.dispose++;
    },
    download: async () => {
      calls.download++;
      throw new Error('getData() on a gpu-buffer tensor would abort the process');
    },
  });
  return { tensor, calls };
}
