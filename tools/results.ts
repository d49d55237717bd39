/**
 * The results table (docs/results.md, issue 8 §3): every method the tool has, pre-trained with the
 * same budget on synthetic scenes and scored by the dense linear probe, as mean ± std over seeds,
 * with the exact commands, the wall time per row and a bar chart (docs/results.svg); the hand-written
 * reading of the numbers (docs/results-notes.md) is appended. Runs one
 * `multisiam` command at a time; finished runs and probes are kept under --work and skipped on a
 * second invocation, so a long table can be built in several sittings.
 *
 *   node dist/tools/results.js [--steps 300] [--seeds 0,1,2] [--data synthetic:2000] [--rows byol,multisiam-offset,…]
 *                              [--work runs/results] [--out docs]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(root, 'dist', 'src', 'cli', 'main.js');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

interface Row {
  readonly key: string;
  readonly label: string;
  /** `--set` lines for the method; null for the random-init floor (the bundle's initial weights). */
  readonly sets: readonly string[] | null;
}

const ROWS: readonly Row[] = [
  { key: 'random', label: 'random init (no pre-training)', sets: null },
  // Diagnostic: the random weights with BN statistics (and nothing else) from a run at lr ≈ 0,
  // which separates what BN calibration does to the probe from what learning does.
  { key: 'random-bn', label: 'random weights, BN statistics of the data', sets: ['optim.base_lr=1e-9', 'optim.final_lr=0'] },
  { key: 'byol', label: 'BYOL', sets: ['method=byol'] },
  { key: 'multisiam-offset', label: 'MultiSiam, offset alignment', sets: ['method=multisiam'] },
  { key: 'multisiam-roi', label: 'MultiSiam, RoI alignment', sets: ['method=multisiam', 'alignment=roi'] },
  { key: 'multisiam-features', label: 'MultiSiam w/o K-means', sets: ['method=multisiam', 'dense_target=features'] },
  { key: 'multisiam-moco', label: 'MoCo-based MultiSiam', sets: ['method=multisiam', 'framework=moco', 'alignment=roi'] },
  { key: 'mocov2', label: 'MoCo-v2', sets: ['method=mocov2'] },
  { key: 'densecl', label: 'DenseCL', sets: ['method=densecl'] },
  { key: 'pixpro', label: 'PixPro', sets: ['method=pixpro'] },
];

const steps = Number(arg('steps', '300'));
const seeds = arg('seeds', '0,1,2').split(',').map(Number);
const data = arg('data', 'synthetic:2000');
const work = arg('work', join(root, 'runs', 'results'));
const outDir = arg('out', join(root, 'docs'));
const rowKeys = arg('rows', ROWS.map((r) => r.key).join(',')).split(',');
const rows = ROWS.filter((r) => rowKeys.includes(r.key));

/** Runs one CLI command, echoing it; returns its wall time in seconds. */
function run(args: readonly string[]): number {
  console.log(`$ multisiam ${args.join(' ')}`);
  const t = Date.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`multisiam ${args.join(' ')} failed with status ${r.status}`);
  return (Date.now() - t) / 1000;
}

function trainArgs(row: Row, seed: number, dir: string): string[] {
  return ['train', '--data', data, '--preset', 'tiny', '--steps', String(steps), '--seed', String(seed), ...row.sets!.flatMap((s) => ['--set', s]), '--set', 'train.checkpoint_every=0', '--out', dir];
}

interface Score {
  readonly miou: number;
  readonly accuracy: number;
  readonly seconds: number;
}

/** Pre-trains (unless the row is the floor) and probes one seed; cached in the run directory. */
function score(row: Row, seed: number): Score {
  const dir = join(work, `${row.key}-seed${seed}`);
  const cache = join(dir, 'results-entry.json');
  if (existsSync(cache)) return JSON.parse(readFileSync(cache, 'utf8')) as Score;
  mkdirSync(work, { recursive: true });
  let seconds = 0;
  let probeArgs: string[];
  // A bundle's probe scores its initial weights, and says so in its file name.
  let probeFile: string;
  if (row.sets === null) {
    seconds += run(['build', '--preset', 'tiny', '--set', `train.seed=${seed}`, '--out', dir]);
    probeArgs = ['eval', 'probe', '--bundle', dir, '--seed', '0', '--out', dir];
    probeFile = 'probe-random-init.json';
  } else {
    seconds += run(trainArgs(row, seed, dir));
    probeArgs = ['eval', 'probe', '--run', dir, '--seed', '0'];
    probeFile = 'probe.json';
  }
  seconds += run(probeArgs);
  const probe = JSON.parse(readFileSync(join(dir, probeFile), 'utf8')) as { miou: number; pixel_accuracy: number };
  const s: Score = { miou: probe.miou, accuracy: probe.pixel_accuracy, seconds };
  writeFileSync(cache, JSON.stringify(s));
  return s;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: readonly number[]): number => Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / Math.max(1, xs.length - 1));

const results = rows.map((row) => {
  const scores = seeds.map((seed) => score(row, seed));
  return { row, miou: scores.map((s) => 100 * s.miou), accuracy: scores.map((s) => 100 * s.accuracy), seconds: mean(scores.map((s) => s.seconds)) };
});

/** Bars of mean mIoU with ± std whiskers, one per row. */
function chart(): string {
  const W = 800, bar = 26, gap = 10, L = 290, R = 70, T = 40;
  const H = T + results.length * (bar + gap) + 40;
  const top = Math.max(...results.map((r) => mean(r.miou) + std(r.miou))) * 1.1;
  const x = (v: number): number => L + (v / top) * (W - L - R);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="#fff"/>`, `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">Dense linear probe mIoU (%), mean ± std over ${seeds.length} seeds</text>`];
  results.forEach((r, i) => {
    const y = T + i * (bar + gap);
    const m = mean(r.miou);
    const s = std(r.miou);
    const colour = r.row.key.startsWith('multisiam') ? '#d62728' : r.row.key.startsWith('random') ? '#999999' : '#1f77b4';
    parts.push(`<text x="${L - 8}" y="${y + bar / 2 + 4}" text-anchor="end">${r.row.label}</text>`);
    parts.push(`<rect x="${L}" y="${y}" width="${(x(m) - L).toFixed(1)}" height="${bar}" fill="${colour}"/>`);
    parts.push(`<path d="M${x(m - s).toFixed(1)} ${y + bar / 2}H${x(m + s).toFixed(1)}M${x(m - s).toFixed(1)} ${y + 6}v${bar - 12}M${x(m + s).toFixed(1)} ${y + 6}v${bar - 12}" stroke="#000"/>`);
    parts.push(`<text x="${(x(m + s) + 6).toFixed(1)}" y="${y + bar / 2 + 4}">${m.toFixed(2)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

const fmt = (xs: readonly number[]): string => `${mean(xs).toFixed(2)} ± ${std(xs).toFixed(2)}`;
const lines = [
  '# Results: what pre-training buys the dense linear probe',
  '',
  `Every row pre-trains the \`tiny\` preset (ResNet-18 at width 1/4, 112² views, batch 16) for ${steps} steps on \`${data}\``,
  `with seeds ${seeds.join(', ')}, then \`multisiam eval probe\` trains a per-pixel linear classifier on the frozen`,
  'backbone over labelled synthetic scenes and scores it on held-out scenes (fixed probe seed 0). Mean ± std',
  `over the ${seeds.length} pre-training seeds. Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores.`,
  '',
  '![probe mIoU per method](results.svg)',
  '',
  '| method | probe mIoU (%) | pixel accuracy (%) | wall time per seed (train + probe) |',
  '|---|---|---|---|',
  ...results.map((r) => `| ${r.row.label} | ${fmt(r.miou)} | ${fmt(r.accuracy)} | ${(r.seconds / 60).toFixed(1)} min |`),
  '',
  '## Commands',
  '',
  'Each seed S of each row (the table is rebuilt by `node dist/tools/results.js`):',
  '',
  '```',
  ...results.flatMap((r) =>
    r.row.sets === null
      ? [`# ${r.row.label}`, 'multisiam build --preset tiny --set train.seed=S --out runs/results/random-seedS', 'multisiam eval probe --bundle runs/results/random-seedS --seed 0 --out runs/results/random-seedS']
      : [`# ${r.row.label}`, `multisiam ${trainArgs(r.row, 0, `runs/results/${r.row.key}-seedS`).join(' ').replace('--seed 0', '--seed S')}`, `multisiam eval probe --run runs/results/${r.row.key}-seedS --seed 0`],
  ),
  '```',
  '',
];
// The reading of the table is written by hand beside it and carried into the page.
const notes = join(outDir, 'results-notes.md');
if (existsSync(notes)) lines.push(readFileSync(notes, 'utf8'));
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'results.svg'), chart());
writeFileSync(join(outDir, 'results.md'), lines.join('\n'));
console.log(lines.join('\n'));
