/**
 * `multisiam inspect` and the numbers behind it: the FLOP convention op by op on hand-sized nodes;
 * ResNet-18/50 backbone FLOPs and parameter counts against an independent count from the layer table
 * (which reproduces torchvision's published 1.81 / 4.09 GMAC and 11.69 M / 25.56 M parameters with
 * the fc layer); head sizes from their formulas; per step = train_step + target_forward; the text and
 * the --json output of the CLI on real bundles.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildBackbone } from '../../src/bundle/graphs.js';
import { resolveConfig } from '../../src/methods/index.js';
import { formatFlops, graphFlops } from '../../src/onnx/flops.js';
import { tensor } from '../../src/onnx/constant.js';
import { Graph } from '../../src/onnx/ir.js';
import { add, conv, convTranspose, gemm, matMul, mul, relu, reduceSum, reshape } from '../../src/onnx/ops/index.js';
import { readModel, writeModel } from '../../src/onnx/serialize.js';
import { readBundle, writeBundle } from '../../src/bundle/bundle.js';
import { type BundleInspection, inspectBundle, moduleOf, paramCounts } from '../../src/bundle/inspect.js';
import { ROOT } from '../graphs/torch.js';

const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NO_COLOR' && k !== 'FORCE_COLOR'));
const scratch = mkdtempSync(join(tmpdir(), 'multisiam-inspect-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

test('FLOP convention: 2 × multiply-adds for Conv/ConvTranspose/MatMul/Gemm, 1 per output element otherwise, 0 for data movement', () => {
  const g = new Graph('flops');
  const x = g.input('x', 'float32', [2, 4, 8, 8]);
  const w = g.input('w', 'float32', [6, 2, 3, 3]);
  const y = conv(x, w, undefined, { pads: 1, strides: 2, group: 2 }); // (2, 6, 4, 4): 192 outputs × 2·3·3
  const wt = g.input('wt', 'float32', [6, 5, 3, 3]);
  const t = convTranspose(y, wt, undefined, { strides: 2, pads: 1, outputPadding: 1 }); // input 192 elements × 5·3·3
  const r = reshape(relu(t), [2, 5 * 8, 8]); // relu: 640 outputs; reshape: free
  const m = matMul(r, g.input('b', 'float32', [8, 3])); // (2, 40, 3) = 240 outputs × K 8
  const a = g.input('a', 'float32', [7, 5]);
  const gm = gemm(a, g.input('c', 'float32', [7, 9]), undefined, { transA: true }); // op(A) 5×7 · 7×9: 45 × 7
  g.output('m', reduceSum(m, [1])); // 6 outputs
  g.output('gm', add(gm, 1)); // 45 outputs
  const f = graphFlops(g);
  assert.is(f.byOp['Conv'], 2 * 192 * 18);
  assert.is(f.byOp['ConvTranspose'], 2 * 192 * 45);
  assert.is(f.byOp['MatMul'], 2 * 240 * 8);
  assert.is(f.byOp['Gemm'], 2 * 45 * 7);
  assert.is(f.byOp['Relu'], 640);
  assert.is(f.byOp['ReduceSum'], 6);
  assert.is(f.byOp['Add'], 45);
  assert.is(f.byOp['Reshape'], undefined);
  assert.is(f.multiplyAdd, 2 * (192 * 18 + 192 * 45 + 240 * 8 + 45 * 7));
  assert.is(f.elementwise, 640 + 6 + 45);
  assert.is(f.total, f.multiplyAdd + f.elementwise);
  assert.equal(f.unclassified, []);
  assert.is(formatFlops(1.234e12), '1.23 TFLOP');
  assert.is(formatFlops(523.2e9), '523 GFLOP');
});

test('graphs read back when pruning left gaps in their constant names (inspect loads every bundle graph)', () => {
  const g = new Graph('gaps');
  const x = g.input('x', 'float32', [3]);
  tensor(g, [5, 6, 7], [3]); // const_0: nothing reads it, so it is not written
  g.output('y', mul(add(x, tensor(g, [1, 2, 3], [3])), tensor(g, [4, 5, 6], [3]))); // const_1, const_2
  const back = readModel(writeModel(g).model);
  assert.equal(back.constants.map((c) => c.name).sort(), ['const_1', 'const_2']);
  assert.is(back.nodes.length, g.nodes.length);
});

/** Conv multiply-adds and conv+BN parameters of torchvision's ResNet at width 1, from the layer table alone. */
function resnetTable(depth: 18 | 50, size: number): { macs: number; params: number } {
  let macs = 0;
  let params = 0;
  const convOut = (n: number, k: number, s: number, p: number): number => Math.floor((n + 2 * p - k) / s) + 1;
  const convBn = (cin: number, cout: number, k: number, n: number, s: number): number => {
    const o = convOut(n, k, s, (k - 1) / 2);
    macs += cout * o * o * cin * k * k;
    params += cout * cin * k * k + 2 * cout;
    return o;
  };
  let n = convBn(3, 64, 7, size, 2);
  n = convOut(n, 3, 2, 1); // max-pool
  let cin = 64;
  const blocks = depth === 18 ? [2, 2, 2, 2] : [3, 4, 6, 3];
  [64, 128, 256, 512].forEach((planes, stage) => {
    for (let b = 0; b < blocks[stage]!; b++) {
      const s = b === 0 && stage > 0 ? 2 : 1;
      const out = depth === 18 ? planes : 4 * planes;
      if (s !== 1 || cin !== out) convBn(cin, out, 1, n, s);
      if (depth === 18) {
        const m = convBn(cin, planes, 3, n, s);
        convBn(planes, planes, 3, m, 1);
        n = m;
      } else {
        convBn(cin, planes, 1, n, 1);
        const m = convBn(planes, planes, 3, n, s);
        convBn(planes, out, 1, m, 1);
        n = m;
      }
      cin = out;
    }
  });
  return { macs, params };
}

test('ResNet backbones: FLOPs and parameters equal the layer-table count (torchvision: resnet18 1.81 GMAC / 11.69 M, resnet50 4.09 GMAC / 25.56 M with fc)', () => {
  for (const [preset, depth, fc] of [['r18', 18, 512 * 1000 + 1000], ['r50', 50, 2048 * 1000 + 1000]] as const) {
    const cfg = resolveConfig({ preset });
    const table = resnetTable(depth, 224);
    assert.is(((table.macs + (fc - 1000)) / 1e9).toFixed(2), depth === 18 ? '1.81' : '4.09', 'table matches torchvision with fc');
    assert.is(table.params + fc, depth === 18 ? 11_689_512 : 25_557_032, 'table matches torchvision with fc');
    const g = buildBackbone(cfg, 1);
    const f = graphFlops(g);
    assert.is(f.byOp['Conv'], 2 * table.macs, `${preset} conv FLOPs per image`);
    const backbone = g.inputs.filter((i) => i.role === 'param').reduce((s, i) => s + i.value.size, 0);
    assert.is(backbone, table.params);
  }
});

function headParams(cin: number, hidden: number, out: number): number {
  return cin * hidden + hidden + 2 * hidden + hidden * out + out;
}

/** r50 at batch 2 (parameters do not depend on the batch), built once for the tests below. */
const r50Dir = join(scratch, 'r50');
let r50: BundleInspection | null = null;
function r50Inspection(): BundleInspection {
  if (!r50) {
    writeBundle(resolveConfig({ preset: 'r50', sets: ['train.batch_size=2'] }), r50Dir);
    r50 = inspectBundle(r50Dir);
  }
  return r50;
}

test('r50 parameter counts per module: backbone = torchvision resnet50 without fc, heads from their formulas', () => {
  const i = r50Inspection();
  const online = Object.fromEntries(i.params.online.modules.map((m) => [m.module, m.elements]));
  assert.equal(Object.keys(online), ['backbone', 'projector', 'predictor', 'dense_projector', 'dense_predictor']);
  assert.is(online['backbone'], 25_557_032 - 2_049_000);
  assert.is(online['projector'], headParams(2048, 4096, 256));
  assert.is(online['predictor'], headParams(256, 4096, 256));
  assert.is(online['dense_projector'], headParams(2048, 4096, 256));
  assert.is(online['dense_predictor'], headParams(258, 4096, 256), 'dense predictor input: 256 channels + ΔC (2)');
  assert.is(i.params.online.elements, Object.values(online).reduce((a, b) => a + b, 0));
  assert.is(i.params.target.elements, online['backbone']! + online['projector']! + online['dense_projector']!, 'no predictors in the target');
  assert.is(i.params.optimizer_state.elements, i.params.online.elements, 'one momentum tensor per parameter');
  assert.equal(paramCounts(readBundle(r50Dir).manifest), i.params);
  assert.is(moduleOf('layer3.5.bn2.running_var'), 'backbone');
  assert.is(moduleOf('dense_predictor.0.weight'), 'dense_predictor');
});

test('r50 FLOPs: per step = train_step + target_forward; backbone = 2 images × 8.17 GFLOP of convolutions; train_step ≈ 3× a forward', () => {
  const i = r50Inspection();
  const f = i.flops;
  assert.is(f.per_step, f.train_step + f.target_forward);
  assert.is(f.per_pair, f.per_step / 2);
  assert.is(i.graphs.backbone.flops.byOp['Conv'], 2 * 2 * resnetTable(50, 224).macs);
  assert.ok(f.train_step > 2.5 * f.target_forward && f.train_step < 4 * f.target_forward, `train_step ${formatFlops(f.train_step)} vs target forward ${formatFlops(f.target_forward)}`);
  assert.ok(f.target_forward > 2 * f.backbone, 'two views plus heads');
  for (const key of ['train_step', 'grad', 'target_forward', 'backbone'] as const) assert.equal(i.graphs[key].flops.unclassified, [], `${key}: every op type has a FLOP rule`);
});

test('inputs and outputs grouped by role: data listed with shapes, params/buffers/state/grads as counts', () => {
  const i = r50Inspection();
  const step = i.graphs.train_step;
  assert.equal(step.inputs.listed.find((v) => v.name === 'view1'), { name: 'view1', role: 'data', dtype: 'uint8', shape: [2, 3, 224, 224] });
  assert.equal(step.inputs.listed.find((v) => v.name === 'lr'), { name: 'lr', role: 'hyper', dtype: 'float32', shape: [] });
  assert.ok(step.inputs.listed.every((v) => ['data', 'hyper', 'queue'].includes(v.role)));
  const grouped = Object.fromEntries(step.inputs.grouped.map((g) => [g.role, g]));
  assert.equal(grouped['param'], { role: 'param', tensors: 183, elements: i.params.online.elements });
  assert.equal(grouped['state'], { role: 'state', tensors: 183, elements: i.params.online.elements });
  assert.is(grouped['buffer']!.tensors, i.params.online_buffers.tensors);
  assert.equal(step.outputs.listed.map((v) => v.name), ['loss_global', 'loss_dense', 'loss', 'grad_norm', 'finite']);
  assert.equal(i.graphs.grad.outputs.grouped.map((g) => [g.role, g.tensors]), [['grad', 183]]);
  // With the in-graph K-means the target forward also outputs the targets themselves; the aligned
  // maps stay outputs too (a step binds only what it reads; the report clusters those maps).
  assert.equal(i.graphs.target_forward.outputs.listed.map((v) => `${v.name} ${v.shape.join('x')}`), ['z1 2x256', 'z2 2x256', 'dense1 2x256x7x7', 'dense2 2x256x7x7', 'target_dense1 2x256x7x7', 'target_dense2 2x256x7x7']);
  assert.is(i.total_bytes, i.files.reduce((s, f) => s + f.bytes, 0));
  // The four graphs, the manifest, the parameters, and the in-graph K-means' large
  // constants in target_forward.onnx.data.
  assert.equal(i.files.map((f) => f.file).sort(), ['backbone.onnx', 'grad.onnx', 'manifest.json', 'params.safetensors', 'target_forward.onnx', 'target_forward.onnx.data', 'train_step.onnx']);
});

test('multisiam inspect prints the summary; --json prints the same numbers', () => {
  const dir = join(scratch, 'tiny');
  writeBundle(resolveConfig({ preset: 'tiny' }), dir);
  const text = spawnSync(process.execPath, [CLI, 'inspect', dir], { encoding: 'utf8', env: ENV });
  assert.is(text.status, 0, text.stderr);
  const json = spawnSync(process.execPath, [CLI, 'inspect', dir, '--json'], { encoding: 'utf8', env: ENV });
  assert.is(json.status, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as BundleInspection;
  assert.equal(parsed, JSON.parse(JSON.stringify(inspectBundle(dir))));
  for (const section of ['configuration', 'parameters', 'FLOPs', 'graphs', 'files']) assert.match(text.stdout, new RegExp(`\\n${section}`));
  assert.match(text.stdout, /method\s+multisiam, byol framework/);
  assert.match(text.stdout, /backbone\s+resnet18, width 0\.25, output stride 16 \(7×7 dense map\)/);
  assert.match(text.stdout, /online \(trainable\)\s+1\.23 M\s+84 tensors/);
  assert.match(text.stdout, new RegExp(`per step\\s+${formatFlops(parsed.flops.per_step).replace('.', '\\.')}`));
  assert.match(text.stdout, /view1\s+data\s+uint8 \[16, 3, 112, 112\]/);
  assert.match(text.stdout, /\(param\)\s+84 tensors, 1\.23 M elements/);
  assert.not.match(text.stdout, /layer1\.0\.conv1\.weight/, 'parameters are summarised, not listed');

  const missing = spawnSync(process.execPath, [CLI, 'inspect', join(scratch, 'none')], { encoding: 'utf8', env: ENV });
  assert.is(missing.status, 1);
  assert.match(missing.stderr, /is not a multisiam bundle: manifest\.json is missing/);
});

test.run();
