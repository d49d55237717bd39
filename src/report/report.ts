/**
 * `multisiam report RUN` (issue 8 §4): one self-contained HTML page about a training run, written to
 * RUN/report.html. Everything is inline — charts as SVG, pictures as base64 PNG, styles in the
 * page — so the file opens anywhere without a network and can be mailed or archived alone.
 *
 *   configuration  the run's key settings (as `inspect` shows them), its data, length and progress;
 *                  the whole configuration folded away
 *   training       every loss term, raw and smoothed (chart.ts); learning rate and target momentum;
 *                  throughput (pairs/s), data wait and the step's phases; gradient norm, IoU pass rate
 *   clusters       K-means cluster maps of the target network over sample views at several
 *                  checkpoints (clusters.ts)
 *   probe          the dense linear probe results the run holds (RUN/probe*.json), if any
 *
 * A run with no metrics or no checkpoint is refused with the file that is missing and what to do.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Bundle, readBundle } from '../bundle/bundle.js';
import { keyConfig } from '../bundle/inspect.js';
import { scheduleSteps } from '../config/derived.js';
import type { MultiSiamConfig } from '../config/schema.js';
import { type DataFingerprint, parseDataArg } from '../data/sources.js';
import type { ProbeResult } from '../eval/probe.js';
import { checkpointsRoot, listCheckpoints } from '../train/checkpoint.js';
import { type MetricRecord, defaultSmoothing, lossKeys, metricsPath, readMetrics } from '../train/metrics.js';
import { RUN_BUNDLE, RUN_CONFIG, RUN_DATA, diskError, writeFileAtomic } from '../train/rundir.js';
import { type ChartOptions, type Series, lineChartSvg, seriesOf } from './chart.js';
import { type ClusterMaps, type NoClusterMaps, clusterMaps } from './clusters.js';

export const REPORT_FILE = 'report.html';

export interface ReportOptions {
  readonly run: string;
  /** The HTML file to write (default RUN/report.html). */
  readonly out?: string;
  /** Sample images in the cluster maps (default 4). */
  readonly samples?: number;
  /** Checkpoint columns in the cluster maps, the initial tensors included (default 4). */
  readonly checkpoints?: number;
  /** The sample images' source (`synthetic[:N]` or a folder); by default the run's data (RUN/data.json). */
  readonly data?: string;
  readonly log?: (line: string) => void;
}

export interface ReportSummary {
  readonly path: string;
  readonly bytes: number;
  /** The charts drawn, by id. */
  readonly charts: readonly string[];
  /** Cluster maps drawn (samples × columns), 0 when the method has none. */
  readonly clusterMaps: number;
  /** Probe results shown. */
  readonly probes: number;
}

/** One chart of the training section: which logged keys, how to draw them. */
interface ChartSpec extends ChartOptions {
  readonly id: string;
  readonly keys: readonly string[];
  /** Multiplies the values (100 for shares shown in %). */
  readonly scale?: number;
}

const PHASES = ['upload_ms', 'target_ms', 'targets_ms', 'step_ms', 'update_ms'] as const;

/** The charts after the loss terms, in page order. */
const CHARTS: readonly ChartSpec[] = [
  { id: 'lr', keys: ['lr'], title: 'Learning rate', yLabel: 'lr', style: 'line' },
  { id: 'momentum', keys: ['momentum'], title: 'Target-network momentum τ', yLabel: 'τ', style: 'line' },
  { id: 'pairs_per_s', keys: ['pairs_per_s'], title: 'Throughput', yLabel: 'pairs/s' },
  { id: 'data_wait', keys: ['data_wait'], title: 'Data wait (share of wall time)', yLabel: '%', scale: 100 },
  { id: 'phases', keys: PHASES, title: 'Time per step by phase', yLabel: 'ms' },
  { id: 'grad_norm', keys: ['grad_norm'], title: 'Gradient norm', yLabel: '‖g‖' },
  { id: 'iou_pass_rate', keys: ['iou_pass_rate'], title: 'Pairs passing the IoU rule', yLabel: '%', scale: 100 },
];

/** Writes the report (see the file comment) and says what it holds. */
export async function writeReport(o: ReportOptions): Promise<ReportSummary> {
  const log = o.log ?? (() => undefined);
  const run = o.run;
  if (!existsSync(run) || !statSync(run).isDirectory()) throw new Error(`RUN ${run}: no such directory; pass the --out of a \`multisiam train\` run`);
  let bundle: Bundle;
  try {
    bundle = readBundle(join(run, RUN_BUNDLE));
  } catch (e) {
    throw new Error(`RUN ${run} is not a training run: ${(e as Error).message}`);
  }
  const metricsFile = metricsPath(run);
  if (!existsSync(metricsFile)) throw new Error(`${metricsFile} is missing: the run has logged no step yet; train it (\`multisiam train … --out ${run}\`, or --resume) for at least train.log_every steps, then run report again`);
  const records = readMetrics(metricsFile);
  if (records.length === 0) throw new Error(`${metricsFile} holds no step yet; train the run for at least train.log_every steps (--resume continues it), then run report again`);
  const checkpoints = listCheckpoints(run);
  if (checkpoints.length === 0) {
    throw new Error(`${checkpointsRoot(run)} holds no complete checkpoint, which the cluster maps need; train longer (a checkpoint is written every train.checkpoint_every steps and at the end) or stop the run with Ctrl-C, which writes one`);
  }
  const cfg = readJson<MultiSiamConfig>(join(run, RUN_CONFIG)) ?? bundle.manifest.config;
  const fingerprint = readJson<DataFingerprint>(join(run, RUN_DATA));
  const dataArg = o.data ?? fingerprint?.source;
  if (dataArg === undefined) throw new Error(`${join(run, RUN_DATA)} is missing, so the run's images are unknown; pass --data (synthetic[:N] or a folder) for the cluster maps' sample views`);
  let data;
  try {
    data = await parseDataArg(dataArg);
  } catch (e) {
    const from = o.data !== undefined ? '--data' : `the run's data (${join(run, RUN_DATA)})`;
    throw new Error(`${from}: ${(e as Error).message}; pass --data to take the sample views from elsewhere`);
  }

  const samples = o.samples ?? 4;
  const columns = o.checkpoints ?? 4;
  log(`clustering the target network's dense map on ${samples} sample view(s) at up to ${columns} checkpoint(s)`);
  const clusters = await clusterMaps(run, bundle, { samples, checkpoints: columns, data, seed: cfg.train.seed });
  const probes = readProbes(run);
  const smoothing = defaultSmoothing(records.length);
  const charts = trainingCharts(records, smoothing);

  let total: number | null = null;
  try {
    total = scheduleSteps(cfg, fingerprint?.images).totalSteps;
  } catch {
    // A length in epochs without the image count (a run older than data.json): shown as unknown.
  }
  const progress = { logged: records.at(-1)!.step, checkpoints: checkpoints.map((c) => c.step), total };
  const html = page(run, bundle, cfg, fingerprint, progress, { charts, smoothing }, clusters, probes);
  const path = o.out ?? join(run, REPORT_FILE);
  try {
    writeFileAtomic(path, html);
  } catch (e) {
    throw diskError(e, path, 'the report');
  }
  return {
    path,
    bytes: Buffer.byteLength(html),
    charts: charts.map((c) => c.id),
    clusterMaps: 'missing' in clusters ? 0 : clusters.samples.length * clusters.columns.length,
    probes: probes.length,
  };
}

function readJson<T>(path: string): T | null {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message}); restore it or delete it`);
  }
}

/** The probe results in RUN: probe.json and its variants (`probe-random-init.json`, …), by file name. */
function readProbes(run: string): { file: string; result: ProbeResult }[] {
  return readdirSync(run)
    .filter((f) => /^probe(-[a-z-]+)?\.json$/.test(f))
    .sort()
    .flatMap((file) => {
      const result = readJson<ProbeResult>(join(run, file));
      return result?.format === 'multisiam-probe' ? [{ file, result }] : [];
    });
}

interface Chart {
  readonly id: string;
  readonly svg: string;
}

/** A chart per loss term (the total first), then CHARTS, leaving out what the log does not hold; noisy series smoothed with weight `smoothing`. */
function trainingCharts(records: readonly MetricRecord[], smoothing: number): Chart[] {
  const losses: ChartSpec[] = lossKeys(records).map((key) => ({
    id: key,
    keys: [key],
    title: key === 'loss' ? 'Loss (weighted sum of the terms)' : `Loss term ${key.slice('loss_'.length)}`,
    yLabel: 'loss',
  }));
  return [...losses, ...CHARTS].flatMap((spec) => {
    const series: Series[] = spec.keys.map((k) => seriesOf(records, k, k, spec.scale ?? 1)).filter((s) => s.points.length > 0);
    return series.length === 0 ? [] : [{ id: spec.id, svg: lineChartSvg(series, { ...spec, smoothing }) }];
  });
}

const escapeHtml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; margin-top: 2rem; }
table { border-collapse: collapse; } td, th { padding: 0.2rem 0.6rem; text-align: left; vertical-align: top; border-bottom: 1px solid #eee; }
th { font-weight: 600; } .num { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 0.5rem; } figure.chart { margin: 0; }
table.clusters td { padding: 0.25rem; text-align: center; } table.clusters img { display: block; width: 192px; height: 192px; image-rendering: pixelated; }
.note { color: #555; } pre { background: #f6f6f6; padding: 0.8rem; overflow-x: auto; }
`;

function page(
  run: string,
  bundle: Bundle,
  cfg: MultiSiamConfig,
  data: DataFingerprint | null,
  progress: { logged: number; checkpoints: readonly number[]; total: number | null },
  training: { readonly charts: readonly Chart[]; readonly smoothing: number },
  clusters: ClusterMaps | NoClusterMaps,
  probes: readonly { file: string; result: ProbeResult }[],
): string {
  const title = `multisiam report: ${resolve(run)}`;
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    `<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>`,
    '<body>',
    `<h1>${escapeHtml(bundle.manifest.method)} run report</h1>`,
    `<p class="note">${escapeHtml(resolve(run))} · written ${escapeHtml(new Date().toISOString())} by <code>multisiam report</code></p>`,
    configurationSection(cfg, data, progress),
    trainingSection(training.charts, training.smoothing),
    clusterSection(clusters),
    probeSection(run, probes),
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function rows(entries: readonly (readonly [string, string])[]): string {
  return entries.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('\n');
}

function configurationSection(cfg: MultiSiamConfig, data: DataFingerprint | null, progress: { logged: number; checkpoints: readonly number[]; total: number | null }): string {
  const of = progress.total === null ? '' : ` of ${progress.total}`;
  const run: [string, string][] = [
    ['progress', `logged up to step ${progress.logged}${of}; checkpoints at step ${progress.checkpoints.join(', ')}`],
    ['data', data ? `${data.source} (${data.images} images)` : 'not recorded (RUN/data.json is missing)'],
    ['schedule', `${cfg.train.steps > 0 ? `${cfg.train.steps} steps` : `${cfg.train.epochs} epochs`}, warm-up ${cfg.optim.warmup_steps > 0 ? `${cfg.optim.warmup_steps} steps` : `${cfg.optim.warmup_epochs} epochs`}, final lr ${cfg.optim.final_lr}, seed ${cfg.train.seed}`],
  ];
  return [
    '<section id="configuration">',
    '<h2>Configuration</h2>',
    `<table>\n${rows([...Object.entries(keyConfig(cfg)), ...run])}\n</table>`,
    `<details><summary>Every field (RUN/config.json)</summary><pre>${escapeHtml(JSON.stringify(cfg, null, 2))}</pre></details>`,
    '</section>',
  ].join('\n');
}

function trainingSection(charts: readonly Chart[], smoothing: number): string {
  return [
    '<section id="training">',
    '<h2>Training</h2>',
    `<p class="note">One point per logged step (train.log_every). Noisy series show the logged values as faint points under a line smoothed by a debiased exponential moving average (weight ${+smoothing.toFixed(3)}; 0.9, less for short logs), which starts at the first value rather than rising from zero; schedules are drawn as lines. Throughput and data wait are averages over the steps since the previous log line; the phases are those of the logged step.</p>`,
    '<div class="charts">',
    ...charts.map((c) => `<figure class="chart" id="chart-${escapeHtml(c.id)}">\n${c.svg}</figure>`),
    '</div>',
    '</section>',
  ].join('\n');
}

function clusterSection(c: ClusterMaps | NoClusterMaps): string {
  const head = ['<section id="clusters">', '<h2>Cluster maps of the target network</h2>'];
  if ('missing' in c) return [...head, `<p class="note">No cluster maps: ${escapeHtml(c.missing)}.</p>`, '</section>'].join('\n');
  const how = c.methodClusters
    ? `the method's own per-image K-means (k ${c.k}, ${c.iters} iterations)`
    : `per-image K-means with k ${c.k} (${c.iters} iterations; the method itself does not cluster this map)`;
  const header = ['<th>view</th>', ...c.columns.map((col) => `<th>${escapeHtml(col.label)}</th>`)].join('');
  const body = c.samples.map((s) => {
    const cells = [`<td><img class="view" src="${s.view}" alt="${escapeHtml(s.name)}"></td>`, ...s.maps.map((m, i) => `<td><img class="cluster-map" data-step="${c.columns[i]!.step}" src="${m}" alt="clusters of ${escapeHtml(s.name)} at ${escapeHtml(c.columns[i]!.label)}"></td>`)];
    return `<tr>${cells.join('')}</tr>\n<tr><td class="note" colspan="${cells.length}">${escapeHtml(s.name)}</td></tr>`;
  });
  return [
    ...head,
    `<p class="note">Each row is one image (its largest centred square at the run's view size, unflipped). Each column puts it through the run's target forward with one checkpoint's target network and clusters the dense map it produces (<code>${escapeHtml(c.output)}</code>, ${c.grid.h}×${c.grid.w} cells) with ${how}; each cell is coloured by its cluster. The same image, batch and K-means seeds are used in every column, so only the network changes; colours follow the previous column's clusters by overlap. In the paper's figures, MultiSiam's clusters come to follow objects and regions (road, cars, vegetation).</p>`,
    `<table class="clusters">\n<tr>${header}</tr>\n${body.join('\n')}\n</table>`,
    '</section>',
  ].join('\n');
}

const pct = (v: number | null): string => (v === null ? '–' : `${(100 * v).toFixed(1)}%`);

function probeSection(run: string, probes: readonly { file: string; result: ProbeResult }[]): string {
  const head = ['<section id="probe">', '<h2>Dense linear probe</h2>'];
  if (probes.length === 0) {
    return [...head, `<p class="note">No probe result in this run (${escapeHtml(join(run, 'probe.json'))}): <code>multisiam eval probe --run ${escapeHtml(run)}</code> writes one, <code>--random-init</code> the floor to compare with; then run report again.</p>`, '</section>'].join('\n');
  }
  const classes = [...new Set(probes.flatMap((p) => Object.keys(p.result.per_class_iou)))];
  const header = ['file', 'network', 'weights', 'head', 'data', 'mIoU', 'pixel accuracy', 'held-out scenes', ...classes.map((c) => `IoU ${c}`)].map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = probes.map(({ file, result: r }) => {
    const weights = r.backbone.random_init ? 'initial (random)' : `step ${r.backbone.step ?? '?'}`;
    const text = [file, r.backbone.network ?? '–', weights, r.probe.head, `${r.data.source}, seed ${r.seed}`].map((v) => `<td>${escapeHtml(v)}</td>`);
    const nums = [pct(r.miou), pct(r.pixel_accuracy), String(r.data.test), ...classes.map((c) => pct(r.per_class_iou[c] ?? null))].map((v) => `<td class="num">${escapeHtml(v)}</td>`);
    return `<tr>${[...text, ...nums].join('')}</tr>`;
  });
  return [
    ...head,
    '<p class="note">Frozen backbone, per-pixel classifier trained on labelled synthetic scenes, scored on held-out ones (<code>multisiam eval probe</code>; a random-init row is the floor to beat).</p>',
    `<table class="probe">\n<tr>${header}</tr>\n${body.join('\n')}\n</table>`,
    '</section>',
  ].join('\n');
}
