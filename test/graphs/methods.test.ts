/**
 * Every method variant on the tiny preset: loss and gradients of the bundle's grad graph against an
 * independent PyTorch implementation (tools/torch_multisiam.py, float64) on the same parameters and
 * inputs. The PyTorch side gets the crop boxes and computes ΔC and the RoI boxes itself, so the
 * TypeScript alignment inputs are checked too.
 *
 * Error measure per gradient tensor: max|ours − torch| / max(max|torch|, 1e-2·s), where s is the
 * largest |gradient| of any parameter; the floor keeps gradients that are zero in theory (biases
 * before a BN) from turning float32 noise into a large ratio. Loss terms: |ours − torch| / |torch|.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type MultiSiamConfig, featureMapSize } from '../../src/config/index.js';
import { resolveConfig } from '../../src/methods/index.js';
import { PairLoader } from '../../src/data/loader.js';
import { parseDataArg } from '../../src/data/sources.js';
import { Rng } from '../../src/data/rng.js';
import { type TensorData, shapeSize } from '../../src/onnx/dtype.js';
import { writeModel } from '../../src/onnx/serialize.js';
import { Session } from '../../src/runtime/session.js';
import { type TensorMap, f32, readSafetensors, writeSafetensors } from '../../src/bundle/safetensors.js';
import { buildBundleGraphs } from '../../src/bundle/graphs.js';
import { batchFeeds, pairOptionsFor } from '../../src/train/data.js';
import { runTool, torchUnavailable } from './torch.js';

const VARIANTS: readonly { name: string; sets: string[] }[] = [
  { name: 'offset alignment, K-means targets', sets: [] },
  { name: 'RoI alignment', sets: ['alignment=roi'] },
  { name: 'offset alignment, softmax attention with residual', sets: ['attention.sim=softmax', 'attention.residual=true'] },
  { name: 'w/o K-means (feature targets)', sets: ['dense_target=features'] },
  { name: 'MoCo-based, RoI', sets: ['framework=moco', 'alignment=roi', 'moco.queue_size=64'] },
  { name: 'BYOL baseline', sets: ['method=byol'] },
];

const skip = torchUnavailable();

function randn(rng: Rng, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => scale * rng.normal());
}

function unitRows(rng: Rng, rows: number, dim: number): Float32Array {
  const out = randn(rng, rows * dim);
  for (let r = 0; r < rows; r++) {
    const row = out.subarray(r * dim, (r + 1) * dim);
    const norm = Math.hypot(...row);
    row.forEach((v, i) => (row[i] = v / norm));
  }
  return out;
}

/** Parameters from their init schemes, BN affine and statistics perturbed so they matter. */
function parameters(graph: ReturnType<typeof buildBundleGraphs>['grad'], rng: Rng): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const i of graph.inputs) {
    if (i.role !== 'param' && i.role !== 'buffer') continue;
    const n = i.value.size;
    const name = i.value.name;
    const init = i.init!;
    let data: Float32Array;
    if (name.endsWith('running_var')) data = Float32Array.from({ length: n }, () => rng.uniform(0.5, 1.5));
    else if (name.endsWith('running_mean')) data = randn(rng, n, 0.1);
    else if (init.kind === 'constant') data = Float32Array.from({ length: n }, () => init.value + rng.uniform(-0.3, 0.3));
    else if (init.kind === 'normal') data = randn(rng, n, init.std);
    else if (init.kind === 'uniform') data = Float32Array.from({ length: n }, () => rng.uniform(-init.bound, init.bound));
    else throw new Error(`no test values for '${name}' (init ${init.kind})`);
    out.set(name, data);
  }
  return out;
}

/**
 * One batch from the real pipeline (synthetic scenes, BYOL augmentations, IoU-gated pairs) plus
 * random targets and queues; the boxes go to PyTorch, their alignment inputs to our graph.
 */
async function dataInputs(cfg: MultiSiamConfig, rng: Rng): Promise<{ ours: Map<string, TensorData>; boxes: Map<string, Float32Array> }> {
  const loader = new PairLoader({ data: await parseDataArg('synthetic:64'), pair: pairOptionsFor(cfg), batchSize: cfg.train.batch_size, seed: 3, workers: 0, prefetch: 1 });
  const { batch } = await loader.next();
  await loader.close();
  const ours = new Map(Object.entries(batchFeeds(batch)));
  // Random pixels instead of the scenes' views: flat colour regions quantised to uint8 make max-pool
  // windows tie exactly, and which element a tie picks is then decided by rounding, so even
  // PyTorch's own float32 run drifts 2e-3 from float64 there. The boxes (and so the alignment
  // inputs) stay the pipeline's.
  for (const v of ['view1', 'view2']) ours.set(v, Uint8Array.from({ length: ours.get(v)!.length }, () => Math.floor(rng.uniform(0, 256))));
  const b = cfg.train.batch_size;
  const { h, w } = featureMapSize(cfg);
  const s = cfg.data.roi_size;
  const d = cfg.heads.proj_dim;
  const dd = cfg.heads.dense_proj_dim;
  const grid = cfg.alignment === 'roi' ? s * s : h * w;
  for (const v of [1, 2]) {
    ours.set(`target_z${v}`, randn(rng, b * d));
    // Dense targets laid out (B, D, cells): unit vectors per cell, as K-means centroids are.
    const rows = unitRows(rng, b * grid, dd);
    const t = new Float32Array(b * dd * grid);
    for (let i = 0; i < b; i++) for (let c = 0; c < grid; c++) for (let k = 0; k < dd; k++) t[(i * dd + k) * grid + c] = rows[(i * grid + c) * dd + k]!;
    ours.set(`target_dense${v}`, t);
  }
  ours.set('queue_global', unitRows(rng, cfg.moco.queue_size, d));
  ours.set('queue_dense', unitRows(rng, cfg.moco.queue_size, dd));
  return { ours, boxes: new Map([['boxes1', batch.boxes1], ['boxes2', batch.boxes2]]) };
}


/** Shapes of the data tensors sent to PyTorch. */
function dataShape(cfg: MultiSiamConfig, name: string): number[] {
  const b = cfg.train.batch_size;
  const s = cfg.data.image_size;
  const grid = cfg.alignment === 'roi' ? [cfg.data.roi_size, cfg.data.roi_size] : [featureMapSize(cfg).h, featureMapSize(cfg).w];
  if (name.startsWith('view')) return [b, 3, s, s];
  if (name.startsWith('boxes')) return [b, 4];
  if (name.startsWith('target_z')) return [b, cfg.heads.proj_dim];
  if (name.startsWith('target_dense')) return [b, cfg.heads.dense_proj_dim, ...grid];
  if (name === 'queue_global') return [cfg.moco.queue_size, cfg.heads.proj_dim];
  if (name === 'queue_dense') return [cfg.moco.queue_size, cfg.heads.dense_proj_dim];
  return [b];
}

interface TensorError {
  readonly name: string;
  /** ‖ours − float64 reference‖ / ‖reference‖ (absolute, scaled, for gradients that are zero in theory). */
  readonly ours: number;
  /** The same measure for PyTorch's own float32 run: the float32 noise floor of this tensor. */
  readonly torch32: number;
}

/**
 * Loss terms: max relative error. Gradients: the L2 relative error of each tensor and over all of
 * them together, against PyTorch in float64. A tensor whose reference norm is below 1e-4 of the
 * largest (a bias right before a BN, zero in theory) is measured against 1e-4 of the largest norm.
 */
function compareWithTorch(ours: Map<string, Float32Array>, reference: TensorMap, torch32: TensorMap) {
  const loss = Math.max(...[...ours.keys()].filter((k) => k.startsWith('loss')).map((k) => {
    const ref = Number(reference.get(k)!.data[0]);
    return Math.abs(ours.get(k)![0]! - ref) / Math.max(Math.abs(ref), 1e-6);
  }));
  const names = [...ours.keys()].filter((k) => k.startsWith('grad.'));
  const norm = (a: ArrayLike<number>, b?: ArrayLike<number>): number => {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += (a[i]! - (b ? b[i]! : 0)) ** 2;
    return Math.sqrt(s);
  };
  const refOf = (k: string) => reference.get(k)!.data as Float32Array;
  const largest = Math.max(...names.map((k) => norm(refOf(k))));
  let diff2 = 0;
  let ref2 = 0;
  let diff32 = 0;
  const tensors: TensorError[] = names.map((k) => {
    const ref = refOf(k);
    const scale = Math.max(norm(ref), 1e-4 * largest);
    diff2 += norm(ours.get(k)!, ref) ** 2;
    diff32 += norm(torch32.get(k)!.data as Float32Array, ref) ** 2;
    ref2 += norm(ref) ** 2;
    return { name: k, ours: norm(ours.get(k)!, ref) / scale, torch32: norm(torch32.get(k)!.data as Float32Array, ref) / scale };
  });
  const worst = tensors.reduce((a, b) => (b.ours > a.ours ? b : a));
  return { loss, count: names.length, global: Math.sqrt(diff2 / ref2), global32: Math.sqrt(diff32 / ref2), tensors, worst };
}

for (const variant of VARIANTS) {
  const title = `grad graph matches PyTorch: ${variant.name}`;
  if (skip) {
    test.skip(`${title} (${skip})`, () => undefined);
    continue;
  }
  test(title, async () => {
    const cfg = resolveConfig({ preset: 'tiny', sets: variant.sets, onWarning: () => undefined });
    const rng = Rng.fromSeed(7);
    const graphs = buildBundleGraphs(cfg);
    const written = writeModel(graphs.grad);
    const params = parameters(graphs.grad, rng);
    const { ours, boxes } = await dataInputs(cfg, rng);
    const feeds: Record<string, TensorData> = {};
    for (const input of written.inputs) {
      const data = params.get(input.name) ?? ours.get(input.name);
      assert.ok(data, `no test data for grad.onnx input '${input.name}'`);
      assert.is(data!.length, shapeSize(input.shape), `size of '${input.name}'`);
      feeds[input.name] = data!;
    }
    const session = await Session.create(written.model, {}, 'grad.onnx');
    const result = await session.run(feeds);
    await session.release();

    const dir = mkdtempSync(join(tmpdir(), 'multisiam-torch-'));
    try {
      // PyTorch gets every parameter and buffer (BN statistics too, which our graph prunes since
      // training-mode BN does not read them), every data tensor, and the crop boxes instead of ΔC
      // and RoI positions, which it computes itself.
      const tensors: TensorMap = new Map();
      for (const i of graphs.grad.inputs) {
        const data = params.get(i.value.name);
        if (data) tensors.set(i.value.name, f32(data, [...i.value.shape]));
      }
      // The uint8 views go as their 0..255 values; the reference normalises them as the graphs do.
      for (const [name, data] of [...ours, ...boxes]) {
        if (!['offset12', 'roi_pos1', 'roi_pos2', 'box1', 'box2'].includes(name)) tensors.set(name, f32(Float32Array.from(data as ArrayLike<number>), dataShape(cfg, name)));
      }
      writeSafetensors(join(dir, 'in.safetensors'), tensors);
      writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
      const run = (precision: string[]): TensorMap => {
        const out = join(dir, `out${precision.join('')}.safetensors`);
        runTool('torch_multisiam.py', [join(dir, 'in.safetensors'), join(dir, 'config.json'), out, ...precision]);
        return readSafetensors(out).tensors;
      };
      const reference = run([]);
      const torch32 = run(['--float32']);
      const ourTensors = new Map(Object.entries(result).map(([k, t]) => [k, t.data as Float32Array]));
      const report = compareWithTorch(ourTensors, reference, torch32);
      console.log(`    ${variant.name}: loss rel err ${report.loss.toExponential(1)}, gradients: ${report.count} tensors, L2 rel err over all ${report.global.toExponential(2)} (PyTorch float32: ${report.global32.toExponential(2)}), worst tensor ${report.worst.name} ${report.worst.ours.toExponential(2)} (PyTorch float32: ${report.worst.torch32.toExponential(2)})`);
      assert.ok(report.loss <= 1e-3, `loss terms differ from PyTorch by ${report.loss} (relative)`);
      assert.ok(report.global <= 1e-3, `gradients differ from PyTorch by ${report.global} (L2 relative over all parameters)`);
      for (const t of report.tensors) {
        // Where PyTorch's own float32 run is off by more than the tolerance (ill-conditioned
        // batch-norm backward in the dense heads), we must be within 10× of its error.
        const bound = Math.max(1e-3, 10 * t.torch32);
        assert.ok(t.ours <= bound, `gradient ${t.name}: relative error ${t.ours.toExponential(2)} > ${bound.toExponential(2)} (PyTorch float32 vs float64: ${t.torch32.toExponential(2)})`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
