/**
 * Runs every graph of a preset's bundle once on the CPU, at full size or with `--set` overrides:
 * builds the bundle (or reads one with --bundle), feeds each graph every input it declares —
 * parameters, buffers and optimizer state from params.safetensors (online tensors by name, `target.<name>`
 * for target_forward, `momentum.<name>`), the optimizer's `lr` and `weight_decay` from the config,
 * random data of the manifest's shapes — and prints session-creation and run times, the loss terms,
 * whether every output is finite, and the process's peak resident memory.
 *
 *   node dist/tools/run-preset-step.js --preset r50                        # batch 64, 224² (minutes, ~GBs)
 *   node dist/tools/run-preset-step.js --preset r50 --set train.batch_size=2
 *   node dist/tools/run-preset-step.js --bundle DIR --graphs train_step,target_forward --threads 2
 *   /usr/bin/time -v node dist/tools/run-preset-step.js --preset r18 --graphs train_step
 *
 * The CI test (test/graphs/presets.test.ts) runs r50 with train.batch_size=2 through the same
 * functions; this script is the full-size check on demand. Exit status 1 when a graph fails to load
 * or run, or produces a non-finite output.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type MapSize, featureMapSize, peakLearningRate } from '../src/config/index.js';
import { resolveConfig } from '../src/methods/index.js';
import { Rng } from '../src/data/rng.js';
import { type TensorData, shapeSize } from '../src/onnx/dtype.js';
import { NAMES } from '../src/graphs/io.js';
import { type Session as SessionType, Session } from '../src/runtime/session.js';
import { type Bundle, GRAPH_FILES, type GraphKey, type ManifestValue, readBundle, readBundleTensors, writeBundle } from '../src/bundle/bundle.js';
import type { TensorMap } from '../src/bundle/safetensors.js';

export const GRAPH_KEYS = Object.keys(GRAPH_FILES) as GraphKey[];

/**
 * Random data for one data input, shaped like the manifest says and plausible for what it means:
 * uint8 views, flips and IoU weights 0/1 (at least one pair weighted), ΔC in ±0.5 of the image, RoI
 * positions inside the h×w feature map, unit-norm dense targets, distinct queue rows, boxes inside
 * the image, N(0, 1) for the rest.
 */
export function dataFeed(input: ManifestValue, rng: Rng, map: MapSize): TensorData {
  const n = shapeSize(input.shape);
  const kind = input.meaning?.kind;
  if (kind === 'image') return Uint8Array.from({ length: n }, () => Math.floor(rng.uniform(0, 256)));
  if (kind === 'queue_rows') return BigInt64Array.from({ length: n }, (_, i) => BigInt(i));
  const out = new Float32Array(n);
  if (kind === 'flip') for (let i = 0; i < n; i++) out[i] = rng.next() < 0.5 ? 1 : 0;
  else if (kind === 'pair_weight') for (let i = 0; i < n; i++) out[i] = i === 0 || rng.next() < 0.75 ? 1 : 0;
  else if (kind === 'offset_map') for (let i = 0; i < n; i++) out[i] = rng.uniform(-0.5, 0.5);
  else if (kind === 'crop_box') {
    for (let i = 0; i < n; i += 4) {
      const [x, y] = [rng.uniform(0, 0.5), rng.uniform(0, 0.5)];
      out.set([x, y, x + rng.uniform(0.2, 0.5), y + rng.uniform(0.2, 0.5)], i);
    }
  } else if (kind === 'roi_positions') {
    // (B, S·S, 2) positions (x, y) in feature index coordinates, inside the h×w map.
    for (let i = 0; i < n; i += 2) {
      out[i] = rng.uniform(0, map.w - 1);
      out[i + 1] = rng.uniform(0, map.h - 1);
    }
  } else if (kind === 'dense_target') {
    // Unit vectors along the channel axis of (B, D, h, w).
    const [rows, d] = [input.shape[0]!, input.shape[1]!];
    const cells = n / (rows * d);
    for (let i = 0; i < n; i++) out[i] = rng.normal();
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cells; c++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += out[(r * d + k) * cells + c]! ** 2;
        const inv = 1 / Math.sqrt(s);
        for (let k = 0; k < d; k++) out[(r * d + k) * cells + c]! *= inv;
      }
    }
  } else for (let i = 0; i < n; i++) out[i] = rng.normal();
  return out;
}

const STATE_ROLES = new Set(['param', 'buffer', 'state', 'target', 'queue']);

/** Every input of graph `key` of the bundle, by name: state from `tensors` (stored under the input names), random data, schedule-like hypers. */
export function feedsFor(bundle: Bundle, key: GraphKey, tensors: TensorMap, seed = 1): Record<string, TensorData> {
  const cfg = bundle.manifest.config;
  const rng = Rng.fromSeed(seed);
  const hypers: Record<string, number> = { [NAMES.lr]: peakLearningRate(cfg), [NAMES.weightDecay]: cfg.optim.weight_decay, [NAMES.targetMomentum]: 0.99 };
  const feeds: Record<string, TensorData> = {};
  for (const input of bundle.manifest.graphs[key].inputs) {
    if (STATE_ROLES.has(input.role)) {
      const t = tensors.get(input.name);
      if (!t) throw new Error(`${key}: input '${input.name}' (${input.role}) has no tensor in ${bundle.manifest.params_file}`);
      feeds[input.name] = t.data;
    } else if (input.role === 'hyper') {
      const value = hypers[input.name];
      if (value === undefined) throw new Error(`${key}: hyper-parameter input '${input.name}' is unknown to this runner`);
      feeds[input.name] = Float32Array.of(value);
    } else {
      feeds[input.name] = dataFeed(input, rng, featureMapSize(cfg));
    }
  }
  return feeds;
}

export interface GraphRun {
  readonly key: GraphKey;
  readonly createMs: number;
  readonly runMs: number;
  /** Output name → [dims, first value (scalars) or max |x|, finite]. */
  readonly outputs: Readonly<Record<string, { dims: readonly number[]; scalar: number | null; maxAbs: number; finite: boolean }>>;
}

/** Loads graph `key` of the bundle from its file (CPU), runs it once on `feedsFor` and summarises the outputs. */
export async function runGraph(bundle: Bundle, key: GraphKey, tensors: TensorMap, options: { threads?: number } = {}): Promise<GraphRun> {
  const feeds = feedsFor(bundle, key, tensors);
  const t0 = performance.now();
  const session: SessionType = await Session.create(join(bundle.dir, bundle.manifest.graphs[key].file), { ep: 'cpu', ...(options.threads ? { threads: options.threads } : {}) }, key);
  const createMs = performance.now() - t0;
  try {
    const t1 = performance.now();
    const result = await session.run(feeds);
    const runMs = performance.now() - t1;
    const outputs: Record<string, GraphRun['outputs'][string]> = {};
    for (const [name, tensor] of Object.entries(result)) {
      const data = tensor.data as ArrayLike<number>;
      let maxAbs = 0;
      let finite = true;
      for (let i = 0; i < data.length; i++) {
        const v = data[i]!;
        if (!Number.isFinite(v)) finite = false;
        else if (Math.abs(v) > maxAbs) maxAbs = Math.abs(v);
      }
      outputs[name] = { dims: [...tensor.dims], scalar: data.length === 1 ? data[0]! : null, maxAbs, finite };
    }
    return { key, createMs, runMs, outputs };
  } finally {
    await session.release();
  }
}

function args(argv: readonly string[]): { preset?: string; config?: string; bundle?: string; sets: string[]; graphs: GraphKey[]; threads?: number; keep?: string } {
  const sets: string[] = [];
  const out: ReturnType<typeof args> = { sets, graphs: GRAPH_KEYS };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--preset') out.preset = value();
    else if (a === '--config') out.config = value();
    else if (a === '--bundle') out.bundle = value();
    else if (a === '--keep') out.keep = value();
    else if (a === '--set') sets.push(value());
    else if (a === '--threads') out.threads = Number(value());
    else if (a === '--graphs') {
      const list = value().split(',');
      const bad = list.filter((g) => !(GRAPH_KEYS as string[]).includes(g));
      if (bad.length) throw new Error(`--graphs: unknown graph ${bad.join(', ')}; allowed: ${GRAPH_KEYS.join(', ')}`);
      out.graphs = list as GraphKey[];
    } else throw new Error(`unknown argument '${a}'; see the comment at the top of tools/run-preset-step.ts`);
  }
  if (!out.bundle && !out.preset && !out.config) out.preset = 'tiny';
  return out;
}

const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

async function main(): Promise<void> {
  const a = args(process.argv.slice(2));
  let dir = a.bundle ? resolve(a.bundle) : '';
  let scratch: string | null = null;
  if (!a.bundle) {
    const cfg = resolveConfig({ ...(a.preset ? { preset: a.preset } : {}), ...(a.config ? { configFile: a.config } : {}), sets: a.sets });
    scratch = a.keep ? null : mkdtempSync(join(tmpdir(), 'multisiam-step-'));
    dir = a.keep ? resolve(a.keep) : join(scratch!, 'bundle');
    const built = writeBundle(cfg, dir);
    console.log(`built ${a.preset ?? a.config}${a.sets.length ? ` with ${a.sets.join(' ')}` : ''} in ${built.buildMs} ms → ${dir}`);
  }
  let failed = false;
  try {
    const bundle = readBundle(dir);
    const cfg = bundle.manifest.config;
    console.log(`${bundle.manifest.method}: ${cfg.backbone.arch} w${cfg.backbone.width} os${cfg.backbone.output_stride}, batch ${cfg.train.batch_size}, ${cfg.data.image_size}×${cfg.data.image_size}, ${a.threads ?? 'default'} thread(s)`);
    const tensors = readBundleTensors(bundle);
    for (const key of a.graphs) {
      try {
        const r = await runGraph(bundle, key, tensors, a.threads ? { threads: a.threads } : {});
        const bad = Object.entries(r.outputs).filter(([, o]) => !o.finite).map(([n]) => n);
        const scalars = Object.entries(r.outputs).filter(([, o]) => o.scalar !== null).map(([n, o]) => `${n} ${o.scalar!.toPrecision(5)}`);
        console.log(`  ${key.padEnd(15)} create ${r.createMs.toFixed(0).padStart(6)} ms  run ${r.runMs.toFixed(0).padStart(7)} ms  ${Object.keys(r.outputs).length} outputs${scalars.length ? `  ${scalars.join(', ')}` : ''}  peak RSS so far ${mb(process.resourceUsage().maxRSS * 1024)}`);
        if (bad.length) {
          failed = true;
          console.log(`    non-finite outputs: ${bad.slice(0, 8).join(', ')}${bad.length > 8 ? ` and ${bad.length - 8} more` : ''}`);
        }
      } catch (e) {
        failed = true;
        console.log(`  ${key.padEnd(15)} FAILED: ${(e as Error).message}`);
      }
    }
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
  console.log(`peak resident memory of this process: ${mb(process.resourceUsage().maxRSS * 1024)}`);
  if (failed) process.exitCode = 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e: unknown) => {
    console.error(`run-preset-step: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  });
}
