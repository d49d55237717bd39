/**
 * State that stays on the device (SPEC §3, §5): the resident loop follows the host loop's trajectory
 * on the CPU, host memory stays flat over many steps, and on WebGPU (Mesa lavapipe in CI) a resident
 * run ends where the CPU run ends.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeBundle } from '../../src/bundle/bundle.js';
import { readSafetensors } from '../../src/bundle/safetensors.js';
import { readMetrics } from '../../src/train/metrics.js';
import { resolveConfig } from '../../src/methods/index.js';
import { PairLoader } from '../../src/data/loader.js';
import { GPU_POLICY } from '../../src/onnx/policy.js';
import { Graph } from '../../src/onnx/ir.js';
import { writeModel } from '../../src/onnx/serialize.js';
import { Session } from '../../src/runtime/session.js';
import { readBundleTensors } from '../../src/bundle/bundle.js';
import { checkpointDir } from '../../src/train/checkpoint.js';
import { pairOptionsFor } from '../../src/train/data.js';
import { prepareRun } from '../../src/train/run.js';
import { stateFromTensors } from '../../src/train/state.js';
import { StepRunner } from '../../src/train/step.js';
import { type Residency, train } from '../../src/train/trainer.js';
import type { ExecutionProvider } from '../../src/runtime/providers.js';

const scratch = mkdtempSync(join(tmpdir(), 'multisiam-resident-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));
const quiet = { write: () => true, isTTY: false };
const silent = { warn: () => undefined };

function config(steps: number, sets: readonly string[] = []) {
  return resolveConfig({ preset: 'tiny', sets: ['data.workers=0', `train.steps=${steps}`, 'optim.warmup_steps=2', 'train.checkpoint_every=0', 'train.log_every=1', ...sets], onWarning: () => undefined });
}

async function runTo(name: string, steps: number, options: { residency?: Residency; ep?: ExecutionProvider; bundle?: string; sets?: readonly string[] }): Promise<Map<string, Float32Array>> {
  const out = join(scratch, name);
  const run = await prepareRun({ data: 'synthetic:32', out, config: config(steps, options.sets), ...(options.bundle ? { bundle: options.bundle } : {}) });
  await train(run, { status: quiet, logger: silent, ...(options.residency ? { residency: options.residency } : {}), ...(options.ep ? { ep: options.ep } : {}) });
  const tensors = readSafetensors(join(checkpointDir(out, steps), 'params.safetensors')).tensors;
  return new Map([...tensors].map(([k, t]) => [k, t.data as Float32Array]));
}

/** The largest element difference, and ‖a − b‖/‖b‖ over all state tensors together. */
function maxDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): { abs: number; l2: number } {
  assert.equal([...a.keys()].sort(), [...b.keys()].sort());
  let abs = 0;
  let d2 = 0;
  let n2 = 0;
  for (const [k, x] of a) {
    const y = b.get(k)!;
    for (let i = 0; i < x.length; i++) {
      const d = x[i]! - y[i]!;
      abs = Math.max(abs, Math.abs(d));
      d2 += d * d;
      n2 += y[i]! * y[i]!;
    }
  }
  return { abs, l2: Math.sqrt(d2 / n2) };
}

function losses(name: string): number[] {
  return readMetrics(join(scratch, name, 'metrics.jsonl')).map((r) => r.loss as number);
}

const shared = join(scratch, 'bundle');
writeBundle(config(20), shared);

test('20 steps with the state resident end bit-identical to the host loop', async () => {
  const resident = await runTo('resident', 20, { residency: 'device', bundle: shared });
  const host = await runTo('host', 20, { residency: 'host', bundle: shared });
  const d = maxDiff(resident, host);
  console.log(`    resident vs host loop after 20 steps, max abs diff over all state: ${d.abs}`);
  assert.is(d.abs, 0);
});

test('the CUDA-graph placement (fixed addresses, two state sets in turn) equals the resident loop, for in-graph and host K-means', async () => {
  for (const backend of ['graph', 'ts']) {
    const sets = [`kmeans.backend=${backend}`];
    const bundle = join(scratch, `bundle-${backend}`);
    writeBundle(config(8, sets), bundle);
    const plain = await runTo(`plain-${backend}`, 8, { bundle });
    const captured = await runTo(`captured-${backend}`, 8, { bundle, residency: 'device', sets: [...sets, 'runtime.cuda_graph=true'] });
    const d = maxDiff(captured, plain);
    console.log(`    captured vs resident, K-means in the ${backend === 'graph' ? 'graph' : 'host'}, 8 steps: max abs diff ${d.abs}`);
    assert.is(d.abs, 0);
  }
});

test('host memory stays flat over 500 resident steps', async () => {
  const cfg = config(500, ['train.batch_size=4', 'data.image_size=64', 'heads.proj_hidden=32', 'heads.proj_dim=16', 'heads.pred_hidden=32', 'heads.dense_proj_hidden=32', 'heads.dense_proj_dim=16', 'heads.dense_pred_hidden=32']);
  const run = await prepareRun({ data: 'synthetic:16', out: join(scratch, 'memory'), config: cfg });
  const store = stateFromTensors(readBundleTensors(run.bundle), run.bundle.manifest, run.bundle.dir);
  const runner = await StepRunner.create(run, store, {}, 'cpu', 'device');
  const loader = new PairLoader({ data: run.data, pair: pairOptionsFor(cfg), batchSize: 4, seed: 0, workers: 0, prefetch: 1 });
  const { batch } = await loader.next();
  await loader.close();
  // Collected garbage before each sample, so the figure is what stays, not when the GC last ran.
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const rss: number[] = [];
  for (let step = 0; step < 500; step++) {
    await runner.run(batch, step, 0.01, 0.99);
    if (step % 50 === 49) {
      gc();
      rss.push(process.memoryUsage().rss / 2 ** 20);
    }
  }
  await runner.release();
  const early = Math.min(...rss.slice(0, 3));
  const late = Math.max(...rss.slice(-3));
  console.log(`    RSS (MiB) every 50 steps: ${rss.map((r) => r.toFixed(0)).join(' ')}`);
  assert.ok(late - early < 24, `RSS grew from ${early.toFixed(1)} to ${late.toFixed(1)} MiB`);
});

/** Why WebGPU cannot run here, or null when it can. */
async function webgpuUnavailable(): Promise<string | null> {
  const g = new Graph('probe');
  g.output('y', g.input('x', 'float32', [1]));
  try {
    await (await Session.create(writeModel(g).model, { ep: 'webgpu' }, 'probe')).release();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}
const webgpu = await webgpuUnavailable();

if (webgpu) {
  test.skip(`webgpu: no adapter here (${webgpu.slice(0, 80)}…)`, () => undefined);
} else {
  // Trajectories, not single tensors: a BN weight's gradient cancels, so its few-step value can
  // differ by percents between any two float32 kernels (ort-node-facts.md) while the run agrees.
  test('webgpu: 5 tiny steps with the state resident end within 1e-4 of the CPU run', async () => {
    const gpuBundle = join(scratch, 'bundle-gpu');
    writeBundle(config(5), gpuBundle, { policy: GPU_POLICY });
    const gpu = await runTo('webgpu', 5, { ep: 'webgpu', bundle: gpuBundle });
    const cpu = await runTo('cpu-for-webgpu', 5, { ep: 'cpu', bundle: gpuBundle });
    const without = (m: Map<string, Float32Array>, prefix: string) => new Map([...m].filter(([k]) => !k.startsWith(prefix)));
    // Momentum buffers hold raw gradients, where single BN tensors legitimately differ; the weights they moved must not.
    const weights = maxDiff(without(gpu, 'momentum.'), without(cpu, 'momentum.'));
    const momentum = maxDiff(gpu, cpu);
    const [lg, lc] = [losses('webgpu'), losses('cpu-for-webgpu')];
    const loss = Math.max(...lg.map((l, i) => Math.abs(l - lc[i]!) / Math.abs(lc[i]!)));
    console.log(`    webgpu vs cpu over 5 steps (gpu policy): losses ${loss.toExponential(2)} (max relative), final online and target tensors ${weights.l2.toExponential(2)} (relative L2; with the momentum buffers ${momentum.l2.toExponential(2)})`);
    assert.ok(loss <= 1e-4, `losses differ by ${loss} (relative)`);
    assert.ok(weights.l2 <= 1e-4, `final online and target tensors differ by ${weights.l2} (relative L2)`);
  });
}

test.run();
