/**
 * CPU benchmark of one training step: ResNet-18 (width 1, output stride 32, torchvision's fc to
 * 1000 classes), cross-entropy, backward, SGD with momentum — ours (ONNX Runtime CPU, the train-step
 * graph from src/graphs/optimizers.ts, at graphOptimizationLevel 'basic' and 'all') against PyTorch CPU
 * (tools/torch_bench_step.py, /usr/bin/python3, same thread count), measured in one run. Prints
 * medians of --steps steps after --warmup, the ratio, and a per-phase split.
 *
 *   node dist/tools/bench-step.js [--threads N] [--batch 16] [--size 112] [--steps 10] [--warmup 3]
 *   node dist/tools/bench-step.js --profile      # ONNX Runtime's per-node profile of our step, by phase and op
 *
 * Ours carries parameters, momentum and BN statistics from step to step (TensorStore.advance), as
 * the trainer does. The phase split runs two more graphs on the same inputs: forward + loss only,
 * and forward + loss + gradients (grad.onnx); backward = grad − forward, optimizer (+ copying the
 * updated tensors out) = step − grad.
 *
 * All five contenders stay loaded and take turns, one step each per round (ours: forward, grad,
 * step at 'basic', step at 'all'; then PyTorch, a long-lived process answering "step" on stdin), so
 * that load from other processes and thermal drift hit them alike. The load average is printed; on
 * a shared machine the minimum over rounds is the figure to trust (interference only adds time).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import ort from 'onnxruntime-node';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assembleGradGraph, assembleTrainStep } from '../src/graphs/optimizers.js';
import { resnet } from '../src/graphs/resnet.js';
import { logSoftmax } from '../src/onnx/composite/math.js';
import { shapeSize } from '../src/onnx/dtype.js';
import { Graph, type Value } from '../src/onnx/ir.js';
import { mul, neg, reduceMean, reduceSum } from '../src/onnx/ops/index.js';
import { writeModel } from '../src/onnx/serialize.js';
import { TensorStore } from '../src/runtime/residency.js';
import { type Feed, Session } from '../src/runtime/session.js';
import { uniformStream } from '../src/data/rng.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer, got '${process.argv[i + 1]}'`);
  return v;
}

const threads = arg('threads', availableParallelism());
const batch = arg('batch', 16);
const size = arg('size', 112);
const steps = arg('steps', 10);
const warmup = arg('warmup', 3);
const classes = 1000;

type Kind = 'forward' | 'grad' | 'step';

/** ResNet-18 + cross-entropy, assembled as a forward-only, gradient or full train-step graph. */
function build(kind: Kind): Graph {
  const g = new Graph(`resnet18-${kind}`);
  const x = g.input('x', 'float32', [batch, 3, size, size]);
  const y = g.input('y', 'float32', [batch, classes]);
  const { logits } = resnet(x, { depth: 18, width: 1, outputStride: 32, training: true, classes });
  const loss: Value = neg(reduceMean(reduceSum(mul(y, logSoftmax(logits!, 1)), [1])));
  if (kind === 'forward') g.output('loss', loss);
  else if (kind === 'grad') assembleGradGraph(g, loss, { bufferUpdates: true });
  else assembleTrainStep(g, loss, { kind: 'sgd', momentum: 0.9 });
  return g;
}


/** Feeds for every input of `g`: parameters and buffers from their init, zero state, random data. */
function feedsFor(g: Graph): Map<string, Float32Array> {
  const r = uniformStream(1);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const out = new Map<string, Float32Array>();
  for (const input of g.inputs) {
    const n = shapeSize(input.value.shape);
    const data = new Float32Array(n);
    const init = input.init;
    if (input.value.name === 'y') for (let b = 0; b < batch; b++) data[b * classes + Math.floor(r() * classes)] = 1;
    else if (input.value.name === 'lr') data[0] = 0.05;
    else if (input.value.name === 'weight_decay') data[0] = 1e-4;
    else if (input.role === 'data') for (let i = 0; i < n; i++) data[i] = gauss();
    else if (init) for (let i = 0; i < n; i++) data[i] = init.kind === 'normal' ? init.std * gauss() : init.kind === 'uniform' ? init.bound * (2 * r() - 1) : init.kind === 'constant' ? init.value : 0;
    out.set(input.value.name, data);
  }
  return out;
}

const median = (a: number[]): number => {
  const s = [...a].sort((p, q) => p - q);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** One of our graphs, loaded, with its state; `step()` runs it once and returns the wall time. */
interface Contender {
  readonly label: string;
  readonly createMs: number;
  step(): Promise<number>;
  close(): Promise<void>;
}

async function ours(kind: Kind, optimization: 'basic' | 'all'): Promise<Contender> {
  const g = build(kind);
  const model = writeModel(g).model;
  const t0 = performance.now();
  const session = await Session.create(model, { threads, optimization }, g.name);
  const createMs = performance.now() - t0;
  const store = new TensorStore();
  for (const [name, data] of feedsFor(g)) store.set(name, data);
  return {
    label: `${kind}@${optimization}`,
    createMs,
    async step() {
      const start = performance.now();
      const result = await session.execute(store.feeds(session.inputNames) as Record<string, Feed>);
      await result.scalar('loss');
      if (kind === 'step') store.advance(result);
      result.dispose();
      return performance.now() - start;
    },
    async close() {
      await session.release();
      store.dispose();
    },
  };
}

interface TorchStep {
  step_ms: number;
  forward_ms: number;
  backward_ms: number;
  optimizer_ms: number;
}

/** tools/torch_bench_step.py --serve: one PyTorch step per request. */
async function torchServer(): Promise<{ version: string; threads: number; step(): Promise<TorchStep>; close(): void }> {
  const args = [join(root, 'tools', 'torch_bench_step.py'), '--serve', '--threads', String(threads), '--batch', String(batch), '--size', String(size)];
  const child = spawn('/usr/bin/python3', args, { env: { ...process.env, OMP_NUM_THREADS: String(threads) }, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const r = await lines.next();
    if (r.done) throw new Error(`tools/torch_bench_step.py exited (status ${child.exitCode}); see its error above`);
    return JSON.parse(r.value) as Record<string, unknown>;
  };
  const hello = await next();
  return {
    version: String(hello['torch']),
    threads: Number(hello['threads']),
    async step() {
      child.stdin!.write('step\n');
      return (await next()) as unknown as TorchStep;
    },
    close() {
      child.stdin!.end('quit\n');
    },
  };
}

const fmt = (ms: number): string => `${ms.toFixed(1).padStart(8)} ms`;

async function main(): Promise<void> {
  const stepGraph = build('step');
  const params = stepGraph.inputsWithRole('param').reduce((s, v) => s + v.size, 0);
  console.log(`ResNet-18 (width 1, output stride 32, fc ${classes}) train step: batch ${batch}, ${size}×${size}, ${threads} thread(s), median of ${steps} rounds after ${warmup} warm-up`);
  console.log(`graph: ${stepGraph.nodes.length} nodes, ${(params / 1e6).toFixed(2)} M parameters, model ${(writeModel(stepGraph).model.length / 1024).toFixed(0)} KiB (weights are inputs)`);
  const load0 = loadavg()[0]!;

  const contenders = [await ours('forward', 'basic'), await ours('grad', 'basic'), await ours('step', 'basic'), await ours('forward', 'all'), await ours('grad', 'all'), await ours('step', 'all')];
  const torch = await torchServer();
  const times = new Map<string, number[]>(contenders.map((c) => [c.label, []]));
  const torchTimes: TorchStep[] = [];
  for (let round = 0; round < warmup + steps; round++) {
    for (const c of contenders) {
      const ms = await c.step();
      if (round >= warmup) times.get(c.label)!.push(ms);
    }
    const t = await torch.step();
    if (round >= warmup) torchTimes.push(t);
  }
  torch.close();
  for (const c of contenders) await c.close();

  const med = (label: string): number => median(times.get(label)!);
  const best = (label: string): number => Math.min(...times.get(label)!);
  const tmed = (k: keyof TorchStep): number => median(torchTimes.map((t) => t[k]));
  const tbest = (k: keyof TorchStep): number => Math.min(...torchTimes.map((t) => t[k]));
  /** Median over rounds of ours / PyTorch within the same round. */
  const roundRatio = (label: string): number => median(times.get(label)!.map((v, i) => v / torchTimes[i]!.step_ms));
  const row = (label: string): string => `${fmt(med(label))} ${fmt(best(label))}   ${roundRatio(label).toFixed(2)}×      (${times.get(label)!.map((v) => v.toFixed(0)).join(' ')})`;
  console.log(`load average before ${load0.toFixed(2)}, after ${loadavg()[0]!.toFixed(2)} (${availableParallelism()} CPUs); with other work running, trust 'min' over 'median'\n`);
  console.log(`                                      median         min   ours/PyTorch per round (median)   all rounds`);
  console.log(`ours, ORT CPU, optimization 'basic': ${row('step@basic')}`);
  console.log(`ours, ORT CPU, optimization 'all':   ${row('step@all')}`);
  console.log(`PyTorch ${torch.version} CPU, ${torch.threads} thread(s): ${fmt(tmed('step_ms'))} ${fmt(tbest('step_ms'))}                 (${torchTimes.map((t) => t.step_ms.toFixed(0)).join(' ')})`);
  const level = best('step@basic') <= best('step@all') ? 'basic' : 'all';
  console.log(`\nbest level '${level}': ours / PyTorch = ${(best(`step@${level}`) / tbest('step_ms')).toFixed(2)}× by min, ${(med(`step@${level}`) / tmed('step_ms')).toFixed(2)}× by median, ${roundRatio(`step@${level}`).toFixed(2)}× per round`);
  console.log(`session creation: ${contenders.map((c) => `${c.label} ${c.createMs.toFixed(0)} ms`).join(', ')}`);

  console.log(`\nper phase, min over rounds (ours: separate graphs, backward = grad − forward, optimizer = step − grad)`);
  console.log(`  phase                  ours 'basic'    ours 'all'      PyTorch`);
  const phase = (name: string, f: (lv: string) => number, t: number) => console.log(`  ${name.padEnd(20)} ${fmt(f('basic'))}  ${fmt(f('all'))}  ${fmt(t)}`);
  phase('forward + loss', (lv) => best(`forward@${lv}`), tbest('forward_ms'));
  phase('backward', (lv) => best(`grad@${lv}`) - best(`forward@${lv}`), tbest('backward_ms'));
  phase('optimizer + outputs', (lv) => best(`step@${lv}`) - best(`grad@${lv}`), tbest('optimizer_ms'));
  phase('whole step', (lv) => best(`step@${lv}`), tbest('step_ms'));
}

/** Kernel time per (phase, op type) from ONNX Runtime's profiler, over `steps` runs after one warm-up. */
async function profile(): Promise<void> {
  const level = process.argv.includes('--all') ? 'all' : 'basic';
  const g = build('step');
  const forward = new Set(build('forward').nodes.map((n) => n.name));
  const phaseOf = (node: string): string => (node.includes('/grad/') ? 'backward' : forward.has(node) ? 'forward' : g.nodeNamed(node) ? 'optimizer' : 'other');
  const dir = mkdtempSync(join(tmpdir(), 'multisiam-profile-'));
  const session = await ort.InferenceSession.create(writeModel(g).model, { executionProviders: ['cpu'], graphOptimizationLevel: level, intraOpNumThreads: threads, enableProfiling: true, profileFilePrefix: join(dir, 'step') });
  const feeds = Object.fromEntries([...feedsFor(g)].filter(([n]) => session.inputNames.includes(n)).map(([n, d]) => [n, new ort.Tensor('float32', d, [...g.inputNamed(n)!.value.shape])]));
  const wall: number[] = [];
  for (let i = 0; i < 1 + steps; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    wall.push(performance.now() - t0);
  }
  session.endProfiling();
  await session.release();
  const file = readdirSync(dir).find((f) => f.endsWith('.json'))!;
  const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
  rmSync(dir, { recursive: true, force: true });
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  const firstEnd = runs.length > 1 ? (runs[0] as unknown as { ts: number; dur: number }) : null;
  const totals = new Map<string, number>();
  const phases = new Map<string, number>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    if (firstEnd && (e as unknown as { ts: number }).ts < firstEnd.ts + firstEnd.dur) continue; // skip the warm-up run
    const node = e.name.slice(0, -'_kernel_time'.length);
    const phase = phaseOf(node);
    const key = `${phase.padEnd(10)} ${e.args?.op_name ?? '?'}`;
    totals.set(key, (totals.get(key) ?? 0) + e.dur / 1000 / steps);
    phases.set(phase, (phases.get(phase) ?? 0) + e.dur / 1000 / steps);
  }
  console.log(`ONNX Runtime CPU profile of our ResNet-18 step ('${level}', ${threads} thread(s), batch ${batch}, ${size}×${size}): mean kernel time per step over ${steps} runs`);
  console.log(`wall per run: ${wall.slice(1).map((v) => v.toFixed(0)).join(' ')} ms`);
  for (const [phase, ms] of [...phases].sort((a, b) => b[1] - a[1])) console.log(`  ${phase.padEnd(10)} ${fmt(ms)}`);
  console.log('  top (phase, op):');
  for (const [key, ms] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, 16)) console.log(`    ${key.padEnd(34)} ${fmt(ms)}`);
}

(process.argv.includes('--profile') ? profile() : main()).catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
