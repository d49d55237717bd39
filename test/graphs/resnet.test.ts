/**
 * graphs/resnet.ts against PyTorch (tools/torch_resnet.py, run with /usr/bin/python3): the same
 * weights and input go to both through a safetensors file; torchvision's own resnet18/resnet50 is the
 * reference where it has the configuration, a hand-written torchvision-layout module otherwise
 * (width-scaled, dilated BasicBlock). Compared: the layer4 map F, the pooled vector, the logits
 * (fc, width-1 ResNet-18) and, in training mode, every BN's updated running statistics.
 *
 * Weights: torchvision's init schemes (what our Init records say), with BN affine parameters and
 * running statistics then drawn at random so that eval-mode BN is not an identity.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ResNetOptions, resnet, resnetChannels } from '../../src/graphs/resnet.js';
import { Graph, type GraphInput } from '../../src/onnx/ir.js';
import { writeModel } from '../../src/onnx/serialize.js';
import { Session } from '../../src/runtime/session.js';
import { type TensorMap, f32, readSafetensors, writeSafetensors } from '../../src/bundle/safetensors.js';
import { uniformStream } from '../../src/data/rng.js';

const PYTHON = '/usr/bin/python3';
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SCRIPT = join(ROOT, 'tools', 'torch_resnet.py');
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' }).status === 0;


function normal(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** A value for one parameter or buffer: its Init scheme, BN tensors randomised (see the file comment). */
function initialise(input: GraphInput, r: () => number): Float32Array {
  const v = input.value;
  const name = v.name;
  const out = new Float32Array(v.size);
  const init = input.init!;
  for (let i = 0; i < out.length; i++) {
    if (name.endsWith('running_mean')) out[i] = 0.1 * normal(r);
    else if (name.endsWith('running_var')) out[i] = 0.5 + r();
    else if (input.group === 'no_decay' && !name.startsWith('fc.') && name.endsWith('weight')) out[i] = 0.75 + 0.5 * r();
    else if (input.group === 'no_decay' && !name.startsWith('fc.') && name.endsWith('bias')) out[i] = 0.1 * normal(r);
    else if (init.kind === 'normal') out[i] = init.std * normal(r);
    else if (init.kind === 'uniform') out[i] = init.bound * (2 * r() - 1);
    else if (init.kind === 'constant') out[i] = init.value;
  }
  return out;
}

/** One compared output: ours against PyTorch float32 and float64, and PyTorch float32 against float64. */
interface Row {
  readonly name: string;
  /** max |ours − torch f32| */
  readonly d32: number;
  /** max |ours − torch f64| */
  readonly d64: number;
  /** max |torch f32 − torch f64|: how far float32 itself is from exact here. */
  readonly base: number;
  /** max |torch f64|. */
  readonly scale: number;
}

interface Comparison {
  readonly rows: readonly Row[];
  readonly reference: string;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

async function compare(options: ResNetOptions, batch: number, size: number, seed: number): Promise<Comparison> {
  const g = new Graph(`resnet${options.depth} test`);
  const x = g.input('input', 'float32', [batch, 3, size, size]);
  const out = resnet(x, { ...options, pooled: true });
  g.output('features', out.features);
  g.output('pooled', out.pooled!);
  if (out.logits) g.output('logits', out.logits);
  if (options.training) g.outputBufferUpdates();
  const session = await Session.create(writeModel(g).model, {}, g.name);

  const r = uniformStream(seed);
  const feeds: Record<string, Float32Array> = { input: Float32Array.from({ length: x.size }, () => normal(r)) };
  for (const input of g.inputs) if (input.role === 'param' || input.role === 'buffer') feeds[input.value.name] = initialise(input, r);
  const ours = await session.run(feeds);
  await session.release();

  const dir = mkdtempSync(join(tmpdir(), 'resnet-torch-'));
  try {
    const tensors: TensorMap = new Map();
    for (const input of g.inputs) tensors.set(input.value.name, f32(feeds[input.value.name]!, [...input.value.shape]));
    const metadata = { depth: String(options.depth), width: String(options.width ?? 1), output_stride: String(options.outputStride ?? 32), mode: options.training ? 'train' : 'eval', classes: String(options.classes ?? 0) };
    writeSafetensors(join(dir, 'in.safetensors'), tensors, metadata);
    const run = spawnSync(PYTHON, [SCRIPT, join(dir, 'in.safetensors'), join(dir, 'out.safetensors')], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`torch_resnet.py failed (${run.status}):\n${run.stderr}`);
    const reference = readSafetensors(join(dir, 'out.safetensors')).tensors;
    const names = g.outputs.map((o) => o.name);
    const rows = names.map((name): Row => {
      const [t32, t64] = [reference.get(name), reference.get(`f64.${name}`)];
      assert.ok(t32 && t64, `PyTorch produced no '${name}'`);
      const got = ours[name]!;
      assert.equal([...got.dims], t32!.shape, `shape of '${name}'`);
      const [a, b, c] = [got.data as Float32Array, t32!.data as Float32Array, t64!.data as Float32Array];
      return { name, d32: maxAbsDiff(a, b), d64: maxAbsDiff(a, c), base: maxAbsDiff(b, c), scale: maxAbsDiff(c, new Float32Array(c.length)) };
    });
    const bnStates = names.filter((n) => n.startsWith('next.')).length;
    if (options.training) assert.ok(bnStates > 0 && bnStates === [...reference.keys()].filter((k) => k.startsWith('next.')).length, 'every BN running statistic is compared');
    return { rows, reference: run.stdout.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Prints the comparison and returns the row with the largest difference from PyTorch float32. */
function report(label: string, c: Comparison): Row {
  const main = c.rows.filter((r) => !r.name.startsWith('next.'));
  const stats = c.rows.filter((r) => r.name.startsWith('next.'));
  const worstStat = stats.reduce<Row | null>((w, r) => (!w || r.d32 > w.d32 ? r : w), null);
  console.log(`    ${label} — ${c.reference}`);
  for (const r of main) console.log(`      ${r.name.padEnd(9)} |ours−torch32| ${r.d32.toExponential(2)}  |ours−torch64| ${r.d64.toExponential(2)}  |torch32−torch64| ${r.base.toExponential(2)}  max|v| ${r.scale.toFixed(2)}`);
  if (worstStat) console.log(`      running statistics (${stats.length}): worst '${worstStat.name}' |ours−torch32| ${worstStat.d32.toExponential(2)}  |ours−torch64| ${worstStat.d64.toExponential(2)}`);
  return c.rows.reduce((w, r) => (r.d32 > w.d32 ? r : w));
}

/** Ours must be as close to exact (float64) as PyTorch's own float32 run, within a factor, or within TOL. */
function assertAsExactAsTorch(c: Comparison): void {
  for (const r of c.rows) assert.ok(r.d64 <= Math.max(TOL, 4 * r.base), `'${r.name}': |ours − float64| = ${r.d64.toExponential(2)} but PyTorch float32 is within ${r.base.toExponential(2)} of float64`);
}

const TOL = 1e-4;

if (!hasTorch) {
  test.skip(`ResNet vs torchvision (${PYTHON} has no torch/torchvision; CI installs python3-torch and python3-torchvision)`, () => undefined);
} else {
  test('ResNet-18, eval-mode BN, 112×112, batch 2: F, pooled and logits match torchvision resnet18', async () => {
    const c = await compare({ depth: 18, training: false, classes: 1000 }, 2, 112, 1);
    assert.match(c.reference, /torchvision\.models\.resnet\.ResNet/);
    const worst = report('resnet18 eval 112²', c);
    assert.ok(worst.d32 <= TOL, `'${worst.name}' differs from torchvision by ${worst.d32.toExponential(2)} (tolerance ${TOL})`);
  });

  test('ResNet-18 width 1/4, output stride 16, training-mode BN: F and running statistics match PyTorch', async () => {
    assert.is(resnetChannels(18, 0.25), 128);
    const c = await compare({ depth: 18, width: 0.25, outputStride: 16, training: true }, 4, 64, 2);
    const worst = report('resnet18 w1/4 os16 train 64²', c);
    assert.ok(worst.d32 <= TOL, `'${worst.name}' differs from PyTorch by ${worst.d32.toExponential(2)} (tolerance ${TOL})`);
  });

  // ResNet-50's deeper stack amplifies float32 rounding (train-mode BN over few cells, eval-mode
  // activations in the hundreds), so it is held to PyTorch's own float32 error instead of 1e-4.
  test('ResNet-50 width 1/4, output stride 16, training-mode BN, 64×64: as exact as PyTorch float32', async () => {
    const c = await compare({ depth: 50, width: 0.25, outputStride: 16, training: true }, 2, 64, 3);
    report('resnet50 w1/4 os16 train 64²', c);
    assertAsExactAsTorch(c);
  });

  test('ResNet-50, eval-mode BN, 64×64, batch 2: as exact as torchvision resnet50 in float32 (with fc)', async () => {
    const c = await compare({ depth: 50, training: false, classes: 10 }, 2, 64, 4);
    assert.match(c.reference, /torchvision\.models\.resnet\.ResNet/);
    report('resnet50 eval 64²', c);
    assertAsExactAsTorch(c);
  });
}

test('torchvision parameter names, shapes and groups (ResNet-18 and the ResNet-50 downsample)', () => {
  const g = new Graph('names');
  resnet(g.input('x', 'float32', [1, 3, 64, 64]), { depth: 18, training: true, width: 0.25 });
  const names = g.inputs.map((i) => i.value.name);
  for (const n of ['conv1.weight', 'bn1.weight', 'bn1.running_var', 'layer1.0.conv1.weight', 'layer1.1.bn2.bias', 'layer2.0.downsample.0.weight', 'layer2.0.downsample.1.running_mean', 'layer4.1.conv2.weight']) {
    assert.ok(names.includes(n), `missing ${n}`);
  }
  assert.not.ok(names.includes('layer1.0.downsample.0.weight'), 'ResNet-18 layer1.0 has no downsample');
  const shape = (n: string): readonly number[] => g.inputs.find((i) => i.value.name === n)!.value.shape;
  assert.equal([shape('conv1.weight'), shape('layer1.0.conv1.weight'), shape('layer2.0.conv1.weight'), shape('layer4.1.conv2.weight')], [[16, 3, 7, 7], [16, 16, 3, 3], [32, 16, 3, 3], [128, 128, 3, 3]]);
  assert.is(g.inputs.find((i) => i.value.name === 'bn1.weight')!.group, 'no_decay');
  assert.is(g.inputs.find((i) => i.value.name === 'conv1.weight')!.group, 'decay');
  assert.equal(g.inputs.find((i) => i.value.name === 'conv1.weight')!.init, { kind: 'normal', std: Math.sqrt(2 / (16 * 49)) });
  assert.is(g.bufferUpdates.length, 2 * 20, 'training mode updates both running statistics of all 20 BNs');

  const h = new Graph('r50');
  const { features } = resnet(h.input('x', 'float32', [1, 3, 64, 64]), { depth: 50, training: false, outputStride: 16 });
  assert.equal(features.shape, [1, 2048, 4, 4], 'output stride 16');
  const r50 = (n: string): readonly number[] => h.inputs.find((i) => i.value.name === n)!.value.shape;
  assert.equal(r50('layer1.0.downsample.0.weight'), [256, 64, 1, 1]);
  assert.equal(r50('layer4.0.downsample.0.weight'), [2048, 1024, 1, 1]);
  assert.equal(r50('layer3.5.conv3.weight'), [1024, 256, 1, 1]);
  assert.is(h.bufferUpdates.length, 0, 'eval mode records no buffer updates');
});

test.run();
