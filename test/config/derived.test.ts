import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backboneChannels, featureMapSize, peakLearningRate, scheduleSteps } from '../../src/config/derived.js';
import { denseGridSize } from '../../src/methods/multisiam.js';
import { ConfigError } from '../../src/config/errors.js';
import { resolveConfig } from '../../src/methods/index.js';
import type { MultiSiamConfig, OutputStride } from '../../src/config/schema.js';

const base = resolveConfig();
const withBackbone = (image_size: number, output_stride: OutputStride, width = 1): MultiSiamConfig => ({
  ...base,
  data: { ...base.data, image_size },
  backbone: { ...base.backbone, output_stride, width },
});

test('feature map follows torchvision arithmetic: /4 stem, then /2 per stage, last stage dilated at stride 16', () => {
  assert.equal(featureMapSize(withBackbone(224, 32)), { h: 7, w: 7 });
  assert.equal(featureMapSize(withBackbone(224, 16)), { h: 14, w: 14 });
  assert.equal(featureMapSize(withBackbone(112, 16)), { h: 7, w: 7 });
  assert.equal(featureMapSize(withBackbone(32, 32)), { h: 1, w: 1 });
  // Not a valid config (100 is no multiple of 32), but the arithmetic is torchvision's ceil-like chain.
  assert.equal(featureMapSize(withBackbone(100, 32)), { h: 4, w: 4 });
});

test('dense grid is the feature map for offset alignment and S×S for RoI alignment', () => {
  const roi = resolveConfig({ sets: ['alignment=roi', 'data.roi_size=5'] });
  assert.equal(denseGridSize(roi), { h: 5, w: 5 });
  assert.equal(denseGridSize(base), { h: 7, w: 7 });
});

test('channels: round(c·w) on every count, Bottleneck output included', () => {
  const r50 = backboneChannels(base);
  assert.equal(r50, { stem: 64, inner: [64, 128, 256, 512], out: [256, 512, 1024, 2048] });
  const r18 = backboneChannels(resolveConfig({ preset: 'r18' }));
  assert.equal(r18.out, [64, 128, 256, 512]);
  assert.equal(r18.inner, r18.out);
  const narrow = backboneChannels(withBackbone(224, 32, 0.3));
  assert.equal(narrow.inner, [19, 38, 77, 154]);
  assert.equal(narrow.out, [77, 154, 307, 614], 'round(256·0.3) = 77, not 4·round(64·0.3) = 76');
});

test('channel rounding halves to even, like Python round()', () => {
  assert.is(backboneChannels(withBackbone(224, 32, 2.5 / 64)).stem, 2);
  assert.is(backboneChannels(withBackbone(224, 32, 3.5 / 64)).stem, 4);
});

test('peak learning rate is base_lr × batch / 256', () => {
  assert.is(peakLearningRate(base), 1.0);
  assert.is(peakLearningRate(resolveConfig({ preset: 'r50' })), 0.25);
  assert.is(peakLearningRate(resolveConfig({ preset: 'tiny', sets: ['optim.base_lr=0.5'] })), 0.5 * 16 / 256);
});

test('schedule in steps needs no dataset size; in epochs it uses floor(images / batch)', () => {
  assert.equal(scheduleSteps(resolveConfig({ preset: 'tiny' })), { stepsPerEpoch: null, totalSteps: 1000, warmupSteps: 50 });
  assert.equal(scheduleSteps(base, 1000), { stepsPerEpoch: 3, totalSteps: 600, warmupSteps: 15 });
  const mixed = resolveConfig({ preset: 'tiny', sets: ['optim.warmup_epochs=0.5'] });
  assert.equal(scheduleSteps(mixed, 1600), { stepsPerEpoch: 100, totalSteps: 1000, warmupSteps: 50 });
});

test('schedule errors name the field, the value and what is allowed', () => {
  assert.throws(() => scheduleSteps(base), (e: unknown) =>
    e instanceof ConfigError && e.message.includes("config field 'train.epochs': 200 epochs need the dataset size") && e.message.includes('train.steps'));
  assert.throws(() => scheduleSteps(base, 100), (e: unknown) =>
    e instanceof ConfigError && e.message === "config field 'train.batch_size': 256 is larger than the dataset (100 images); allowed: integer in [2, 100]");
  const longWarmup = resolveConfig({ preset: 'tiny', sets: ['optim.warmup_epochs=10'] });
  assert.throws(() => scheduleSteps(longWarmup, 1600), (e: unknown) =>
    e instanceof ConfigError && e.message.includes("'optim.warmup_epochs', 'train.steps'") && e.message.includes('1000 steps does not fit a run of 1000 steps'));
});

test.run();
