/**
 * `multisiam eval probe` end to end on the tiny preset, with artefacts built once for the file:
 * a short multisiam run (`multisiam train`, 20 steps) and its ONNX export; a backbone trained for a
 * few steps on the class masks themselves (a supervised positive control, built with our builder)
 * beside its own initial weights. The probe:
 * - gives identical numbers on the run and on its export, and writes RUN/probe.json;
 * - scores the supervised backbone clearly above its random init, and a backbone whose features
 *   carry nothing (all weights zero) at the floor, so it measures what the features hold;
 * - names the flag or file of every bad invocation, writing nothing.
 *
 * Why no "pre-trained beats random init" for the multisiam run: with the tiny preset's optimiser
 * (LARS, lr 1.0·16/256, trust coefficient 0.001) a run's convolutions move by 0.4–3% (relative L2)
 * in 1,000 steps, so its probe (measured 0.22–0.23 mIoU on synthetic:400, multisiam and byol alike)
 * sees a random network with estimated BN statistics, which scores below the untouched random
 * init (0.30; its BN is the identity, which keeps colour nearly linear in the features). Asserting
 * the paper's ordering at a test's budget would be false; the supervised control shows the probe
 * does reward features that learned the classes.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/data/rng.js';
import { SYNTHETIC_CLASSES } from '../../src/data/synthetic.js';
import { type Backbone, type BackboneTensor, backboneGraph, multisiamVersion, weightInputs } from '../../src/export/backbone.js';
import { exportOnnx } from '../../src/export/onnx.js';
import { loadBackbone } from '../../src/export/source.js';
import { upsampleMatrix } from '../../src/eval/graphs.js';
import { PROBE, type ProbeResult, labelledScene, probeSceneSeed, runProbe } from '../../src/eval/probe.js';
import { assembleTrainStep } from '../../src/graphs/optimizers.js';
import { conv1x1 } from '../../src/graphs/layers.js';
import { NAMES } from '../../src/graphs/io.js';
import { resnet } from '../../src/graphs/resnet.js';
import { resolveConfig } from '../../src/methods/index.js';
import { logSoftmax } from '../../src/onnx/composite/math.js';
import { tensor } from '../../src/onnx/constant.js';
import { Graph } from '../../src/onnx/ir.js';
import { div, matMul, mul, neg, reduceSum, reshape } from '../../src/onnx/ops/index.js';
import { writeModel } from '../../src/onnx/serialize.js';
import { Session } from '../../src/runtime/session.js';
import { cli } from '../cli/process.js';
import { scratch } from '../export/helpers.js';

/** 48 scenes train the head, 16 are held out: seconds per probe. */
const DATA = 'synthetic:64';

const dir = scratch('probe');
const run = join(dir, 'run');
const onnx = join(dir, 'run.onnx');
const cfg = resolveConfig({ preset: 'tiny' });

test.before(async () => {
  const r = await cli(['train', '--data', 'synthetic:64', '--out', run, '--preset', 'tiny', '--steps', '20', '--checkpoint-every', '20', '--set', 'optim.warmup_steps=2', '--set', 'data.workers=1']);
  if (r.status !== 0) throw new Error(`train failed:\n${r.stderr}`);
  exportOnnx(loadBackbone({ run, network: 'online' }), onnx);
});

const quiet = { log: () => undefined };
/** The numbers two probes must share to count as the same result. */
const numbers = (r: ProbeResult) => ({ miou: r.miou, pixel_accuracy: r.pixel_accuracy, per_class_iou: r.per_class_iou, final_train_loss: r.final_train_loss, data: r.data, probe: r.probe });

test('the run and its ONNX export give the same numbers, and RUN/probe.json holds them', async () => {
  const fromRun = await runProbe({ run, data: DATA, ...quiet });
  const fromOnnx = await runProbe({ onnx, out: join(dir, 'onnx-probe'), data: DATA, ...quiet });
  assert.equal(numbers(fromOnnx.result), numbers(fromRun.result));
  assert.is(fromRun.path, join(run, 'probe.json'));
  const saved = JSON.parse(readFileSync(fromRun.path, 'utf8')) as ProbeResult;
  assert.equal(numbers(saved), numbers(fromRun.result));
  assert.equal(saved.data.train + saved.data.test, 64);
  assert.equal(saved.data.test, 16);
  assert.equal(Object.keys(saved.per_class_iou), [...SYNTHETIC_CLASSES]);
  assert.equal(saved.probe.feature_map, [128, 14, 14]);
  assert.equal(saved.probe.label_size, [56, 56]);
  assert.equal([saved.backbone.source, saved.backbone.step, saved.backbone.method, saved.backbone.network, saved.backbone.random_init], ['run', 20, 'multisiam', 'online', false]);
  assert.equal([fromOnnx.result.backbone.source, fromOnnx.result.backbone.step, fromOnnx.result.backbone.path], ['run', 20, onnx], 'the export says where it came from');
  assert.ok(saved.miou > 0.05 && saved.miou < 1 && saved.pixel_accuracy > saved.miou, `mIoU ${saved.miou}, pixel accuracy ${saved.pixel_accuracy}`);
  const again = await runProbe({ run, data: DATA, ...quiet });
  assert.equal(numbers(again.result), numbers(fromRun.result), 'the same command gives the same numbers');
});

test('--random-init reads the run\'s bundle and writes probe-random-init.json beside probe.json', async () => {
  const { result, path } = await runProbe({ run, randomInit: true, data: DATA, ...quiet });
  assert.is(path, join(run, 'probe-random-init.json'));
  assert.equal([result.backbone.source, result.backbone.step, result.backbone.random_init], ['bundle', 0, true]);
  const target = await runProbe({ run, network: 'target', head: 'conv', data: DATA, ...quiet });
  assert.is(target.path, join(run, 'probe-target-conv.json'));
  assert.equal([target.result.backbone.network, target.result.probe.head, target.result.probe.hidden], ['target', 'conv', 256]);
});

/** Every backbone tensor from its declared init (kaiming convolutions, BN 1/0, statistics 0/1), seeded. */
function initialBackbone(seed: number, scale = 1): Backbone {
  const rng = Rng.fromSeed(seed);
  const tensors = new Map<string, BackboneTensor>();
  for (const { value, init } of weightInputs(backboneGraph(cfg))) {
    const data = Float32Array.from({ length: value.size }, () => (init?.kind === 'normal' ? scale * init.std * rng.normal() : init?.kind === 'constant' ? init.value : 0));
    tensors.set(value.name, { shape: value.shape, data });
  }
  return { config: cfg, tensors, provenance: { source: 'bundle', dir: 'test', step: 0, method: 'supervised', network: 'online', configHash: '', version: multisiamVersion() } };
}

/**
 * The positive control: `steps` of SGD on the probe's own task (scenes of the probe's training split
 * at the probe's size, per-pixel cross-entropy through a 1×1 conv), every backbone tensor trained and
 * the BN statistics carried, from `start`.
 */
async function supervised(start: Backbone, steps: number): Promise<Backbone> {
  const batch = 4;
  const size = PROBE.imageSize;
  const cells = size / PROBE.labelStride;
  const classes = SYNTHETIC_CLASSES.length;
  const g = new Graph('supervised');
  const image = g.input('image', 'float32', [batch, 3, size, size]);
  const labels = g.input('labels', 'float32', [batch, classes, cells * cells]);
  const { features } = resnet(image, { depth: 18, width: cfg.backbone.width, outputStride: cfg.backbone.output_stride, training: true });
  const [, , h, w] = features.shape as [number, number, number, number];
  const low = reshape(g.scope('seg', () => conv1x1(features, classes)), [batch, classes, h * w]);
  const logits = matMul(low, tensor(g, upsampleMatrix([h, w], [cells, cells]), [h * w, cells * cells]));
  const loss = div(neg(reduceSum(mul(labels, logSoftmax(logits, 1)))), batch * cells * cells);
  const step = assembleTrainStep(g, loss, { kind: 'sgd', momentum: 0.9 });
  const state = new Map<string, Float32Array>();
  const rng = Rng.fromSeed(1);
  for (const i of g.inputs) {
    if (i.role === 'state') state.set(i.value.name, new Float32Array(i.value.size));
    else if (i.role === 'param' || i.role === 'buffer') state.set(i.value.name, start.tensors.get(i.value.name)?.data ?? Float32Array.from({ length: i.value.size }, () => (i.init?.kind === 'uniform' ? i.init.bound * (2 * rng.next() - 1) : 0)));
  }
  const session = await Session.create(writeModel(g).model, {}, 'supervised control');
  const sceneSeed = probeSceneSeed(0);
  const imageFeed = new Float32Array(batch * 3 * size * size);
  const labelFeed = new Float32Array(batch * classes * cells * cells);
  for (let k = 0; k < steps; k++) {
    labelFeed.fill(0);
    for (let b = 0; b < batch; b++) {
      // Scenes 0–47: the probe's training split of synthetic:64, never its held-out scenes 48–63.
      const scene = labelledScene(sceneSeed, (k * batch + b) % 48, cfg.data);
      imageFeed.set(scene.image, b * 3 * size * size);
      scene.labels.forEach((c, p) => (labelFeed[(b * classes + c) * cells * cells + p] = 1));
    }
    const out = await session.run({ image: imageFeed, labels: labelFeed, ...Object.fromEntries(state), [NAMES.lr]: Float32Array.of(0.05), [NAMES.weightDecay]: Float32Array.of(1e-4) });
    for (const name of [...step.params.map((p) => p.name), ...step.state, ...step.buffers]) state.set(name, out[NAMES.next(name)]!.data as Float32Array);
  }
  await session.release();
  const tensors = new Map([...start.tensors].map(([name, t]) => [name, { shape: t.shape, data: state.get(name)! }]));
  return { ...start, tensors, provenance: { ...start.provenance, step: steps } };
}

async function probeOf(backbone: Backbone, name: string): Promise<ProbeResult> {
  const file = join(dir, `${name}.onnx`);
  exportOnnx(backbone, file);
  return (await runProbe({ onnx: file, out: join(dir, name), data: DATA, ...quiet })).result;
}

test('the probe measures what the features hold: trained on the masks ≫ random init ≫ no features', async () => {
  const init = initialBackbone(3);
  const random = await probeOf(init, 'init');
  const trained = await probeOf(await supervised(init, 60), 'supervised');
  const blank = await probeOf(initialBackbone(3, 0), 'blank');
  // Measured: 0.387 after 60 supervised steps, 0.308 at random init, 0.025 with all-zero weights
  // (constant features: the head can only predict the commonest class).
  console.log(`    mIoU: 60 supervised steps ${trained.miou.toFixed(3)}, random init ${random.miou.toFixed(3)}, all-zero weights ${blank.miou.toFixed(3)}`);
  assert.ok(trained.miou > random.miou + 0.04, `supervised ${trained.miou} vs random init ${random.miou}`);
  assert.ok(random.miou > blank.miou + 0.1, `random init ${random.miou} vs no features ${blank.miou}`);
});

test('bad flags and missing files fail with a message naming them, and write nothing', async () => {
  const notOnnx = join(dir, 'not.onnx');
  writeFileSync(notOnnx, 'not a model');
  const cases: [string[], RegExp][] = [
    [[], /choose one backbone: --run RUN .*, --bundle DIR .* or --onnx FILE/],
    [['--run', run, '--onnx', onnx], /choose one backbone: .*, not --run and --onnx/],
    [['--run', join(dir, 'missing')], /--run .*missing: no such directory; pass the --out of a `multisiam train` run/],
    [['--run', join(dir, 'missing'), '--random-init'], /--run .*missing: no such directory/],
    [['--run', run, '--step', '7'], /--step 7: run .* has no checkpoint at step 7; its checkpoints are at step 20/],
    [['--run', run, '--step', '20', '--random-init'], /--step picks a trained checkpoint; --random-init uses the initial weights/],
    [['--bundle', join(dir, 'nobundle')], /--bundle .*nobundle: .*manifest\.json is missing/],
    [['--onnx', join(dir, 'missing.onnx'), '--out', dir], /--onnx .*missing\.onnx: no such file; write one with `multisiam export/],
    [['--onnx', onnx], /--onnx .*run\.onnx: say where to write the result with --out DIR/],
    [['--onnx', onnx, '--out', dir, '--random-init'], /--random-init takes the initial weights of a bundle, which an ONNX file does not hold/],
    [['--onnx', onnx, '--out', dir, '--network', 'target'], /--network picks a network of a run or bundle; .*run\.onnx holds the one it was exported with/],
    [['--onnx', notOnnx, '--out', dir], /--onnx .*not\.onnx: not an ONNX model/],
    [['--run', run, '--data', dir], /--data .*: the probe needs class masks, which only the built-in scenes have; use --data synthetic or synthetic:N/],
    [['--run', run, '--data', 'synthetic:4'], /--data synthetic:4: the probe needs at least 8 scenes/],
    [['--run', run, '--data', 'synthetic:x'], /--data 'synthetic:x': the scene count after 'synthetic:' must be a positive integer/],
    [['--run', run, '--seed', '-1'], /--seed -1: must be a non-negative integer/],
    [['--run', run, '--head', 'mlp'], /head.*mlp|Invalid values/s],
    [['--run', run, '--network', 'middle'], /network.*middle|Invalid values/s],
  ];
  const before = readdirSync(run).sort();
  const results = await Promise.all(cases.map(([args]) => cli(['eval', 'probe', ...args])));
  results.forEach((r, i) => {
    assert.is(r.status, 1, `eval probe ${cases[i]![0].join(' ')} should fail`);
    assert.match(r.stderr, cases[i]![1]);
  });
  assert.equal(readdirSync(run).sort(), before, 'nothing written into the run');
  assert.not.ok(existsSync(join(dir, 'probe.json')));
});

test('the command prints the scores and where it wrote them', async () => {
  const r = await cli(['eval', 'probe', '--run', run, '--data', DATA, '--out', join(dir, 'cli')]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^probe \(linear head\) on the online multisiam backbone of .*run, step 20: mIoU [\d.]+%, pixel accuracy [\d.]+% on 16 held-out scenes \(48 trained the head, seed 0\) in [\d.]+ s\n/);
  assert.match(r.stdout, /\nIoU per class: sky [\d.]+%, building/);
  assert.match(r.stdout, new RegExp(`\\nwrote ${join(dir, 'cli', 'probe.json')}\\n$`));
  const saved = JSON.parse(readFileSync(join(dir, 'cli', 'probe.json'), 'utf8')) as ProbeResult;
  const fromRun = JSON.parse(readFileSync(join(run, 'probe.json'), 'utf8')) as ProbeResult;
  assert.equal(numbers(saved), numbers(fromRun), 'the command and the API agree');
});

test.run();
