/**
 * Where a training step's CPU time goes: ONNX Runtime's per-node profile of a bundle's train step
 * and target forward, with the session settings the trainer uses (optimization 'basic', ONNX
 * Runtime's default thread count unless --threads), kernel time summed by phase and op type.
 * `multisiam bench` says how long the phases take; this names what bounds them.
 *
 *   node dist/tools/profile-step.js [--preset tiny] [--set k=v …] [--steps 5] [--threads N] [--top 14]
 *
 * Phases of the train step, from node names: the backward pass (autodiff scopes its nodes under
 * `<forward scope>/grad`), the forward pass (the other nodes grad.onnx also has) and the update
 * (optimizer, EMA, enqueue, finiteness: the nodes only train_step has). Feeds: the bundle's tensors and random data
 * (tools/run-preset-step.ts). The first run is a warm-up and not counted.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { type GraphKey, readBundle, readBundleTensors, writeBundle } from '../src/bundle/bundle.js';
import { resolveConfig } from '../src/methods/index.js';
import type { TensorData } from '../src/onnx/dtype.js';
import { loadModel } from '../src/onnx/serialize.js';
import { feedsFor } from './run-preset-step.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const sets = process.argv.flatMap((a, i) => (a === '--set' && process.argv[i + 1] ? [process.argv[i + 1]!] : []));
const preset = arg('preset', 'tiny');
const steps = Number(arg('steps', '5'));
const threads = process.argv.includes('--threads') ? Number(arg('threads', '0')) : undefined;
const top = Number(arg('top', '14'));

interface ProfileEvent {
  readonly cat: string;
  readonly name: string;
  readonly ts: number;
  readonly dur: number;
  readonly args?: { readonly op_name?: string };
}

/** 'backward', 'forward' or 'update' for a train-step node; `inGrad`: the node names of grad.onnx. */
function phaseOf(node: string, inGrad: ReadonlySet<string>): string {
  if (node.includes('/grad')) return 'backward';
  return inGrad.has(node) ? 'forward' : 'update';
}

/** Mean kernel milliseconds per run by phase and by (phase, op type), and the wall time per run. */
async function profileGraph(file: string, feeds: Readonly<Record<string, TensorData>>, shapes: ReadonlyMap<string, readonly number[]>, phaseOf: (node: string) => string): Promise<{ wall: number[]; phases: Map<string, number>; ops: Map<string, number> }> {
  const dir = mkdtempSync(join(tmpdir(), 'multisiam-profile-'));
  try {
    const session = await ort.InferenceSession.create(file, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'basic',
      ...(threads !== undefined ? { intraOpNumThreads: threads } : {}),
      enableProfiling: true,
      profileFilePrefix: join(dir, 'run'),
    });
    const tensors: Record<string, ort.Tensor> = {};
    for (const name of session.inputNames) {
      const data = feeds[name]!;
      tensors[name] = new ort.Tensor(data instanceof Uint8Array ? 'uint8' : data instanceof BigInt64Array ? 'int64' : 'float32', data, [...shapes.get(name)!]);
    }
    const wall: number[] = [];
    for (let i = 0; i < 1 + steps; i++) {
      const t0 = performance.now();
      await session.run(tensors);
      wall.push(performance.now() - t0);
    }
    session.endProfiling();
    await session.release();
    const events = JSON.parse(readFileSync(join(dir, readdirSync(dir).find((f) => f.endsWith('.json'))!), 'utf8')) as ProfileEvent[];
    const warmup = events.find((e) => e.cat === 'Session' && e.name === 'model_run');
    const phases = new Map<string, number>();
    const ops = new Map<string, number>();
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
      if (warmup && e.ts < warmup.ts + warmup.dur) continue;
      const phase = phaseOf(e.name.slice(0, -'_kernel_time'.length));
      const key = `${phase} ${e.args?.op_name ?? '?'}`;
      ops.set(key, (ops.get(key) ?? 0) + e.dur / 1000 / steps);
      phases.set(phase, (phases.get(phase) ?? 0) + e.dur / 1000 / steps);
    }
    return { wall: wall.slice(1), phases, ops };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (v: number): string => `${v.toFixed(1).padStart(8)} ms`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'multisiam-profile-bundle-'));
  try {
    writeBundle(resolveConfig({ preset, sets, onWarning: () => undefined }), dir);
    const bundle = readBundle(dir);
    const tensors = readBundleTensors(bundle);
    const cfg = bundle.manifest.config;
    const gradNodes = new Set(loadModel(join(dir, bundle.manifest.graphs.grad.file)).nodes.map((n) => n.name));
    console.log(`ONNX Runtime CPU profile, preset ${preset}${sets.length ? ` (${sets.join(', ')})` : ''}: method ${cfg.method}, batch ${cfg.train.batch_size}, ${cfg.data.image_size}², ${threads ?? 'default'} thread(s), ${steps} runs after a warm-up`);
    for (const key of ['target_forward', 'train_step'] as const satisfies readonly GraphKey[]) {
      const shapes = new Map(bundle.manifest.graphs[key].inputs.map((i) => [i.name, i.shape] as const));
      const phase = key === 'train_step' ? (node: string) => phaseOf(node, gradNodes) : () => 'forward';
      const p = await profileGraph(join(dir, bundle.manifest.graphs[key].file), feedsFor(bundle, key, tensors), shapes, phase);
      const kernels = [...p.phases.values()].reduce((a, b) => a + b, 0);
      console.log(`\n${key}: wall ${ms(median(p.wall))} (median), kernels ${ms(kernels)}`);
      for (const [phase, t] of [...p.phases].sort((a, b) => b[1] - a[1])) console.log(`  ${phase.padEnd(28)} ${ms(t)}  ${((100 * t) / kernels).toFixed(1).padStart(5)}%`);
      console.log('  top (phase, op type):');
      for (const [op, t] of [...p.ops].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`    ${op.padEnd(26)} ${ms(t)}  ${((100 * t) / kernels).toFixed(1).padStart(5)}%`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
