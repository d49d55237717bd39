/**
 * `multisiam bench` (SPEC §5): one configuration's training step, timed two ways in one invocation —
 * alone (the step runner on a prepared batch, so nothing else competes) and inside the real loop
 * (data workers, schedules, metrics) — with per-phase medians, pairs/s, peak host and device memory,
 * the bytes a step moves between host and device, and optionally the same step in eager PyTorch
 * (tools/torch_bench.py) on the same machine, for the ratio ours/torch.
 *
 * Benchmarks print figures; they are never timed tests. On a shared machine the minimum over steps is
 * printed beside the median (interference only adds time).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readBundleTensors } from '../bundle/bundle.js';
import { peakLearningRate } from '../config/derived.js';
import type { MultiSiamConfig } from '../config/schema.js';
import { PairLoader } from '../data/loader.js';
import { shapeSize } from '../onnx/dtype.js';
import { DEVICE_POLICIES, type DevicePolicy } from '../onnx/policy.js';
import type { ConcreteProvider } from '../runtime/providers.js';
import { pairOptionsFor } from '../train/data.js';
import { readMetrics } from '../train/metrics.js';
import { type PreparedRun, prepareRun } from '../train/run.js';
import { stateFromTensors } from '../train/state.js';
import { StepRunner, type StepResult } from '../train/step.js';
import { train } from '../train/trainer.js';

export interface BenchOptions {
  /** The configuration to time (preset and --set already applied). */
  readonly config: MultiSiamConfig;
  readonly ep: ConcreteProvider;
  readonly steps: number;
  readonly warmup: number;
  /** Also time the same step in eager PyTorch with this interpreter. */
  readonly torch?: { readonly python: string; readonly tf32: boolean };
  readonly log: (line: string) => void;
}

/** Median and minimum of one phase over the timed steps, ms. */
export interface PhaseTime {
  readonly median: number;
  readonly min: number;
}

export interface TorchFigures {
  readonly device: string;
  readonly dtype: string;
  readonly median_ms: Readonly<Record<string, number>>;
  readonly min_total_ms: number;
  readonly pairs_per_s: number;
  readonly peak_memory_bytes: number;
  readonly gpu: string | null;
}

export interface BenchReport {
  readonly policy: string;
  /** The step alone: per phase and total. */
  readonly alone: Readonly<Record<string, PhaseTime>>;
  /** Inside the training loop (with data workers): per phase, total, data wait and pairs/s. */
  readonly loop: { readonly phases: Readonly<Record<string, PhaseTime>>; readonly pairsPerSec: number; readonly dataWait: number };
  /** Bytes a step moves: up (batch, scalars, host targets) and down (metrics, maps for host K-means). */
  readonly traffic: { readonly up: number; readonly down: number };
  readonly peakHostBytes: number;
  readonly peakDeviceBytes: number | null;
  readonly torch: TorchFigures | null;
}

const PHASES = ['upload_ms', 'target_ms', 'targets_ms', 'step_ms', 'update_ms'] as const;

function summary(values: readonly number[]): PhaseTime {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return { median: sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2, min: sorted[0]! };
}

/** The policy a bundle for `ep` is built with: the config's, or by the provider when it says `auto`. */
export function policyFor(cfg: MultiSiamConfig, ep: ConcreteProvider): DevicePolicy {
  const name = cfg.runtime.device_policy === 'auto' ? (ep === 'cpu' ? 'cpu' : 'gpu') : cfg.runtime.device_policy;
  return DEVICE_POLICIES[name];
}

/** GPU memory in use (bytes) from nvidia-smi, or null where there is none. */
function deviceMemoryUsed(): number | null {
  const r = spawnSync('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 5000 });
  if (r.status !== 0 || !r.stdout) return null;
  const mib = Number(r.stdout.trim().split('\n')[0]);
  return Number.isFinite(mib) ? mib * 2 ** 20 : null;
}

/** Tracks the peak of a sampled quantity while the event loop runs (runs happen on worker threads). */
class PeakSampler {
  private peak: number | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly sample: () => number | null, everyMs: number) {
    this.take();
    this.timer = setInterval(() => this.take(), everyMs);
  }
  private take(): void {
    const v = this.sample();
    if (v !== null) this.peak = Math.max(this.peak ?? 0, v);
  }
  stop(): number | null {
    clearInterval(this.timer);
    this.take();
    return this.peak;
  }
}

/** Bytes up and down per step for this bundle: host-fed data and scalars, metrics and host-K-means maps. */
function trafficOf(run: PreparedRun): BenchReport['traffic'] {
  const m = run.bundle.manifest;
  const bytes = (shape: readonly number[], dtype: string): number => shapeSize(shape) * (dtype === 'uint8' || dtype === 'bool' ? 1 : dtype === 'int64' || dtype === 'float64' ? 8 : 4);
  const stateNames = new Set(m.tensors.map((t) => t.name));
  const device = new Set(m.targets.filter((l) => l.transform.kind === 'copy' || l.transform.backend === 'graph').map((l) => l.input));
  const hostKMeans = m.targets.filter((l) => l.transform.kind === 'kmeans' && l.transform.backend === 'ts');
  const fed = (key: 'train_step' | 'target_forward') => m.graphs[key].inputs.filter((i) => !stateNames.has(i.name) && !device.has(i.name));
  // The batch goes up once for both graphs; scalars, rows and uniforms per graph.
  const seen = new Set<string>();
  let up = 0;
  for (const i of [...fed('target_forward'), ...fed('train_step')]) {
    if (seen.has(i.name)) continue;
    seen.add(i.name);
    up += bytes(i.shape, i.dtype);
  }
  let down = m.graphs.train_step.outputs.filter((o) => o.role === 'metric').reduce((s, o) => s + bytes(o.shape, o.dtype), 0);
  for (const l of hostKMeans) down += bytes(m.graphs.target_forward.outputs.find((o) => o.name === l.output)!.shape, 'float32');
  return { up, down };
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** tools/torch_bench.py on the same configuration, its JSON line parsed. */
async function torchReference(cfg: MultiSiamConfig, options: BenchOptions, dir: string): Promise<TorchFigures> {
  const script = join(ROOT, 'tools', 'torch_bench.py');
  if (!existsSync(script)) throw new Error(`--reference torch: ${script} is missing (it ships with the repository, not the npm package)`);
  const config = join(dir, 'torch-config.json');
  writeFileSync(config, JSON.stringify(cfg));
  const device = options.ep === 'cpu' ? 'cpu' : 'cuda';
  const args = [script, config, '--steps', String(options.steps), '--warmup', String(options.warmup), '--device', device, ...(device === 'cpu' ? ['--threads', String(availableParallelism())] : []), ...(options.torch?.tf32 ? ['--tf32'] : [])];
  const child = spawn(options.torch!.python, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += String(d)));
  child.stderr.on('data', (d) => (err += String(d)));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const line = out.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !line.startsWith('{')) {
    throw new Error(`--reference torch: ${options.torch!.python} ${args.join(' ')} failed (status ${code}): ${(err.trim().split('\n').at(-1) ?? '').slice(0, 300)}; a PyTorch with ${device === 'cuda' ? 'CUDA' : 'CPU'} support is needed (--python PATH)`);
  }
  return JSON.parse(line) as TorchFigures;
}

export async function bench(options: BenchOptions): Promise<BenchReport> {
  const { config: cfg, ep, steps, warmup, log } = options;
  const policy = policyFor(cfg, ep);
  const dir = mkdtempSync(join(tmpdir(), 'multisiam-bench-'));
  try {
    const host = new PeakSampler(() => process.memoryUsage().rss, 250);
    const deviceMemory = ep === 'cuda' ? new PeakSampler(deviceMemoryUsed, 500) : null;

    log(`building the ${cfg.method} bundle (${policy.name} policy) …`);
    const run = await prepareRun({ data: 'synthetic:256', out: join(dir, 'run'), config: cfg, ep, build: { policy }, note: log });

    log(`timing the step alone: ${warmup} warm-up + ${steps} steps on ${ep} …`);
    const store = stateFromTensors(readBundleTensors(run.bundle), run.bundle.manifest, run.bundle.dir);
    const runner = await StepRunner.create(run, store, {}, ep, 'device');
    const loader = new PairLoader({ data: run.data, pair: pairOptionsFor(cfg), batchSize: cfg.train.batch_size, seed: 0, workers: 0, prefetch: 1 });
    const batches = [(await loader.next()).batch, (await loader.next()).batch];
    await loader.close();
    const results: StepResult[] = [];
    const lr = peakLearningRate(cfg);
    for (let i = 0; i < warmup + steps; i++) {
      const t = performance.now();
      const r = await runner.run(batches[i % 2]!, i, lr, 0.996);
      const total = performance.now() - t;
      if (i >= warmup) results.push({ ...r, phases: { ...r.phases, total_ms: total } as StepResult['phases'] });
    }
    await runner.release();
    run.lock.release();
    const alone = Object.fromEntries([...PHASES, 'total_ms'].map((p) => [p, summary(results.map((r) => (r.phases as unknown as Record<string, number>)[p]!))]));

    log(`timing ${warmup + steps} steps inside the training loop (${cfg.data.workers} data workers) …`);
    const loopRun = await prepareRun({ data: 'synthetic:256', out: join(dir, 'loop'), config: { ...cfg, train: { ...cfg.train, steps: warmup + steps, log_every: 1, checkpoint_every: 0 } }, bundle: run.bundle.dir, ep, note: log });
    await train(loopRun, { ep, status: { write: () => true, isTTY: false }, logger: { warn: log } });
    const records = readMetrics(join(loopRun.dir, 'metrics.jsonl')).slice(warmup);
    const num = (r: Record<string, unknown>, k: string): number => Number(r[k]);
    const loop = {
      phases: Object.fromEntries([...PHASES].map((p) => [p, summary(records.map((r) => num(r, p)))])),
      pairsPerSec: summary(records.map((r) => num(r, 'pairs_per_s'))).median,
      dataWait: summary(records.map((r) => num(r, 'data_wait'))).median,
    };

    const peakHostBytes = host.stop() ?? 0;
    const peakDeviceBytes = deviceMemory?.stop() ?? null;
    let torch: TorchFigures | null = null;
    if (options.torch) {
      log(`timing the same step in PyTorch (${options.torch.python}, ${ep === 'cpu' ? 'cpu' : 'cuda'}${options.torch.tf32 ? ', tf32' : ''}) …`);
      torch = await torchReference(cfg, options, dir);
    }
    return { policy: policy.name, alone, loop, traffic: trafficOf(run), peakHostBytes, peakDeviceBytes, torch };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** The report as the table `multisiam bench` prints; the last line is `ratio ours/torch: X` when PyTorch ran. */
export function formatBench(r: BenchReport, cfg: MultiSiamConfig, ep: string): string {
  const lines: string[] = [];
  const b = cfg.train.batch_size;
  lines.push(`multisiam bench: ${cfg.method} (${cfg.framework}), ${cfg.backbone.arch} ×${cfg.backbone.width}, ${cfg.data.image_size}px, batch ${b}, on ${ep} (${r.policy} gradient policy); load average ${loadavg()[0]!.toFixed(2)} on ${availableParallelism()} cores`);
  lines.push('');
  lines.push('phase (ms, median / min)     alone              in the loop');
  const row = (label: string, a?: PhaseTime, l?: PhaseTime): string => `  ${label.padEnd(24)} ${(a ? `${a.median.toFixed(1)} / ${a.min.toFixed(1)}` : '-').padStart(16)}   ${(l ? `${l.median.toFixed(1)} / ${l.min.toFixed(1)}` : '-').padStart(16)}`;
  const names: Record<string, string> = { upload_ms: 'upload (batch)', target_ms: 'target forward', targets_ms: 'targets (K-means, host)', step_ms: 'train step', update_ms: 'updates (adopt state)' };
  for (const p of PHASES) lines.push(row(names[p]!, r.alone[p], r.loop.phases[p]));
  lines.push(row('total', r.alone['total_ms']));
  const aloneRate = (1000 * b) / r.alone['total_ms']!.median;
  lines.push('');
  lines.push(`  pairs/s: alone ${aloneRate.toFixed(1)}, in the loop ${r.loop.pairsPerSec.toFixed(1)} (data wait ${(100 * r.loop.dataWait).toFixed(1)}%)`);
  lines.push(`  host↔device per step: ${(r.traffic.up / 2 ** 20).toFixed(2)} MiB up, ${(r.traffic.down / 1024).toFixed(1)} KiB down`);
  lines.push(`  peak memory: host ${mib(r.peakHostBytes)}${r.peakDeviceBytes !== null ? `, device ${mib(r.peakDeviceBytes)} (nvidia-smi, whole GPU)` : ''}`);
  if (r.torch) {
    const t = r.torch;
    lines.push('');
    lines.push(`PyTorch ${t.dtype} on ${t.gpu ?? t.device}, ms median: ${Object.entries(t.median_ms).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}; min total ${t.min_total_ms.toFixed(1)}; ${t.pairs_per_s.toFixed(1)} pairs/s; peak ${mib(t.peak_memory_bytes)}`);
    lines.push(`ratio ours/torch: ${(r.alone['total_ms']!.median / t.median_ms['total']!).toFixed(2)}`);
  }
  return lines.join('\n');
}
