import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { allowedText, checkValue } from '../../src/config/fields.js';
import { valueAt } from '../../src/config/schema.js';
import { CONFIG, describeConfig, resolveConfig } from '../../src/methods/index.js';

const FIELDS = CONFIG.fields;
const GROUPS = CONFIG.groups;

test('every field path is unique and no field path is also a group', () => {
  const paths = FIELDS.map((f) => f.path);
  assert.is(new Set(paths).size, paths.length);
  for (const p of paths) assert.not.ok(GROUPS.has(p), p);
});

test('every default passes its own field check', () => {
  for (const f of FIELDS) {
    const r = checkValue(f.type, f.default);
    assert.ok('value' in r, `${f.path}: ${JSON.stringify(r)}`);
  }
});

test('defaults resolve to the SPEC §2 values', () => {
  const c = resolveConfig();
  assert.is(c.method, 'multisiam');
  assert.is(c.framework, 'byol');
  assert.is(c.alignment, 'offset');
  assert.is(c.dense_target, 'kmeans');
  assert.is(c.data.min_crop_scale, 0.08);
  assert.equal(c.data.ratio, [3 / 4, 4 / 3]);
  assert.is(c.data.iou_threshold, 0.5);
  assert.is(c.data.iou_max_tries, 20);
  assert.is(c.data.roi_size, 7);
  assert.equal([c.data.view1.blur_p, c.data.view2.blur_p], [1.0, 0.1]);
  assert.equal([c.data.view1.solarize_p, c.data.view2.solarize_p], [0, 0.2]);
  assert.is(c.attention.gamma, 2);
  assert.is(c.attention.residual, false);
  assert.equal(c.kmeans, { k: 4, iters: 10, backend: 'graph' });
  assert.is(c.optim.base_lr, 1.0);
  assert.is(c.optim.weight_decay, 1e-5);
  assert.is(c.optim.trust_coefficient, 0.001);
  assert.is(c.ema.base_momentum, 0.996);
  assert.equal(c.moco, { queue_size: 16384, temperature: 0.2, momentum: 0.999 });
  for (const f of FIELDS) assert.equal(valueAt(c, f.path), f.default, f.path);
});

test('the resolved configuration is frozen', () => {
  const c = resolveConfig();
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.kmeans) && Object.isFrozen(c.data.view1) && Object.isFrozen(c.data.ratio));
});

test('supplement-derived defaults say so in their doc', () => {
  const doc = (p: string) => FIELDS.find((f) => f.path === p)!.doc;
  for (const p of ['data.min_crop_scale', 'optim.base_lr', 'ema.base_momentum']) assert.match(doc(p), 'supplement A4');
  for (const p of ['alignment', 'attention.residual']) assert.match(doc(p), 'supplement A5');
  assert.match(doc('dense_target'), 'supplement B.1');
  assert.match(doc('framework'), 'supplement B.2');
});

test('describeConfig lists every field with its default, allowed values and doc, and the presets', () => {
  const text = describeConfig();
  for (const f of FIELDS) {
    assert.ok(text.includes(`${f.path} = `), f.path);
    assert.ok(text.includes(allowedText(f.type)), f.path);
    assert.ok(text.includes(f.doc), f.path);
  }
  assert.match(text, "kmeans.k = 4    (integer ≥ 1)");
  assert.match(text, "read only when framework is 'moco'");
  for (const p of ['tiny', 'r18', 'r50']) assert.match(text, `  ${p}`);
});

test.run();
