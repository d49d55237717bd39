import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../../src/config/errors.js';
import type { ResolveOptions } from '../../src/config/load.js';
import { configHash, resolveConfig } from '../../src/methods/index.js';

const dir = mkdtempSync(join(tmpdir(), 'multisiam-config-'));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** The ConfigError message resolveConfig throws for these options. */
function errorOf(options: ResolveOptions): string {
  try {
    resolveConfig(options);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error(`no error for ${JSON.stringify(options)}`);
}

test('a YAML file loads nested keys, lists and booleans', () => {
  const path = file('run.yaml', [
    '# a dense-alignment ablation',
    'alignment: roi',
    'attention:',
    '  residual: true',
    'data:',
    '  ratio: [0.5, 2.0]',
    '  view2: {solarize_p: 0}',
    'kmeans:',
    '  k: 8',
    'optim:',
    '  weight_decay: 1e-4',
    'moco:   # every key commented out',
    '  # queue_size: 4096',
  ].join('\n'));
  const c = resolveConfig({ configFile: path });
  assert.is(c.alignment, 'roi');
  assert.is(c.attention.residual, true);
  assert.equal(c.data.ratio, [0.5, 2.0]);
  assert.is(c.data.view2.solarize_p, 0);
  assert.is(c.data.view1.solarize_p, 0);
  assert.is(c.kmeans.k, 8);
  assert.is(c.optim.weight_decay, 1e-4);
});

test('a JSON file loads', () => {
  const path = file('run.json', JSON.stringify({ method: 'byol', train: { batch_size: 128 }, backbone: { output_stride: 16 } }));
  const c = resolveConfig({ configFile: path });
  assert.is(c.method, 'byol');
  assert.is(c.train.batch_size, 128);
  assert.is(c.backbone.output_stride, 16);
});

test('precedence: defaults ← preset ← file (which may name the preset) ← --set, later --set winning', () => {
  const path = file('prec.yaml', 'preset: tiny\ntrain: {batch_size: 32}\nkmeans: {k: 6}\n');
  const c = resolveConfig({ configFile: path, sets: ['train.batch_size=8', 'kmeans.iters=3', 'kmeans.iters=5'] });
  assert.is(c.data.image_size, 112, 'from the preset');
  assert.is(c.kmeans.k, 6, 'from the file');
  assert.is(c.train.batch_size, 8, '--set beats the file');
  assert.is(c.kmeans.iters, 5, 'the later --set wins');
  assert.is(c.attention.gamma, 2, 'default');
  assert.equal(resolveConfig({ preset: 'tiny', configFile: path }), resolveConfig({ configFile: path }), 'the same preset named twice');
  assert.is(resolveConfig({ preset: 'tiny', configFile: file('p2.yaml', 'train: {batch_size: 32}') }).train.batch_size, 32);
});

test('--set parses each kind per its field', () => {
  const c = resolveConfig({
    sets: [
      'kmeans.k=8', 'optim.base_lr=0.3', 'optim.weight_decay=1.5e-6', 'attention.residual=true',
      'attention.sim=softmax', 'backbone.output_stride=16', 'data.ratio=[0.75,1.333]', 'data.view1.blur_sigma= 0.2, 1.5 ',
    ],
  });
  assert.is(c.kmeans.k, 8);
  assert.is(c.optim.base_lr, 0.3);
  assert.is(c.optim.weight_decay, 1.5e-6);
  assert.is(c.attention.residual, true);
  assert.is(c.attention.sim, 'softmax');
  assert.is(c.backbone.output_stride, 16);
  assert.equal(c.data.ratio, [0.75, 1.333]);
  assert.equal(c.data.view1.blur_sigma, [0.2, 1.5]);
});

test('a duration in steps clears the one in epochs and back; both in one file is an error', () => {
  const steps = resolveConfig({ sets: ['train.steps=500', 'optim.warmup_steps=20'] });
  assert.equal([steps.train.steps, steps.train.epochs, steps.optim.warmup_steps, steps.optim.warmup_epochs], [500, 0, 20, 0]);
  const back = resolveConfig({ preset: 'tiny', sets: ['train.epochs=3', 'optim.warmup_epochs=1'] });
  assert.equal([back.train.steps, back.train.epochs, back.optim.warmup_steps, back.optim.warmup_epochs], [0, 3, 0, 1]);
  const path = file('both.yaml', 'train: {steps: 100, epochs: 10}');
  assert.is(errorOf({ configFile: path }),
    `config fields 'train.epochs', 'train.steps': both set (10 and 100) (in file '${path}'); allowed: one of them, the other left out or 0`);
});

test('out of range: names the field, the value and what is allowed', () => {
  assert.is(errorOf({ sets: ['kmeans.k=0'] }), "config field 'kmeans.k': 0 is out of range; allowed: integer ≥ 1 (from --set kmeans.k=0)");
  assert.is(errorOf({ sets: ['data.iou_threshold=1.5'] }),
    "config field 'data.iou_threshold': 1.5 is out of range; allowed: number in [0, 1] (from --set data.iou_threshold=1.5)");
  assert.is(errorOf({ sets: ['data.image_size=100'] }),
    "config field 'data.image_size': 100 is out of range; allowed: integer ≥ 32, multiple of 16 (from --set data.image_size=100)");
  assert.is(errorOf({ sets: ['data.ratio=[1.5,0.5]'] }),
    "config field 'data.ratio': [1.5,0.5] is not ordered low ≤ high; allowed: list of 2 numbers > 0, low ≤ high (from --set data.ratio=[1.5,0.5])");
});

test('wrong type: names the field, the value and the expected kind', () => {
  const path = file('types.yaml', 'kmeans:\n  k: four\nattention: {residual: yes}\ndata: {ratio: 0.75}\n');
  assert.is(errorOf({ configFile: path }), [
    `config field 'kmeans.k': 'four' is not an integer; allowed: integer ≥ 1 (in file '${path}')`,
    `config field 'attention.residual': 'yes' is not a boolean; allowed: true or false (in file '${path}')`,
    `config field 'data.ratio': 0.75 is not a list; allowed: list of 2 numbers > 0, low ≤ high (in file '${path}')`,
  ].join('\n'));
  assert.is(errorOf({ sets: ['kmeans.k=2.5'] }), "config field 'kmeans.k': 2.5 is not an integer; allowed: integer ≥ 1 (from --set kmeans.k=2.5)");
  assert.is(errorOf({ sets: ['data.ratio=[0.75]'] }),
    "config field 'data.ratio': [0.75] has 1 element; allowed: list of 2 numbers > 0, low ≤ high (from --set data.ratio=[0.75])");
});

test('bad enum: lists the choices and suggests the nearest', () => {
  assert.is(errorOf({ sets: ['alignment=rio'] }),
    "config field 'alignment': 'rio' is not one of the choices (did you mean 'roi'?); allowed: one of 'offset', 'roi' (from --set alignment=rio)");
  assert.is(errorOf({ sets: ['backbone.output_stride=8'] }),
    "config field 'backbone.output_stride': 8 is not one of the choices; allowed: one of 16, 32 (from --set backbone.output_stride=8)");
});

test('unknown key: names it, suggests the closest known key and lists the keys allowed there', () => {
  const path = file('typo.yaml', 'kmeans:\n  kk: 3\n');
  assert.is(errorOf({ configFile: path }),
    `config key 'kmeans.kk' is unknown (in file '${path}'); did you mean 'kmeans.k'? allowed in 'kmeans': k, iters, backend`);
  assert.match(errorOf({ sets: ['roi_size=5'] }), "config key 'roi_size' is unknown (from --set roi_size=5); did you mean 'data.roi_size'? allowed at the top level: method, framework,");
  assert.match(errorOf({ sets: ['attention.gama=3'] }), "did you mean 'attention.gamma'?");
  assert.is(errorOf({ sets: ['kmeans=3'] }), "config key 'kmeans' is a group, not a field (from --set kmeans=3); allowed: one of kmeans.k, kmeans.iters, kmeans.backend");
  const scalar = file('group.yaml', 'kmeans: 3\n');
  assert.is(errorOf({ configFile: scalar }),
    `config key 'kmeans' is a group, not a value, but got 3 (in file '${scalar}'); allowed: a mapping with keys k, iters, backend`);
});

test('every problem of every layer is reported at once', () => {
  const lines = errorOf({ sets: ['kmeans.k=0', 'alignment=rio', 'nope=1'] }).split('\n');
  assert.is(lines.length, 3);
});

test('cross-field violations name every field involved, the values and what is allowed', () => {
  assert.is(errorOf({ sets: ['framework=moco'] }),
    "config fields 'framework', 'alignment': framework 'moco' with alignment 'offset' is not defined (supplement B.2 aligns with RoIAlign before the projectors); allowed: alignment 'roi' when framework is 'moco'");
  assert.is(errorOf({ sets: ['data.image_size=112'] }),
    "config fields 'data.image_size', 'backbone.output_stride': image_size 112 is not a multiple of output_stride 32; allowed: a multiple of 32 (e.g. 128), which gives a feature map of at least 1×1");
  assert.is(errorOf({ preset: 'tiny', sets: ['framework=moco', 'alignment=roi', 'moco.queue_size=8'] }),
    "config fields 'moco.queue_size', 'train.batch_size': queue_size 8 cannot take the 32 keys of one step (both views of batch_size 16); allowed: moco.queue_size ≥ 32");
  assert.is(errorOf({ sets: ['kmeans.k=50'] }),
    "config fields 'kmeans.k', 'alignment', 'data.image_size', 'backbone.output_stride': k 50 exceeds the 49 cells of the 7×7 feature map; allowed: kmeans.k ≤ 49");
  assert.is(errorOf({ sets: ['method=byol', 'framework=moco'] }),
    "config fields 'method', 'framework': method 'byol' with framework 'moco' is not a defined baseline; allowed: framework 'byol' when method is 'byol'");
  assert.match(errorOf({ sets: ['framework=moco', 'alignment=roi', 'dense_target=features'] }), "config fields 'framework', 'dense_target'");
  assert.match(errorOf({ sets: ['data.min_crop_scale=0.9', 'data.max_crop_scale=0.5'] }), 'min_crop_scale 0.9 is above max_crop_scale 0.5');
  assert.match(errorOf({ sets: ['train.epochs=0'] }), "config fields 'train.steps', 'train.epochs': both are 0 (unset)");
  assert.match(errorOf({ sets: ['train.steps=10', 'optim.warmup_steps=10'] }), 'allowed: optim.warmup_steps < 10');
  assert.match(errorOf({ sets: ['loss.w_global=0', 'loss.w_dense=0'] }), 'allowed: w_global + w_dense > 0');
  assert.match(errorOf({ sets: ['backbone.width=0.005'] }), "config field 'backbone.width': width 0.005 gives the stem round(64·0.005) = 0 channels; allowed: width > 1/128");
  assert.is(errorOf({ sets: ['optim.final_lr=2'] }),
    "config fields 'optim.final_lr', 'optim.base_lr', 'train.batch_size': final_lr 2 is above the peak lr 1 (base_lr 1 × batch_size 256 / 256); allowed: optim.final_lr ≤ 1");
});

test('the MoCo variant resolves with RoI alignment', () => {
  const c = resolveConfig({ sets: ['framework=moco', 'alignment=roi'] });
  assert.is(c.framework, 'moco');
});

test('unknown preset: names it, suggests and lists the presets', () => {
  assert.is(errorOf({ preset: 'tiney' }), "unknown preset 'tiney' (from --preset); did you mean 'tiny'? allowed: 'tiny', 'r18', 'r50'");
  const path = file('preset.yaml', 'preset: huge\n');
  assert.is(errorOf({ configFile: path }), `unknown preset 'huge' (in file '${path}'); allowed: 'tiny', 'r18', 'r50'`);
  assert.is(errorOf({ preset: 'r18', configFile: file('tiny.yaml', 'preset: tiny\n') }).split(':')[0], 'preset given twice');
  assert.match(errorOf({ sets: ['preset=tiny'] }), "config key 'preset' cannot be given with --set");
});

test('broken YAML: names the file and the parser line', () => {
  const path = file('broken.yaml', 'kmeans:\n  k: 4\n iters: 3\n');
  assert.is(errorOf({ configFile: path }), `config file '${path}': invalid YAML at line 3, column 2: bad indentation of a mapping entry`);
  const dup = file('dup.yaml', 'kmeans:\n  k: 4\n  k: 5\n');
  assert.match(errorOf({ configFile: dup }), `config file '${dup}': invalid YAML at line 3`);
  assert.match(errorOf({ configFile: dup }), 'duplicated mapping key');
});

test('broken JSON, unreadable file, unknown extension, non-mapping top level', () => {
  const json = file('broken.json', '{\n  "kmeans": {"k": 4,}\n}');
  assert.match(errorOf({ configFile: json }), `config file '${json}': invalid JSON at line 2:`);
  const missing = join(dir, 'missing.yaml');
  assert.match(errorOf({ configFile: missing }), `config file '${missing}' cannot be read: ENOENT`);
  const toml = file('run.toml', 'k = 4');
  assert.is(errorOf({ configFile: toml }), `config file '${toml}': unknown extension '.toml'; allowed: .yaml, .yml, .json`);
  const list = file('list.yaml', '- a\n- b\n');
  assert.match(errorOf({ configFile: list }), `config file '${list}': the top level is ["a","b"]; allowed: a mapping of config keys`);
  assert.equal(resolveConfig({ configFile: file('empty.yaml', '# nothing yet\n') }), resolveConfig());
});

test('fields the configuration ignores warn when a user wrote them, not when a preset did', () => {
  const warnings: string[] = [];
  const onWarning = (m: string) => warnings.push(m);
  resolveConfig({ preset: 'tiny', sets: ['method=byol', 'kmeans.k=8', 'moco.queue_size=4096'], onWarning });
  assert.equal(warnings, [
    "config field 'kmeans.k' is ignored: it is read only when method is 'multisiam' and dense_target is 'kmeans'",
    "config field 'moco.queue_size' is ignored: it is read only when framework is 'moco'",
  ]);
  warnings.length = 0;
  resolveConfig({ sets: ['framework=moco', 'alignment=roi', 'heads.pred_hidden=1024'], onWarning });
  assert.equal(warnings, ["config field 'heads.pred_hidden' is ignored: it is read only when framework is 'byol'"]);
});

test('configHash: stable, sensitive to what is computed, blind to operational and ignored fields', () => {
  const h = configHash(resolveConfig({ preset: 'tiny' }));
  assert.match(h, /^[0-9a-f]{16}$/);
  assert.is(configHash(resolveConfig({ preset: 'tiny' })), h);
  assert.is(configHash(resolveConfig({ configFile: file('tiny2.yaml', 'preset: tiny\n') })), h);
  assert.is.not(configHash(resolveConfig({ preset: 'tiny', sets: ['kmeans.k=5'] })), h);
  assert.is.not(configHash(resolveConfig({ preset: 'tiny', sets: ['train.seed=1'] })), h);
  assert.is(configHash(resolveConfig({ preset: 'tiny', sets: ['data.workers=8', 'train.log_every=1'] })), h);
  assert.is(configHash(resolveConfig({ preset: 'tiny', sets: ['moco.queue_size=4096'], onWarning: () => {} })), h);
});

test.run();
