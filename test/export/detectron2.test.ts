/**
 * `multisiam export --format detectron2`: the .pkl unpickles with plain `pickle` (encoding="latin1",
 * as detectron2 reads it) and numpy alone — no torch, no detectron2 — under numpy 1.x
 * (/usr/bin/python3) and, where the first python3 on PATH has it, numpy 2.x; it holds exactly
 * detectron2's ResNet key set for R50 and R18 (written out below from detectron2's layout, not from
 * the rename), float32 arrays of the right shapes with our bytes, `__author__` and
 * `matching_heuristics`.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { detectron2Name, detectron2Notes, exportDetectron2 } from '../../src/export/detectron2.js';
import { PYTHON, ROOT } from '../graphs/torch.js';
import { config, patternBackbone, scratch } from './helpers.js';

const dir = scratch('detectron2');
const SCRIPT = join(ROOT, 'tools', 'torch_export_check.py');

/** detectron2's ResNet parameter names and shapes (stem, res2–res5), from its layout. */
function detectron2Layout(depth: 18 | 50): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const convNorm = (name: string, shape: number[]): void => {
    out.set(`${name}.weight`, shape);
    for (const s of ['weight', 'bias', 'running_mean', 'running_var']) out.set(`${name}.norm.${s}`, [shape[0]!]);
  };
  convNorm('stem.conv1', [64, 3, 7, 7]);
  const blocks = depth === 50 ? [3, 4, 6, 3] : [2, 2, 2, 2];
  let inChannels = 64;
  for (let s = 0; s < 4; s++) {
    const out_ = (depth === 50 ? 256 : 64) * 2 ** s;
    const inner = 64 * 2 ** s;
    for (let b = 0; b < blocks[s]!; b++) {
      const p = `res${s + 2}.${b}`;
      const cin = b === 0 ? inChannels : out_;
      if (depth === 50) {
        convNorm(`${p}.conv1`, [inner, cin, 1, 1]);
        convNorm(`${p}.conv2`, [inner, inner, 3, 3]);
        convNorm(`${p}.conv3`, [out_, inner, 1, 1]);
      } else {
        convNorm(`${p}.conv1`, [out_, cin, 3, 3]);
        convNorm(`${p}.conv2`, [out_, out_, 3, 3]);
      }
      if (b === 0 && (cin !== out_ || s > 0)) convNorm(`${p}.shortcut`, [out_, cin, 1, 1]);
    }
    inChannels = out_;
  }
  return out;
}

interface Loaded {
  readonly numpy: string;
  readonly top: string[];
  readonly others: Record<string, unknown>;
  readonly arrays: Record<string, { shape: number[]; dtype: string; sha256: string }>;
}

function load(python: string, path: string): Loaded {
  const r = spawnSync(python, [SCRIPT, 'detectron2', path], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${python} tools/torch_export_check.py detectron2 failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as Loaded;
}

/** Pythons to read with: Debian's (numpy 1.x) and the first on PATH when it has numpy 2.x. */
function pythons(): string[] {
  const found = existsSync(PYTHON) ? [PYTHON] : [];
  const probe = spawnSync('python3', ['-c', 'import numpy; print(numpy.__version__)'], { encoding: 'utf8' });
  if (probe.status === 0 && Number(probe.stdout.split('.')[0]) >= 2) found.push('python3');
  else console.log('    (no python3 with numpy 2.x on PATH: numpy 2 loading not checked here)');
  return found;
}

const readers = pythons();
for (const [depth, preset] of [[50, 'r50'], [18, 'r18']] as const) {
  test(`R${depth}: the .pkl unpickles with pickle + numpy into exactly detectron2's keys, shapes and our bytes`, () => {
    if (readers.length === 0) return console.log(`    skipped: ${PYTHON} is missing`);
    const backbone = patternBackbone(config(preset));
    const out = join(dir, `r${depth}.pkl`);
    const report = exportDetectron2(backbone, out);
    const expected = detectron2Layout(depth);
    const bytes = new Map([...backbone.tensors].map(([k, t]) => [detectron2Name(k), createHash('sha256').update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)).digest('hex')]));
    for (const python of readers) {
      const got = load(python, out);
      assert.equal(got.top, ['__author__', 'matching_heuristics', 'model']);
      assert.equal(got.others, { __author__: 'multisiam', matching_heuristics: true });
      assert.equal(Object.keys(got.arrays).sort(), [...expected.keys()].sort(), `numpy ${got.numpy}: key set`);
      for (const [k, a] of Object.entries(got.arrays)) {
        assert.equal(a.shape, expected.get(k), `${k}: shape`);
        assert.is(a.dtype, 'float32', `${k}: dtype`);
        assert.is(a.sha256, bytes.get(k), `${k}: bytes`);
      }
      console.log(`    R${depth} (${report.tensors} arrays, ${(report.bytes / 2 ** 20).toFixed(1)} MiB) loads with ${python}, numpy ${got.numpy}`);
    }
  });
}

test('the rename, the config it prints, the notes, and the .pkl rule', () => {
  assert.is(detectron2Name('conv1.weight'), 'stem.conv1.weight');
  assert.is(detectron2Name('bn1.running_var'), 'stem.conv1.norm.running_var');
  assert.is(detectron2Name('layer1.0.bn3.bias'), 'res2.0.conv3.norm.bias');
  assert.is(detectron2Name('layer4.0.downsample.0.weight'), 'res5.0.shortcut.weight');
  assert.is(detectron2Name('layer4.0.downsample.1.running_mean'), 'res5.0.shortcut.norm.running_mean');
  const r18 = exportDetectron2(patternBackbone(config('r18')), join(dir, 'config.pkl'));
  for (const line of ['PIXEL_MEAN: [123.675, 116.280, 103.530]', 'PIXEL_STD: [58.395, 57.120, 57.375]', 'FORMAT: "RGB"', 'STRIDE_IN_1X1: False', 'DEPTH: 18', 'RES2_OUT_CHANNELS: 64', 'FREEZE_AT: 0', 'NORM: "SyncBN"', 'WEIGHTS: "config.pkl"']) {
    assert.ok(r18.recipe.includes(line), `the config has ${line}`);
  }
  assert.equal(r18.notes, []);
  assert.match(detectron2Notes(config('r50', ['backbone.output_stride=16'])).join('\n'), /RES5_DILATION 2/);
  assert.match(detectron2Notes(config('r50', ['backbone.width=0.5'])).join('\n'), /STEM_OUT_CHANNELS 32, RES2_OUT_CHANNELS 128, WIDTH_PER_GROUP 32/);
  assert.match(detectron2Notes(config('tiny')).join('\n'), /R18 at width 0\.25, output stride 16: .*RES2_OUT_CHANNELS 64/);
  assert.throws(() => exportDetectron2(patternBackbone(config('tiny')), join(dir, 'tiny.pth')), /--out .*tiny\.pth: the file name must end in \.pkl \(detectron2 unpickles only \.pkl files/);
});

test.run();
