/**
 * `multisiam export --format torchvision`: the .pth (a torch.save zip written without PyTorch) and
 * the .safetensors load in PyTorch (tools/torch_export_check.py, /usr/bin/python3) exactly as the
 * printed recipe says — torch.load(weights_only=True), fc = Identity, load_state_dict(strict=True) —
 * and give our backbone's features within 1e-4: torchvision's own resnet18 at width 1, the hand-
 * dilated resnet18 at output stride 16, tools/torch_resnet.py's RefResNet at width 1/4. The key set,
 * shapes and dtypes equal torchvision's resnet18/resnet50 state dict without fc.
 */
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { f32, readSafetensors, writeSafetensors } from '../../src/bundle/safetensors.js';
import type { MultiSiamConfig } from '../../src/config/index.js';
import { exportTorchvision, torchvisionStateDict } from '../../src/export/torchvision.js';
import { runTool, torchUnavailable } from '../graphs/torch.js';
import { config, maxAbsDiff, patternBackbone, randomBackbone, randomImages, scratch, trainingBackbone } from './helpers.js';

const dir = scratch('torchvision');
const TOL = 1e-4;
const STEP = 37;

/**
 * Exports `cfg`'s backbone to each of `files`, loads them with the recipe in PyTorch, and returns
 * the largest feature difference from the training graph per file.
 */
async function roundTrip(label: string, cfg: MultiSiamConfig, files: readonly string[]): Promise<void> {
  const backbone = randomBackbone(cfg, 5, STEP);
  const [batch, size] = [2, 64];
  const images = randomImages(batch, size, size, 9);
  const paths = files.map((f) => join(dir, f));
  const reports = paths.map((p) => exportTorchvision(backbone, p));
  const input = join(dir, `${label}-in.safetensors`);
  const output = join(dir, `${label}-out.safetensors`);
  writeSafetensors(input, new Map([['input', f32(images, [batch, 3, size, size])]]), {
    depth: cfg.backbone.arch === 'resnet50' ? '50' : '18', width: String(cfg.backbone.width), output_stride: String(cfg.backbone.output_stride),
  });
  const loaded = JSON.parse(runTool('torch_export_check.py', ['torchvision', input, output, ...paths])) as { type: string; tensors: number; model: string; num_batches_tracked: number[] }[];
  const torch = readSafetensors(output).tensors;
  const ours = await trainingBackbone(backbone, images, batch, size);
  paths.forEach((_, i) => {
    const features = torch.get(`features.${i}`)!;
    const pooled = torch.get(`pooled.${i}`)!;
    assert.equal(features.shape, [...ours.dims], `${files[i]}: feature shape`);
    const d = Math.max(maxAbsDiff(features.data as Float32Array, ours.features), maxAbsDiff(pooled.data as Float32Array, ours.pooled));
    console.log(`    ${files[i]} → ${loaded[i]!.model} (${loaded[i]!.type}, ${loaded[i]!.tensors} tensors, strict): max |PyTorch − ours| ${d.toExponential(2)}`);
    assert.ok(d <= TOL, `${files[i]}: max abs diff ${d} > ${TOL}`);
    assert.equal(loaded[i]!.num_batches_tracked, [STEP], 'num_batches_tracked = the step');
    assert.is(loaded[i]!.tensors, reports[i]!.tensors);
  });
  if (files.some((f) => f.endsWith('.pth'))) assert.is(loaded[files.findIndex((f) => f.endsWith('.pth'))]!.type, 'OrderedDict');
}

const why = torchUnavailable();
if (why) {
  test.skip(`torchvision export against PyTorch (${why})`, () => undefined);
} else {
  test('ResNet-18: .pth and .safetensors load into torchvision resnet18 with strict=True and give our features', async () => {
    await roundTrip('r18', config('r18'), ['r18.pth', 'r18.safetensors']);
  });

  test("the recipes for output stride 16 (hand-dilated resnet18) and width 1/4 (RefResNet) load strictly and give our features", async () => {
    await roundTrip('r18-os16', config('r18', ['backbone.output_stride=16']), ['r18-os16.pth']);
    await roundTrip('tiny', config('tiny'), ['tiny.safetensors']);
  });

  test("the key set, shapes and dtypes are torchvision's resnet18 and resnet50 state dict without fc", () => {
    const reference = JSON.parse(runTool('torch_export_check.py', ['keys', '18', '50'])) as Record<string, Record<string, { shape: number[]; dtype: string }>>;
    for (const [depth, preset] of [['18', 'r18'], ['50', 'r50']] as const) {
      const ours = Object.fromEntries([...torchvisionStateDict(patternBackbone(config(preset)))].map(([k, t]) => [k, { shape: t.shape, dtype: t.dtype === 'I64' ? 'torch.int64' : 'torch.float32' }]));
      assert.equal(Object.keys(ours), Object.keys(reference[depth]!), `resnet${depth}: keys in torchvision's order`);
      assert.equal(ours, reference[depth], `resnet${depth}: shapes and dtypes`);
    }
  });
}

test('the recipe and notes: plain for width 1 / stride 32, and say what the model needs otherwise', () => {
  const out = join(dir, 'notes.pth');
  const plain = exportTorchvision(patternBackbone(config('r18')), out);
  assert.equal(plain.notes, []);
  assert.match(plain.recipe, /sd = torch\.load\("notes\.pth", weights_only=True\)\nm = torchvision\.models\.resnet18\(\)\nm\.fc = torch\.nn\.Identity\(\).*\nm\.load_state_dict\(sd, strict=True\)/);
  const r50 = exportTorchvision(patternBackbone(config('r50', ['backbone.output_stride=16'])), join(dir, 'r50.safetensors'));
  assert.match(r50.recipe, /safetensors\.torch\.load_file\("r50\.safetensors"\)\nm = torchvision\.models\.resnet50\(replace_stride_with_dilation=\[False, False, True\]\)/);
  assert.match(r50.notes.join('\n'), /output stride 16: construct torchvision\.models\.resnet50\(replace_stride_with_dilation/);
  const metadata = readSafetensors(join(dir, 'r50.safetensors')).metadata;
  assert.equal([metadata['format'], metadata['preprocessing.mean'], metadata['backbone.output_stride'], metadata['source.network']], ['pt', '[0.485,0.456,0.406]', '16', 'online']);
  const tiny = exportTorchvision(patternBackbone(config('tiny')), out);
  assert.match(tiny.notes.join('\n'), /width 0\.25: the channel counts are 16\/16\/32\/64\/128 .*RefResNet/);
  assert.match(tiny.recipe, /m = RefResNet\(18, 0\.25, 16, 0\)/);
  assert.throws(() => exportTorchvision(patternBackbone(config('r18')), join(dir, 'r18.pt')), /--out .*r18\.pt: the file name must end in \.pth or \.safetensors/);
});

test.run();
