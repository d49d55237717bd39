/**
 * Figures for every preset's bundle: build time, file sizes, parameter counts (online per module,
 * target, optimizer state) and FLOPs per training step (train_step + target_forward, as
 * `multisiam inspect` counts them). Builds each bundle into a scratch directory (or --keep DIR/<preset>).
 *
 *   node dist/tools/bundle-report.js                 # tiny, r18, r50
 *   node dist/tools/bundle-report.js --presets tiny,r18 --keep bundles
 *   node dist/tools/bundle-report.js --json
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PRESET_NAMES } from '../src/config/index.js';
import { resolveConfig } from '../src/methods/index.js';
import { formatFlops } from '../src/onnx/flops.js';
import { writeBundle } from '../src/bundle/bundle.js';
import { type BundleInspection, formatBytes, formatCount, inspectBundle } from '../src/bundle/inspect.js';

interface Row {
  readonly preset: string;
  readonly build_ms: number;
  readonly inspection: BundleInspection;
}

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

function main(): void {
  const presets = (option('presets') ?? PRESET_NAMES.join(',')).split(',');
  const keep = option('keep');
  const json = process.argv.includes('--json');
  const scratch = keep ? resolve(keep) : mkdtempSync(join(tmpdir(), 'multisiam-report-'));
  const rows: Row[] = [];
  try {
    for (const preset of presets) {
      const cfg = resolveConfig({ preset });
      const built = writeBundle(cfg, join(scratch, preset));
      rows.push({ preset, build_ms: built.buildMs, inspection: inspectBundle(built.dir) });
      if (!json) console.error(`built ${preset} in ${(built.buildMs / 1000).toFixed(1)} s`);
    }
  } finally {
    if (!keep) rmSync(scratch, { recursive: true, force: true });
  }
  if (json) {
    console.log(JSON.stringify(rows.map((r) => ({ preset: r.preset, build_ms: r.build_ms, config: r.inspection.config, params: r.inspection.params, flops: r.inspection.flops, files: r.inspection.files, total_bytes: r.inspection.total_bytes })), null, 2));
    return;
  }
  const col = (cells: string[], widths: number[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const names = rows.map((r) => r.preset);
  const w = [26, ...names.map(() => 14)];
  const line = (label: string, f: (r: Row) => string): void => console.log(col([label, ...rows.map(f)], w));
  console.log(col(['', ...names], w));
  line('backbone', (r) => r.inspection.config['backbone']!.split(',')[0]!);
  line('views, batch', (r) => `${r.inspection.graphs.train_step.inputs.listed.find((v) => v.name === 'view1')!.shape.slice(2).join('×')}, ${r.inspection.graphs.train_step.inputs.listed.find((v) => v.name === 'view1')!.shape[0]}`);
  console.log('parameters');
  const modules = [...new Set(rows.flatMap((r) => r.inspection.params.online.modules.map((m) => m.module)))];
  line('  online', (r) => formatCount(r.inspection.params.online.elements));
  for (const m of modules) line(`    ${m}`, (r) => formatCount(r.inspection.params.online.modules.find((x) => x.module === m)?.elements ?? 0));
  line('  target', (r) => formatCount(r.inspection.params.target.elements));
  line('  optimizer state', (r) => formatCount(r.inspection.params.optimizer_state.elements));
  console.log('FLOPs');
  line('  train_step', (r) => formatFlops(r.inspection.flops.train_step));
  line('  target_forward', (r) => formatFlops(r.inspection.flops.target_forward));
  line('  per step', (r) => formatFlops(r.inspection.flops.per_step));
  line('  per view pair', (r) => formatFlops(r.inspection.flops.per_pair));
  line('  (grad graph)', (r) => formatFlops(r.inspection.flops.grad));
  line('  (backbone, one batch)', (r) => formatFlops(r.inspection.flops.backbone));
  console.log('bundle');
  const files = [...new Set(rows.flatMap((r) => r.inspection.files.map((f) => f.file)))];
  for (const f of files) line(`  ${f}`, (r) => formatBytes(r.inspection.files.find((x) => x.file === f)?.bytes ?? 0));
  line('  total', (r) => formatBytes(r.inspection.total_bytes));
  line('build time', (r) => `${(r.build_ms / 1000).toFixed(1)} s`);
}

main();
