/**
 * What a run reports: `RUN/metrics.jsonl` (one JSON object per logged step), a self-contained SVG
 * loss curve drawn from it, and the terminal status line.
 *
 * The log's `step` must count like the checkpoints' step, so that resuming from checkpoint S keeps
 * exactly the lines with step ≤ S and the file reads as if the run had never stopped.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { RUN_METRICS, writeFileAtomic } from './rundir.js';

export type MetricValue = number | string | boolean | null;
export interface MetricRecord {
  step: number;
  [key: string]: MetricValue;
}

export function metricsPath(runDir: string): string {
  return join(runDir, RUN_METRICS);
}

/** JSON has no NaN or Infinity; keep them visible as strings rather than JSON.stringify's null. */
function encodeRecord(r: MetricRecord): string {
  return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
}

/**
 * Parses a metrics file. A torn last line (the process died mid-write) is skipped; a bad line
 * elsewhere is an error naming the file and line.
 */
export function readMetrics(path: string): MetricRecord[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: MetricRecord[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let r: unknown;
    try {
      r = JSON.parse(line);
    } catch {
      if (i === lines.length - 1) return;
      throw new Error(`${path}:${i + 1}: not a JSON object (${line.slice(0, 60)})`);
    }
    if (typeof r !== 'object' || r === null || !Number.isInteger((r as MetricRecord).step)) {
      throw new Error(`${path}:${i + 1}: a metrics line needs an integer "step"`);
    }
    out.push(r as MetricRecord);
  });
  return out;
}

/** Appends one line per record, each written straight to the file so a crash loses at most one line. */
export class MetricsLog {
  readonly path: string;
  private fd: number | null;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.fd = fd;
  }

  /**
   * Opens RUN/metrics.jsonl. A new run (no `resumeStep`) refuses to append to another run's log; a
   * resumed run first drops the lines after `resumeStep` (and a torn last line), rewriting the file
   * atomically.
   */
  static open(runDir: string, resumeStep?: number): MetricsLog {
    const path = metricsPath(runDir);
    mkdirSync(runDir, { recursive: true });
    if (resumeStep === undefined) {
      if (existsSync(path) && readFileSync(path).length > 0) {
        throw new Error(`${path} already holds another run's metrics: pass --resume to continue that run, or choose another --out`);
      }
    } else if (existsSync(path)) {
      const kept = readMetrics(path).filter((r) => r.step <= resumeStep);
      writeFileAtomic(path, kept.map((r) => encodeRecord(r) + '\n').join(''));
    }
    return new MetricsLog(path, openSync(path, 'a'));
  }

  append(record: MetricRecord): void {
    if (this.fd === null) throw new Error(`${this.path}: the metrics log is closed`);
    writeSync(this.fd, encodeRecord(record) + '\n');
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

// ---------------------------------------------------------------- loss-curve SVG

/** Series colours in order (the loss plot's: the total loss first, then each term as the records name them; the report's charts). */
export const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'] as const;

/** `loss` and every `loss_<term>` the records hold, in order of first appearance. */
export function lossKeys(records: readonly MetricRecord[]): string[] {
  const keys = new Set<string>(['loss']);
  for (const r of records) for (const k of Object.keys(r)) if (k.startsWith('loss_')) keys.add(k);
  return [...keys];
}
/** Raw points drawn per series at most; longer runs are thinned evenly (the smoothed line keeps all). */
export const MAX_POINTS = 2000;

export const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** A coordinate with one decimal, as the plots write them. */
export const fmt = (v: number): string => String(Math.round(v * 10) / 10);

/** About `count` round tick values (1, 2 or 5 × 10^k apart) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toFixed(decimals)));
  return ticks;
}

/** 0.9, or less for short series so the smoothed line does not trail its first few points . */
export function defaultSmoothing(points: number): number {
  return Math.min(0.9, Math.max(0, 1 - 4 / Math.max(1, points)));
}

/**
 * The debiased EMA of `values` with weight `smoothing`, TensorBoard's: ema_t = s·ema_{t−1} + (1 − s)·x_t
 * with ema_0 = 0, drawn as ema_t / (1 − s^t), which removes the start-up lag of a plain EMA (the
 * smoothed line starts at the first value).
 */
export function debiasedEma(values: readonly number[], smoothing: number): number[] {
  if (!(smoothing >= 0 && smoothing < 1)) throw new RangeError(`chart smoothing must lie in [0, 1), got ${smoothing}`);
  let ema = 0;
  return values.map((v, i) => {
    ema = smoothing * ema + (1 - smoothing) * v;
    return ema / (1 - smoothing ** (i + 1));
  });
}

/** A plot's size and margins (pixels): the axes run from (L, H − B) to (W − R, T). */
export interface PlotBox {
  readonly W: number;
  readonly H: number;
  readonly L: number;
  readonly R: number;
  readonly T: number;
  readonly B: number;
}

/**
 * The frame of a plot of `series` against the step, shared by loss.svg and the report's charts: both
 * ranges from the points (values padded by 5%), the axes, grid lines, round ticks and their labels,
 * and the axis titles; with the maps from data to picture coordinates the series are drawn with.
 */
export function plotFrame(series: readonly { readonly points: readonly (readonly [number, number])[] }[], box: PlotBox, yLabel: string): { svg: string; sx: (x: number) => number; sy: (y: number) => number } {
  const { W, H, L, R, T, B } = box;
  // Loops, not Math.min(...spread): a long run has more points than the call stack takes arguments.
  let [x0, x1, v0, v1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const s of series) for (const [x, v] of s.points) [x0, x1, v0, v1] = [Math.min(x0, x), Math.max(x1, x), Math.min(v0, v), Math.max(v1, v)];
  const pad = (v1 - v0) * 0.05 || Math.abs(v0) * 0.05 || 1;
  const [y0, y1] = [v0 - pad, v1 + pad];
  const sx = (x: number): number => L + (x1 === x0 ? (W - L - R) / 2 : ((x - x0) / (x1 - x0)) * (W - L - R));
  const sy = (y: number): number => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);

  const parts = [`<g class="axes" stroke="#000000" fill="none">\n<path d="M${L} ${T}V${H - B}H${W - R}"/>\n`];
  const labels: string[] = [];
  for (const t of niceTicks(x0, x1).filter((t) => t >= x0 && t <= x1)) {
    parts.push(`<path d="M${fmt(sx(t))} ${H - B}v5"/>\n`);
    labels.push(`<text x="${fmt(sx(t))}" y="${H - B + 18}" text-anchor="middle">${t}</text>`);
  }
  for (const t of niceTicks(y0, y1).filter((t) => t >= y0 && t <= y1)) {
    parts.push(`<path d="M${L - 5} ${fmt(sy(t))}h5"/><path d="M${L} ${fmt(sy(t))}H${W - R}" stroke="#e0e0e0"/>\n`);
    labels.push(`<text x="${L - 8}" y="${fmt(sy(t) + 4)}" text-anchor="end">${t}</text>`);
  }
  parts.push(`</g>\n<g class="tick-labels">\n${labels.join('\n')}\n</g>\n`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - B + 36}" text-anchor="middle">step</text>\n`);
  parts.push(`<text transform="translate(${L - 54} ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>\n`);
  return { svg: parts.join(''), sx, sy };
}

/**
 * The loss curves of `records` (loss and each loss term against step) as a standalone SVG:
 * faint raw points, a line smoothed by a debiased exponential moving average (`smoothing`, as
 * TensorBoard's slider; by default 0.9, less for short logs so the line does not trail its first
 * few points), axes with ticks and labels, and a legend. Non-finite values are skipped.
 */
export function lossCurveSvg(records: readonly MetricRecord[], options: { title?: string; smoothing?: number } = {}): string {
  const W = 800, H = 450, L = 70, R = 20, T = 40, B = 50;
  const title = escapeXml(options.title ?? 'Training loss');
  const smoothing = options.smoothing ?? defaultSmoothing(records.length);
  const series = lossKeys(records).map((key, i) => ({
    key,
    colour: COLOURS[i % COLOURS.length]!,
    points: records.flatMap((r) => (typeof r[key] === 'number' && Number.isFinite(r[key]) ? [[r.step, r[key] as number] as const] : [])),
  })).filter((s) => s.points.length > 0);
  const head = `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">\n<title>${title}</title>\n<rect width="${W}" height="${H}" fill="#ffffff"/>\n<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${title}</text>\n`;
  if (series.length === 0) return `${head}<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no loss values logged yet</text>\n</svg>\n`;

  const { svg: frame, sx, sy } = plotFrame(series, { W, H, L, R, T, B }, 'loss');
  const parts = [head, frame];

  for (const s of series) {
    const stride = Math.ceil(s.points.length / MAX_POINTS);
    const dots = s.points.filter((_, i) => i % stride === 0).map(([x, y]) => `<circle cx="${fmt(sx(x))}" cy="${fmt(sy(y))}" r="1.5"/>`);
    const smoothed = debiasedEma(s.points.map((p) => p[1]), smoothing);
    const line = s.points.map(([x], i) => `${i === 0 ? 'M' : 'L'}${fmt(sx(x))} ${fmt(sy(smoothed[i]!))}`);
    parts.push(`<g id="series-${s.key}">\n<g class="raw" fill="${s.colour}" fill-opacity="0.35">${dots.join('')}</g>\n`);
    parts.push(`<path class="smoothed" d="${line.join('')}" fill="none" stroke="${s.colour}" stroke-width="2"/>\n</g>\n`);
  }
  parts.push('<g id="legend">\n');
  series.forEach((s, i) => {
    const y = T + 8 + i * 18;
    parts.push(`<rect x="${W - R - 120}" y="${y - 9}" width="14" height="4" fill="${s.colour}"/><text x="${W - R - 100}" y="${y - 3}">${s.key}</text>\n`);
  });
  parts.push('</g>\n</svg>\n');
  return parts.join('');
}

/** Writes the loss plot for a metrics log next to it (or wherever `svgPath` says), atomically. */
export function writeLossPlot(metricsFile: string, svgPath: string, title?: string): void {
  writeFileAtomic(svgPath, lossCurveSvg(readMetrics(metricsFile), title === undefined ? {} : { title }));
}

// ---------------------------------------------------------------- terminal status

export interface StatusFields {
  step: number;
  totalSteps: number;
  /** 0-based epoch of the step (steps per epoch = floor(images / batch), in --steps runs too). */
  epoch: number;
  loss: number;
  /** The method's loss terms by name (`global`, `dense`, …), shown by their initials. */
  terms?: Readonly<Record<string, number>>;
  lr: number;
  momentum: number;
  pairsPerSec: number;
  /** Share of wall time spent waiting for data, in [0, 1]. */
  dataWait: number;
}

/** What the status line writes to: process.stderr or anything with `write`. */
export interface StatusStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const hms = [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60];
  return `${hms[0]}:${String(hms[1]).padStart(2, '0')}:${String(hms[2]).padStart(2, '0')}`;
}

/**
 * One status line, most important first: step, loss, throughput and ETA, then epoch, learning rate,
 * momentum, data wait and the loss terms. With `width`, fields are left out from the end until the
 * line fits (the first is cut only on a terminal too narrow for it alone).
 */
export function formatStatus(f: StatusFields, etaSeconds: number | null, width?: number): string {
  const pct = f.totalSteps > 0 ? Math.min(1, f.step / f.totalSteps) * 100 : 0;
  const terms = Object.entries(f.terms ?? {}).map(([k, v]) => `${k[0]} ${v.toFixed(4)}`);
  const fields = [
    `${f.step}/${f.totalSteps} (${pct.toFixed(1)}%)`,
    `loss ${f.loss.toFixed(4)}`,
    `${f.pairsPerSec.toFixed(1)} pairs/s`,
    `ETA ${etaSeconds === null ? '?' : clock(etaSeconds)}`,
    `epoch ${f.epoch}`,
    `lr ${f.lr.toExponential(2)}`,
    `m ${f.momentum.toFixed(5)}`,
    `wait ${(f.dataWait * 100).toFixed(0)}%`,
    ...(terms.length > 0 ? [`(${terms.join(' ')})`] : []),
  ];
  if (width === undefined) return fields.join('  ');
  let line = fields[0]!;
  for (const field of fields.slice(1)) {
    if (line.length + 2 + field.length > width) break;
    line += `  ${field}`;
  }
  return line.slice(0, width);
}

/**
 * The status line: on a TTY one line redrawn in place (at most every 100 ms) and fitted to the
 * terminal's width; otherwise, as in CI logs, a full plain line at the first update (the first step:
 * the run is alive), at the second (the first ETA), then every `intervalMs` and at the last step.
 * ETA comes from the rate since the first update, so a resumed run estimates from its own speed.
 */
export class StatusLine {
  private start: { t: number; step: number } | null = null;
  private lastDraw = -Infinity;
  private draws = 0;
  private drawn = false;

  constructor(
    private readonly stream: StatusStream,
    private readonly intervalMs = 30_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  update(f: StatusFields): void {
    const t = this.now();
    // The rate is measured from the first update on; the step before it (session warm-up) is not counted.
    this.start ??= { t, step: f.step };
    const last = f.step >= f.totalSteps;
    const early = !this.stream.isTTY && this.draws < 2;
    if (!last && !early && t - this.lastDraw < (this.stream.isTTY ? 100 : this.intervalMs)) return;
    this.lastDraw = t;
    this.draws++;
    const done = f.step - this.start.step;
    const eta = done > 0 ? ((f.totalSteps - f.step) * (t - this.start.t)) / done / 1000 : null;
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[2K${formatStatus(f, eta, (this.stream.columns ?? 80) - 1)}`);
      this.drawn = true;
    } else {
      this.stream.write(formatStatus(f, eta) + '\n');
    }
  }

  /** Ends the redrawn line so later output starts on a fresh one. */
  finish(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
