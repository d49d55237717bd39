import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backboneChannels, featureMapSize } from '../../src/config/derived.js';
import { resolveConfig } from '../../src/methods/index.js';
import { denseGridSize } from '../../src/methods/multisiam.js';
import { PRESET_NAMES } from '../../src/config/presets.js';

test('every preset resolves without warnings', () => {
  assert.equal(PRESET_NAMES, ['tiny', 'r18', 'r50']);
  for (const preset of PRESET_NAMES) {
    const warnings: string[] = [];
    resolveConfig({ preset, onWarning: (m) => warnings.push(m) });
    assert.equal(warnings, [], preset);
  }
});

test('tiny: ResNet-18 at width 1/4, 112×112, stride 16, 7×7 dense map, narrow heads, batch 16', () => {
  const c = resolveConfig({ preset: 'tiny' });
  assert.equal(c.backbone, { arch: 'resnet18', width: 0.25, output_stride: 16 });
  assert.is(c.data.image_size, 112);
  assert.equal(featureMapSize(c), { h: 7, w: 7 });
  assert.equal(denseGridSize(c), { h: 7, w: 7 });
  assert.equal(backboneChannels(c).out, [16, 32, 64, 128]);
  assert.equal(c.heads, {
    proj_hidden: 512, proj_dim: 128, pred_hidden: 512,
    dense_proj_hidden: 512, dense_proj_dim: 128, dense_pred_hidden: 512,
  });
  assert.is(c.train.batch_size, 16);
  assert.is(c.train.steps, 1000);
  assert.is(c.train.epochs, 0, 'a preset that sets train.steps clears the default epochs');
  assert.is(c.optim.warmup_steps, 50);
  assert.is(c.optim.warmup_epochs, 0);
});

test('r18 and r50: 224×224 at stride 32 give a 7×7 dense map, batch 64', () => {
  for (const [preset, arch, channels] of [['r18', 'resnet18', 512], ['r50', 'resnet50', 2048]] as const) {
    const c = resolveConfig({ preset });
    assert.is(c.backbone.arch, arch);
    assert.is(c.backbone.width, 1);
    assert.is(c.backbone.output_stride, 32);
    assert.is(c.data.image_size, 224);
    assert.is(c.train.batch_size, 64);
    assert.equal(featureMapSize(c), { h: 7, w: 7 });
    assert.is(backboneChannels(c).out[3], channels);
  }
  const r50 = resolveConfig({ preset: 'r50' });
  assert.is(r50.heads.proj_hidden, 4096);
  assert.is(r50.heads.proj_dim, 256);
  assert.is(r50.heads.dense_pred_hidden, 4096);
});

test.run();
