/**
 * The prepared GPU check (issue 7 §6), run on a GPU host by tools/gpu-check.sh in one call: for each
 * item, `multisiam bench` against PyTorch on the same card, then 20-step runs on each GPU provider
 * against the CPU's; one table at the end. Every item runs as its own process with a time limit, so
 * a failure or a hang costs that item only; the script prints as it goes, so a cut-off run still
 * leaves its figures.
 *
 *   node dist/tools/gpu-check.js [--items cuda,webgpu,train,graph] [--presets tiny,r18,r50] [--steps 10] [--budget 540]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensors } from '../src/bundle/safetensors.js';
import { readMetrics } from '../src/train/metrics.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(root, 'dist', 'src', 'cli', 'main.js');
const started = Date.now();

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const items = new Set(arg('items', 'cuda,train,webgpu,graph').split(','));
const presets = arg('presets', 'tiny,r18,r50').split(',');
const steps = arg('steps', '10');
const budget = Number(arg('budget', '540'));
const python = process.env['TORCH_PYTHON'] ?? 'python3';
const rows: string[][] = [['item', 'ours ms/step', 'torch ms/step', 'ratio', 'pairs/s ours (loop)', 'pairs/s torch', 'traffic up/down', 'note']];

function left(): number {
  return budget - (Date.now() - started) / 1000;
}

/** One CLI call with a time limit; its output echoed. */
function cli(label: string, args: readonly string[], limit: number): { ok: boolean; out: string } {
  const seconds = Math.min(limit, Math.floor(left() - 5));
  if (seconds < 20) {
    console.log(`\n== ${label}: skipped, ${left().toFixed(0)} s of the budget left`);
    return { ok: false, out: 'skipped: out of time' };
  }
  console.log(`\n== ${label} (limit ${seconds} s): multisiam ${args.join(' ')}`);
  const t = Date.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: seconds * 1000, env: { ...process.env, TORCH_PYTHON: python } });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  console.log(out.split('\n').filter((l) => !/onnxruntime:|VerifyEachNode|artificially reduced/.test(l)).join('\n'));
  const ok = r.status === 0;
  console.log(`== ${label}: ${ok ? 'done' : r.signal ? `stopped (${r.signal}, over ${seconds} s)` : `failed (status ${r.status})`} in ${((Date.now() - t) / 1000).toFixed(0)} s`);
  return { ok, out };
}

function benchRow(label: string, args: readonly string[], limit: number): void {
  const { ok, out } = cli(label, ['bench', ...args, '--steps', steps, '--warmup', '3', '--reference', 'torch', '--python', python], limit);
  const num = (re: RegExp): string => re.exec(out)?.[1] ?? '-';
  const ours = num(/\n\s+total\s+([\d.]+) \//);
  const torch = num(/total ([\d.]+); min total/);
  const ratio = num(/ratio ours\/torch: ([\d.]+)/);
  const loop = num(/in the loop ([\d.]+) \(data wait/);
  const torchRate = num(/; ([\d.]+) pairs\/s; peak/);
  const traffic = /host↔device per step: ([\d.]+ MiB) up, ([\d.]+ KiB) down/.exec(out);
  rows.push([label, ours, torch, ratio, loop, torchRate, traffic ? `${traffic[1]} / ${traffic[2]}` : '-', ok ? '' : (out.trim().split('\n').at(-1) ?? '').slice(0, 100)]);
}

/** Relative L2 of the difference of two checkpoints' online and target tensors, and the largest loss difference. */
function compareRuns(a: string, b: string, n: number): string {
  const load = (dir: string) => readSafetensors(join(dir, 'checkpoints', `step-${String(n).padStart(6, '0')}`, 'params.safetensors')).tensors;
  const [x, y] = [load(a), load(b)];
  let d2 = 0;
  let n2 = 0;
  for (const [k, t] of x) {
    if (k.startsWith('momentum.')) continue;
    const u = y.get(k)!.data as Float32Array;
    const v = t.data as Float32Array;
    for (let i = 0; i < v.length; i++) {
      d2 += (v[i]! - u[i]!) ** 2;
      n2 += u[i]! ** 2;
    }
  }
  const la = readMetrics(join(a, 'metrics.jsonl')).map((r) => r.loss as number);
  const lb = readMetrics(join(b, 'metrics.jsonl')).map((r) => r.loss as number);
  const loss = Math.max(...la.map((l, i) => Math.abs(l - lb[i]!) / Math.abs(lb[i]!)));
  return `losses ${loss.toExponential(2)} rel, weights ${Math.sqrt(d2 / n2).toExponential(2)} rel L2`;
}

/**
 * 20 tiny steps on each provider from one bundle (built by the first run, with the GPU gradient
 * policy), so the runs differ only in where they ran.
 */
function trainRows(): void {
  const dir = mkdtempSync(join(tmpdir(), 'gpu-check-'));
  try {
    const bundle = join(dir, 'bundle');
    const built = cli('tiny bundle, gpu policy', ['build', '--preset', 'tiny', '--set', 'train.steps=20', '--set', 'optim.warmup_steps=2', '--set', 'train.log_every=1', '--set', 'data.workers=2', '--set', 'runtime.device_policy=gpu', '--out', bundle], 60);
    const runs: Record<string, string> = {};
    for (const ep of built.ok ? ['cpu', 'cuda', 'webgpu'] : []) {
      const out = join(dir, ep);
      if (cli(`20 tiny steps on ${ep}`, ['train', '--bundle', bundle, '--data', 'synthetic:64', '--out', out, '--ep', ep], 240).ok) runs[ep] = out;
    }
    for (const ep of ['cuda', 'webgpu']) {
      rows.push([`20 tiny steps, ${ep} vs cpu`, '-', '-', '-', '-', '-', '-', runs[ep] && runs['cpu'] ? compareRuns(runs[ep]!, runs['cpu']!, 20) : 'a run failed (see above)']);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`gpu-check: items ${[...items].join(', ')}; presets ${presets.join(', ')}; ${steps} timed steps; budget ${budget} s; PyTorch: ${python}`);
console.log(spawnSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8' }).stdout?.trim() ?? 'nvidia-smi: not found');
console.log(spawnSync(python, ['-c', 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())'], { encoding: 'utf8' }).stdout?.trim() ?? `${python}: no torch`);

if (items.has('cuda')) {
  for (const p of presets) {
    benchRow(`${p} cuda fp32`, ['--preset', p, '--ep', 'cuda'], p === 'r50' ? 200 : 120);
    if (p !== 'tiny') benchRow(`${p} cuda tf32`, ['--preset', p, '--ep', 'cuda', '--tf32'], p === 'r50' ? 200 : 120);
  }
}
if (items.has('train')) trainRows();
if (items.has('graph')) benchRow('r18 cuda fp32, CUDA graph', ['--preset', 'r18', '--ep', 'cuda', '--set', 'runtime.cuda_graph=true'], 150);
if (items.has('webgpu')) for (const p of presets) benchRow(`${p} webgpu`, ['--preset', p, '--ep', 'webgpu'], p === 'r50' ? 200 : 120);

const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
console.log('\n' + rows.map((r) => r.map((v, c) => (v ?? '').padEnd(widths[c]!)).join(' | ')).join('\n'));
console.log(`\ngpu-check: ${((Date.now() - started) / 1000).toFixed(0)} s`);
