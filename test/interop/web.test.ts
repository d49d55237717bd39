/**
 * Interop (issue 8 §6): a bundle is plain ONNX that another ONNX Runtime drives without our code.
 * One step of the tiny bundle's train_step runs in onnxruntime-web (the WebAssembly build, inside
 * Node, pinned like onnxruntime-node to ONNX Runtime 1.29.0) on the same feeds as onnxruntime-node
 * through src/runtime, and the exported ONNX backbone (`multisiam export --format onnx`) runs there
 * too, at batch and image sizes the bundle never used (its axes are dynamic).
 *
 * The two builds run different kernels (MLAS with AVX on x64, WebAssembly SIMD128 in the browser
 * build), so they agree to float32 rounding, not bit for bit. Bounds: the loss within 1e-6
 * relative; every output of the step together within 1e-5 relative L2, except the raw gradients of
 * BN parameters and biases (the no-decay group's momentum buffers, which hold the gradient itself
 * after one step, and `grad_norm`, made from them), which get 1e-3 together. Those are sums over
 * B·h·w cells that nearly cancel (a bias before BN has a true gradient of 0), so kernel rounding
 * moves single ones by 1e-3 relative and more; with them, all outputs together measured 1.8e-5
 * relative L2, where two onnxruntime-node runs whose parameters differ by half an ulp differ by
 * 6e-6. The test prints every figure.
 *
 * The step is a real one: a batch from the data pipeline (synthetic scenes), targets from the
 * target forward, the learning rate at its peak and τ = 0.99, so every parameter, momentum buffer
 * and target tensor changes.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GRAPH_FILES, readBundle, readBundleTensors, writeBundle } from '../../src/bundle/bundle.js';
import { peakLearningRate } from '../../src/config/derived.js';
import { PairLoader } from '../../src/data/loader.js';
import { Rng } from '../../src/data/rng.js';
import { parseDataArg } from '../../src/data/sources.js';
import { backboneOnnx } from '../../src/export/onnx.js';
import { loadBackbone } from '../../src/export/source.js';
import { NAMES } from '../../src/graphs/io.js';
import { resolveConfig } from '../../src/methods/index.js';
import type { TensorData } from '../../src/onnx/dtype.js';
import { Session } from '../../src/runtime/session.js';
import { batchFeeds, pairOptionsFor } from '../../src/train/data.js';
import { maxAbsDiff, randomImages, scratch } from '../export/helpers.js';

// As many threads as the machine has cores, up to 4 (the wasm build runs them as worker threads).
ortWeb.env.wasm.numThreads = Math.min(4, availableParallelism());

const cfg = resolveConfig({ preset: 'tiny', sets: ['data.workers=0'] });
const dir = join(scratch('interop'), 'bundle');

type Feeds = Record<string, TensorData>;
type Outputs = Record<string, Float32Array>;

/** onnxruntime-node through src/runtime (fixed shapes, as the bundle's graphs have): every output of `model` on `feeds`. */
async function runNode(model: string | Uint8Array, feeds: Feeds, name: string): Promise<Outputs> {
  const session = await Session.create(model, { ep: 'cpu' }, name);
  try {
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
  } finally {
    await session.release();
  }
}

/** What both JavaScript packages of ONNX Runtime offer (the same onnxruntime-common API). */
type Ort = Pick<typeof ortWeb, 'InferenceSession' | 'Tensor'>;

/** Every output of `model` on `feeds` through an onnxruntime package's own API, each input shaped as `shapes` says. */
async function runOrt(ort: Ort, model: Uint8Array, feeds: Feeds, shapes: Readonly<Record<string, readonly number[]>>): Promise<Outputs> {
  const session = await ort.InferenceSession.create(model);
  try {
    const inputs: Record<string, ortWeb.Tensor> = {};
    for (const [name, data] of Object.entries(feeds)) inputs[name] = tensor(ort, data, shapes[name]!);
    const out = await session.run(inputs);
    return Object.fromEntries(Object.entries(out).map(([name, t]) => [name, t.data as Float32Array]));
  } finally {
    await session.release();
  }
}

function tensor(ort: Ort, data: TensorData, dims: readonly number[]): ortWeb.Tensor {
  if (data instanceof Float32Array) return new ort.Tensor('float32', data, dims);
  if (data instanceof Uint8Array) return new ort.Tensor('uint8', data, dims);
  if (data instanceof BigInt64Array) return new ort.Tensor('int64', data, dims);
  throw new Error(`interop test: no onnxruntime tensor for a ${data.constructor.name}`);
}

interface Agreement {
  /** ‖web − node‖ / ‖node‖ over the compared outputs together. */
  readonly l2: number;
  /** The single output with the largest relative L2 difference. */
  readonly worst: { readonly name: string; readonly l2: number };
}

/** How far the web outputs `names` are from the node ones: together, and the worst single one. */
function agreement(node: Readonly<Outputs>, web: Readonly<Outputs>, names: readonly string[]): Agreement {
  let [d2, n2] = [0, 0];
  let worst = { name: '', l2: -1 };
  for (const name of names) {
    const [a, b] = [web[name]!, node[name]!];
    assert.is(a.length, b.length, `${name}: sizes`);
    let [e2, m2] = [0, 0];
    for (let i = 0; i < a.length; i++) {
      e2 += (a[i]! - b[i]!) ** 2;
      m2 += b[i]! ** 2;
    }
    [d2, n2] = [d2 + e2, n2 + m2];
    const l2 = m2 > 0 ? Math.sqrt(e2 / m2) : Math.sqrt(e2);
    if (l2 > worst.l2) worst = { name, l2 };
  }
  return { l2: Math.sqrt(d2 / n2), worst };
}

const describe = (a: Agreement): string => `relative L2 ${a.l2.toExponential(2)} (largest single: ${a.worst.name} ${a.worst.l2.toExponential(2)})`;

test.before(() => {
  writeBundle(cfg, dir);
});

test('one train step in onnxruntime-web equals onnxruntime-node: loss ≤ 1e-6 relative, outputs ≤ 1e-5 relative L2, raw BN gradients ≤ 1e-3', async () => {
  const { manifest } = readBundle(dir);
  const loader = new PairLoader({ data: await parseDataArg('synthetic:16'), pair: pairOptionsFor(cfg), batchSize: cfg.train.batch_size, seed: 0, workers: 0, prefetch: 1 });
  const { batch } = await loader.next();
  await loader.close();
  const offered = batchFeeds(batch);
  const state: Feeds = Object.fromEntries([...readBundleTensors({ dir, manifest })].map(([name, t]) => [name, t.data]));

  // Targets: the target forward on the same views (its K-means in the graph, seeded by host uniforms), each linked output copied.
  const rng = Rng.fromSeed(0);
  const uniforms = (shape: readonly number[]): Float32Array => Float32Array.from({ length: shape[0]! * shape[1]! }, () => rng.next());
  const target = await runNode(
    join(dir, GRAPH_FILES.target_forward),
    Object.fromEntries(manifest.graphs.target_forward.inputs.map((i) => [i.name, i.meaning?.kind === 'kmeans_uniforms' ? uniforms(i.shape) : (offered[i.name] ?? state[i.name]!)])),
    'target_forward',
  );
  for (const link of manifest.targets) assert.ok(link.transform.kind === 'copy' || link.transform.backend === 'graph', `${link.input}: the tiny preset makes every target in the graph`);
  const targets = Object.fromEntries(manifest.targets.map((link) => [link.input, target[link.output]!]));
  const hyper: Feeds = { [NAMES.lr]: Float32Array.of(peakLearningRate(cfg)), [NAMES.weightDecay]: Float32Array.of(cfg.optim.weight_decay), [NAMES.targetMomentum]: Float32Array.of(0.99) };
  const feeds: Feeds = Object.fromEntries(manifest.graphs.train_step.inputs.map((i) => [i.name, hyper[i.name] ?? targets[i.name] ?? offered[i.name] ?? state[i.name]!]));

  const model = readFileSync(join(dir, GRAPH_FILES.train_step));
  const shapes = Object.fromEntries(manifest.graphs.train_step.inputs.map((i) => [i.name, i.shape]));
  const node = await runNode(model, feeds, 'train_step');
  const web = await runOrt(ortWeb, model, feeds, shapes);

  assert.equal(Object.keys(web).sort(), Object.keys(node).sort(), 'both runtimes return the same outputs');
  const noDecay = new Set(manifest.tensors.filter((t) => t.group === 'no_decay').map((t) => NAMES.next(NAMES.momentum(t.name))));
  const outputs = Object.keys(node);
  const gradients = outputs.filter((o) => noDecay.has(o) || o === NAMES.gradNorm);
  const rest = agreement(node, web, outputs.filter((o) => !gradients.includes(o)));
  const raw = agreement(node, web, gradients);
  const all = agreement(node, web, outputs);
  const [lossNode, lossWeb] = [node[NAMES.loss]![0]!, web[NAMES.loss]![0]!];
  const lossError = Math.abs(lossWeb - lossNode) / Math.abs(lossNode);
  console.log(`  train_step: loss ${lossNode} (node) vs ${lossWeb} (web), relative error ${lossError.toExponential(2)}`);
  console.log(`  ${outputs.length - gradients.length} outputs (parameters, LARS-scaled momentum, BN statistics, target network, loss terms): ${describe(rest)}`);
  console.log(`  ${gradients.length} raw BN-parameter and bias gradients (no-decay momentum buffers, grad_norm): ${describe(raw)}`);
  console.log(`  all ${outputs.length} outputs together: ${describe(all)}`);
  assert.is(web[NAMES.finite]![0], 1, 'the web step is finite');
  assert.is(node[NAMES.finite]![0], 1, 'the node step is finite');
  assert.ok(lossError <= 1e-6, `loss differs by ${lossError} relative`);
  assert.ok(rest.l2 <= 1e-5, `outputs differ by ${describe(rest)}`);
  assert.ok(raw.l2 <= 1e-3, `raw BN and bias gradients differ by ${describe(raw)}`);
});

// src/runtime binds fixed shapes (the bundle's graphs have them); the export's dynamic axes are run through onnxruntime-node's own API.
test('the exported ONNX backbone runs in onnxruntime-web at other batch and image sizes and matches onnxruntime-node', async () => {
  const model = backboneOnnx(loadBackbone({ bundle: dir, network: 'online' }));
  for (const [batch, height, width] of [[3, 112, 112], [1, 96, 160]] as const) {
    const image = randomImages(batch, height, width, batch);
    const shapes = { image: [batch, 3, height, width] };
    const node = await runOrt(ortNode, model, { image }, shapes);
    const web = await runOrt(ortWeb, model, { image }, shapes);
    const both = agreement(node, web, ['features', 'pooled']);
    const largest = maxAbsDiff(web['features']!, node['features']!);
    console.log(`  backbone ${batch}×3×${height}×${width}: ${describe(both)}, largest element difference ${largest.toExponential(2)}`);
    assert.ok(both.l2 <= 1e-5, `backbone outputs differ by ${describe(both)}`);
  }
});

test.run();
