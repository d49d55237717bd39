/**
 * `multisiam export --format onnx`: the written model is self-contained (one input, weights as
 * initializers), runs at any batch size and image size, equals the training bundle's backbone graph
 * (weights fed as inputs) at two batch sizes and two image sizes, and carries the preprocessing and
 * provenance in its metadata.
 *
 * Two comparisons at each size: with ONNX Runtime's graph optimisations off in both sessions the
 * export must compute the training graph op for op (within 1e-5; measured: bit-identical); with
 * the defaults (ORT folds the baked BN arithmetic into the convolutions, which the training graph,
 * whose weights are inputs, cannot) the difference is float32 rounding, within 1e-5 relative to
 * the largest feature (the random weights give features up to ~30).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backboneOnnx, exportOnnx } from '../../src/export/onnx.js';
import { decodeModel } from '../../src/onnx/proto.js';
import { type Features, config, maxAbsDiff, randomBackbone, randomImages, scratch, trainingBackbone } from './helpers.js';

const dir = scratch('onnx');
const TOL = 1e-5;

for (const [label, preset, sizes] of [
  ['ResNet-18', 'r18', [[1, 64], [3, 64], [1, 96], [3, 96]]],
  ['tiny (ResNet-18, width 1/4, output stride 16)', 'tiny', [[2, 48], [1, 112]]],
] as const) {
  test(`${label}: the ONNX export equals the training-graph backbone at batch sizes and image sizes ${sizes.map(([b, s]) => `${b}×${s}²`).join(', ')}`, async () => {
    const backbone = randomBackbone(config(preset), 11);
    const model = backboneOnnx(backbone);
    const plain = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'disabled' });
    const optimised = await ort.InferenceSession.create(model);
    for (const [batch, size] of sizes) {
      const images = randomImages(batch, size, size, batch * 1000 + size);
      const feeds = { image: new ort.Tensor('float32', images, [batch, 3, size, size]) };
      const diff = async (session: ort.InferenceSession, reference: Features): Promise<number> => {
        const out = await session.run(feeds);
        assert.equal(out['features']!.dims, reference.dims, `features shape at ${batch}×${size}²`);
        assert.equal(out['pooled']!.dims, reference.dims.slice(0, 2), `pooled shape at ${batch}×${size}²`);
        return Math.max(maxAbsDiff(out['features']!.data as Float32Array, reference.features), maxAbsDiff(out['pooled']!.data as Float32Array, reference.pooled));
      };
      const exact = await diff(plain, await trainingBackbone(backbone, images, batch, size, 'disabled'));
      const reference = await trainingBackbone(backbone, images, batch, size);
      const folded = await diff(optimised, reference);
      const scale = reference.features.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      console.log(`    ${label} ${batch}×3×${size}×${size} → [${reference.dims}]: max |export − training graph| ${exact.toExponential(2)} unoptimised, ${folded.toExponential(2)} with ORT's defaults (max |features| ${scale.toFixed(1)})`);
      assert.ok(exact <= TOL, `${batch}×${size}², optimisations off: max abs diff ${exact} > ${TOL}`);
      assert.ok(folded <= TOL * Math.max(1, scale), `${batch}×${size}², ORT defaults: max abs diff ${folded} > ${TOL} × ${scale}`);
    }
    // Height and width are independent.
    const wide = await optimised.run({ image: new ort.Tensor('float32', randomImages(1, 64, 96, 5), [1, 3, 64, 96]) });
    assert.equal(wide['features']!.dims.slice(2), preset === 'r18' ? [2, 3] : [4, 6]);
    await plain.release();
    await optimised.release();
  });
}

test('the written file has one input, the weights as initializers, symbolic axes and the metadata', () => {
  const backbone = randomBackbone(config('r18'), 3, 1234, 'target');
  const out = join(dir, 'r18.onnx');
  const report = exportOnnx(backbone, out);
  const bytes = readFileSync(out);
  assert.is(report.bytes, bytes.length);
  assert.is(report.tensors, 100);
  const m = decodeModel(bytes);
  const dims = (vi: (typeof m.graph.input)[number]) => vi.type.tensorType.shape.dim.map((d) => d.dimParam ?? Number(d.dimValue));
  assert.equal(m.graph.input.map((i) => [i.name, dims(i)]), [['image', ['batch', 3, 'height', 'width']]]);
  assert.equal(m.graph.output.map((o) => [o.name, dims(o)]), [['features', ['batch', 512, 'h', 'w']], ['pooled', ['batch', 512]]]);
  const initializers = new Set(m.graph.initializer.map((t) => t.name));
  for (const name of backbone.tensors.keys()) assert.ok(initializers.has(name), `${name} is an initializer`);
  const meta = Object.fromEntries((m.metadataProps ?? []).map((p) => [p.key, p.value]));
  assert.equal(JSON.parse(meta['preprocessing.mean']!), [0.485, 0.456, 0.406]);
  assert.equal(JSON.parse(meta['preprocessing.std']!), [0.229, 0.224, 0.225]);
  assert.is(meta['preprocessing.channel_order'], 'RGB');
  assert.is(meta['preprocessing.input_range'], '[0, 1]');
  assert.is(meta['source.step'], '1234');
  assert.is(meta['source.network'], 'target');
  assert.is(meta['source.config_hash'], '0123456789abcdef');
  assert.is(meta['backbone.arch'], 'resnet18');
  assert.match(meta['multisiam.version']!, /^\d+\.\d+\.\d+/);
  assert.match(report.recipe, /ort\.InferenceSession\("r18\.onnx"\)/);
});

test('an --out that is not .onnx is refused before anything is written', () => {
  assert.throws(() => exportOnnx(randomBackbone(config('tiny'), 1), join(dir, 'tiny.bin')), /--out .*tiny\.bin: the file name must end in \.onnx/);
});

test.run();
