/**
 * Every preset builds a bundle, and every graph of it loads in ONNX Runtime (CPU) from its file and
 * runs one step on every input it declares: parameters, BN statistics and optimizer state from the
 * bundle's params.safetensors (online tensors under their own names, `target.*` for target_forward, `momentum.*`), lr and
 * weight decay from the config, random data of the manifest's shapes (tools/run-preset-step.ts, which
 * runs the same check on demand at any size).
 *
 * Sizes: tiny and r18 run at their full preset size (r18: batch 64, 224²; its train step takes ~40 s
 * and ~5.6 GB on a 2-core CI machine). r50 runs with `train.batch_size=2` — the same graphs otherwise
 * — because its full train step (batch 64 × 224², two views) peaks at ~17 GiB resident and ~90 s on
 * that machine, too close to its 24 GB for CI. `node dist/tools/run-preset-step.js --preset r50` runs
 * the full-size step on demand.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PRESET_NAMES } from '../../src/config/index.js';
import { resolveConfig } from '../../src/methods/index.js';
import { type GraphKey, readBundle, readBundleTensors, writeBundle } from '../../src/bundle/bundle.js';
import { GRAPH_KEYS, type GraphRun, runGraph } from '../../tools/run-preset-step.js';

const scratch = mkdtempSync(join(tmpdir(), 'multisiam-presets-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * `graphs`: which graphs run (all by default). At r18's full size grad.onnx is left out: it is the
 * train step's forward and backward without the update, run at every size in the other cases, and
 * at batch 64 × 224² it would add ~40 s to CI for nothing the train step does not already load.
 */
const CASES: readonly { preset: string; sets: string[]; graphs?: readonly GraphKey[] }[] = [
  { preset: 'tiny', sets: [] },
  { preset: 'r18', sets: [], graphs: GRAPH_KEYS.filter((k) => k !== 'grad') },
  { preset: 'r50', sets: ['train.batch_size=2'] },
];

test('the cases cover every preset', () => {
  assert.equal(CASES.map((c) => c.preset).sort(), [...PRESET_NAMES].sort());
});

for (const { preset, sets, graphs = GRAPH_KEYS } of CASES) {
  test(`${preset}${sets.length ? ` (${sets.join(' ')})` : ' at full size'}: builds, and ${graphs.length === GRAPH_KEYS.length ? 'every graph' : graphs.join(', ')} load${graphs.length === 1 ? 's' : ''} and run${graphs.length === 1 ? 's' : ''} one step`, async () => {
    const cfg = resolveConfig({ preset, sets });
    const dir = join(scratch, preset);
    const built = writeBundle(cfg, dir);
    const bundle = readBundle(dir);
    const tensors = readBundleTensors(bundle);
    const runs = new Map<string, GraphRun>();
    const lines: string[] = [];
    for (const key of graphs) {
      const r = await runGraph(bundle, key, tensors);
      runs.set(key, r);
      const declared = bundle.manifest.graphs[key].outputs;
      assert.equal(Object.keys(r.outputs).sort(), declared.map((o) => o.name).sort(), `${key}: outputs are the manifest's`);
      for (const o of declared) {
        assert.equal(r.outputs[o.name]!.dims, o.shape, `${key}: shape of '${o.name}'`);
        assert.ok(r.outputs[o.name]!.finite, `${key}: '${o.name}' has non-finite values`);
      }
      lines.push(`${key} ${(r.createMs / 1000).toFixed(1)} s + ${(r.runMs / 1000).toFixed(1)} s`);
    }
    console.log(`    ${preset}: built in ${(built.buildMs / 1000).toFixed(1)} s; ${lines.join(', ')}; peak RSS so far ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(1)} GiB`);

    const step = runs.get('train_step')!.outputs;
    const grad = runs.get('grad')?.outputs;
    const loss = step['loss']!.scalar!;
    // Each term is two directions of 2 − 2cos, each in [0, 4] (the dense cluster term likewise).
    for (const term of ['loss_global', 'loss_dense']) assert.ok(step[term]!.scalar! >= 0 && step[term]!.scalar! <= 8, `${term} = ${step[term]!.scalar}`);
    assert.ok(Math.abs(loss - step['loss_global']!.scalar! * cfg.loss.w_global - step['loss_dense']!.scalar! * cfg.loss.w_dense) <= 1e-5 * Math.abs(loss));
    if (grad) assert.ok(Math.abs(grad['loss']!.scalar! - loss) <= 1e-4 * Math.abs(loss), `grad and train_step see the same inputs: ${grad['loss']!.scalar} vs ${loss}`);
    assert.ok(step['grad_norm']!.scalar! > 0, 'non-zero gradient');
    assert.ok(step['next.conv1.weight']!.maxAbs > 0 && step['next.momentum.conv1.weight']!.maxAbs > 0, 'the step updates parameters and momentum');
    assert.equal(runs.get('backbone')!.outputs['features']!.dims, bundle.manifest.graphs.backbone.outputs.find((o) => o.name === 'features')!.shape);
  });
}

test.run();
