/**
 * The baselines as plug-ins: with every preset each one resolves (its defaults under the preset),
 * builds all its graphs and serialises them, and its wiring holds together — every target link joins
 * a target_forward output to a train_step input of the same shape, every queue a step fills gets its
 * rows input, the online-only modules exist online and not in the target network — and its rules
 * refuse what it cannot train. Running them is the business of learns.test.ts (tiny) and
 * baselines.test.ts (against PyTorch).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PRESET_NAMES } from '../../src/config/index.js';
import { NAMES } from '../../src/graphs/io.js';
import { methodFor, resolveConfig } from '../../src/methods/index.js';
import { buildBundleGraphs } from '../../src/bundle/graphs.js';
import { writeModel } from '../../src/onnx/serialize.js';

const BASELINES = ['mocov2', 'densecl', 'pixpro'] as const;

const TERMS: Record<(typeof BASELINES)[number], string[]> = { mocov2: ['global'], densecl: ['global', 'dense'], pixpro: ['pixel'] };

for (const preset of PRESET_NAMES) {
  for (const method of BASELINES) {
    test(`${method}, preset ${preset}: resolves, builds every graph and wires targets, queues and online-only modules`, () => {
      const cfg = resolveConfig({ preset, sets: [`method=${method}`] });
      const graphs = buildBundleGraphs(cfg);
      for (const g of [graphs.trainStep, graphs.grad, graphs.targetForward, graphs.backbone]) assert.ok(writeModel(g).model.length > 0, `${g.name} serialises`);
      assert.equal(Object.keys(methodFor(cfg).describe(cfg)).slice(0, 1), ['method']);

      const stepInputs = new Map(graphs.trainStep.inputs.map((i) => [i.value.name, i]));
      const targetOutputs = new Map(graphs.targetForward.outputs.map((o) => [o.name, o.value]));
      assert.ok(graphs.links.length > 0);
      for (const link of graphs.links) {
        const input = stepInputs.get(link.input);
        const output = targetOutputs.get(link.output);
        assert.ok(input && output, `link ${link.output} → ${link.input} joins existing tensors`);
        assert.equal(input!.value.shape, output!.shape, `shape of ${link.output} → ${link.input}`);
      }
      const linked = new Set(graphs.links.map((l) => l.input));
      const unlinked = graphs.trainStep.inputs.filter((i) => i.role === 'data' && /^target_/.test(i.value.name) && !linked.has(i.value.name));
      assert.equal(unlinked.map((i) => i.value.name), [], 'every target input is fed by a link');

      const queues = graphs.trainStep.inputs.filter((i) => i.role === 'queue');
      for (const q of queues) {
        const rows = stepInputs.get(NAMES.queueRows(q.value.name));
        assert.ok(rows, `queue ${q.value.name} has its rows input`);
        assert.is(q.value.shape[0], cfg.moco.queue_size);
        assert.is(rows!.value.shape[0], 2 * cfg.train.batch_size, 'both views enqueue their keys');
        assert.ok(graphs.trainStep.outputs.some((o) => o.name === NAMES.next(q.value.name)), `queue ${q.value.name} is updated`);
      }
      assert.is(queues.length, { mocov2: 1, densecl: 2, pixpro: 0 }[method]);

      const online = graphs.trainStep.inputs.filter((i) => i.role === 'param').map((i) => i.value.name);
      const target = new Set(graphs.trainStep.inputs.filter((i) => i.role === 'target').map((i) => i.value.name));
      for (const prefix of methodFor(cfg).onlineOnly(cfg)) {
        assert.ok(online.some((n) => n.startsWith(prefix)), `online-only '${prefix}' exists online`);
        assert.ok(![...target].some((n) => n.startsWith(NAMES.target(prefix))), `online-only '${prefix}' has no target copy`);
      }
      assert.equal(graphs.trainStep.outputs.filter((o) => o.name.startsWith(NAMES.lossTerm(''))).map((o) => o.name), TERMS[method].map(NAMES.lossTerm));
    });
  }
}

test('method defaults: the papers\' values below the presets', () => {
  const moco = resolveConfig({ sets: ['method=mocov2'] });
  assert.is(moco.framework, 'moco');
  assert.is(moco.moco.queue_size, 65536);
  assert.equal([moco.heads.proj_hidden, moco.heads.proj_dim], [2048, 128]);
  assert.equal([moco.optim.name, moco.optim.base_lr, moco.optim.weight_decay], ['sgd', 0.03, 1e-4]);
  assert.equal([moco.data.min_crop_scale, moco.data.view2.blur_p, moco.data.view2.solarize_p, moco.data.view1.saturation], [0.2, 0.5, 0, 0.4]);
  assert.is(resolveConfig({ preset: 'tiny', sets: ['method=mocov2'] }).moco.queue_size, 2048, 'the tiny preset still shortens the queue');
  const dense = resolveConfig({ preset: 'r18', sets: ['method=densecl'] });
  assert.equal([dense.heads.dense_proj_hidden, dense.heads.dense_proj_dim, dense.loss.w_global, dense.loss.w_dense], [2048, 128, 0.5, 0.5]);
  const pix = resolveConfig({ sets: ['method=pixpro'] });
  assert.equal([pix.framework, pix.ema.base_momentum, pix.loss.w_global, pix.pixpro.gamma, pix.pixpro.pos_ratio], ['byol', 0.99, 0, 2, 0.7]);
  assert.equal(methodFor(pix).momentum(pix), { kind: 'cosine', base: 0.99 });
  assert.equal(methodFor(moco).momentum(moco), { kind: 'constant', value: 0.999 });
});

test('rules: a queue too short for both views\' keys, no loss left, a baseline outside its framework', () => {
  assert.throws(() => resolveConfig({ preset: 'tiny', sets: ['method=mocov2', 'moco.queue_size=20'] }), /queue_size 20 cannot take the 32 keys/);
  assert.throws(() => resolveConfig({ preset: 'tiny', sets: ['method=densecl', 'loss.w_global=0', 'loss.w_dense=0'] }), /nothing is trained/);
  assert.throws(() => resolveConfig({ preset: 'tiny', sets: ['method=mocov2', 'loss.w_global=0'] }), /no other loss/);
  assert.throws(() => resolveConfig({ preset: 'tiny', sets: ['method=pixpro', 'loss.w_dense=0'] }), /nothing is trained/);
  assert.throws(() => resolveConfig({ preset: 'tiny', sets: ['method=pixpro', 'framework=moco'] }), /not a defined baseline/);
  assert.throws(() => resolveConfig({ preset: 'tiny', sets: ['method=densecl', 'framework=byol'] }), /not a defined baseline/);
});

test.run();
