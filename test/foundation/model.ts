/**
 * The small networks of the foundation proofs, built from the project's ops and composites, and a
 * deterministic parameter initialiser for tests.
 */
import { batchNorm } from '../../src/onnx/composite/batchNorm.js';
import { shapeSize } from '../../src/onnx/dtype.js';
import type { Graph, Value } from '../../src/onnx/ir.js';
import { conv, gemm, globalAveragePool, maxPool, relu, reshape } from '../../src/onnx/ops/index.js';
import { uniformStream } from '../../src/data/rng.js';


export function normal(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** torch.nn.Linear: y = x·Wᵀ + b, W (out, in), both U(±1/√in). */
export function linear(g: Graph, x: Value, name: string, out: number): Value {
  const fanIn = x.shape[1]!;
  const bound = 1 / Math.sqrt(fanIn);
  return g.scope(name, () => {
    const w = g.param('weight', [out, fanIn], { kind: 'uniform', bound });
    const b = g.param('bias', [out], { kind: 'uniform', bound }, 'no_decay');
    return gemm(x, w, b, { transB: true });
  });
}

/**
 * conv1 (3→8, 3×3, pad 1, no bias) → bn1 → relu → maxpool (3, s2, p1) → conv2 (8→16, 3×3, s2, p1,
 * bias) → relu → global average pool → fc1 (16→32) → bn2 (1d) → relu → fc2 (32→8) [→ pred (8→8)], in the
 * current scope. tools/torch_foundation.py builds the same network with torch.nn.
 */
export function smallByolNet(g: Graph, x: Value, predictor: boolean): Value {
  const b = x.shape[0]!;
  let h = g.scope('conv1', () => conv(x, g.param('weight', [8, 3, 3, 3], { kind: 'normal', std: Math.sqrt(2 / (8 * 9)) }), undefined, { pads: 1 }));
  h = maxPool(relu(g.scope('bn1', () => batchNorm(h, { training: true }))), { kernel: 3, strides: 2, pads: 1 });
  h = g.scope('conv2', () => {
    const bound = 1 / Math.sqrt(8 * 9);
    const w = g.param('weight', [16, 8, 3, 3], { kind: 'uniform', bound });
    const bias = g.param('bias', [16], { kind: 'uniform', bound }, 'no_decay');
    return conv(h, w, bias, { strides: 2, pads: 1 });
  });
  h = reshape(globalAveragePool(relu(h)), [b, 16]);
  const fc1 = linear(g, h, 'fc1', 32);
  h = relu(g.scope('bn2', () => batchNorm(fc1, { training: true })));
  const z = linear(g, h, 'fc2', 8);
  return predictor ? linear(g, z, 'pred', 8) : z;
}

/**
 * Values for every parameter and buffer input, drawn from their declared init; with `jitter`,
 * constant inits (BN affine and statistics) get random values around the constant, so that the
 * cross-check exercises non-trivial BN parameters.
 */
export function initInputs(g: Graph, seed: number, jitter = false): Map<string, Float32Array> {
  const r = uniformStream(seed);
  const out = new Map<string, Float32Array>();
  for (const input of g.inputs) {
    if ((input.role !== 'param' && input.role !== 'buffer') || !input.init) continue;
    const n = shapeSize(input.value.shape);
    const init = input.init;
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      data[i] =
        init.kind === 'normal' ? init.std * normal(r)
        : init.kind === 'uniform' ? init.bound * (2 * r() - 1)
        : init.kind !== 'constant' ? 0
        : jitter ? (init.value === 0 ? 0.2 * normal(r) : init.value * (0.6 + 0.8 * r()))
        : init.value;
    }
    out.set(input.value.name, data);
  }
  return out;
}

/** Max |a − b| / max |b| over a tensor. */
export function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Infinity;
  let worst = 0;
  let scale = 1e-30;
  for (let i = 0; i < want.length; i++) {
    worst = Math.max(worst, Math.abs(Number(got[i]) - Number(want[i])));
    scale = Math.max(scale, Math.abs(Number(want[i])));
  }
  return worst / scale;
}
