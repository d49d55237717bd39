/**
 * Line charts as plain SVG, for the run report (`multisiam report`): one or more series against the
 * step, each either as faint raw points under a line smoothed by a debiased exponential moving
 * average (noisy series: losses, throughput), or as the values joined (schedules: learning rate,
 * momentum). This generalises src/train/metrics.ts's loss plot (same axes, ticks, colours and
 * smoothing) to any logged quantity, so the report has one chart for all of them.
 *
 * The debiased EMA is TensorBoard's: ema_t = s·ema_{t−1} + (1 − s)·x_t with ema_0 = 0, drawn as
 * ema_t / (1 − s^t). Dividing by 1 − s^t removes the start-up lag of a plain EMA, which starts at 0
 * and rises; the smoothed line starts at the first value.
 */
import { type MetricRecord, niceTicks } from '../train/metrics.js';

export type Point = readonly [step: number, value: number];

export interface Series {
  readonly label: string;
  readonly points: readonly Point[];
}

export interface ChartOptions {
  readonly title: string;
  readonly yLabel: string;
  /** `smoothed` (default): raw points and a debiased EMA line; `line`: the values joined. */
  readonly style?: 'smoothed' | 'line';
  /** The EMA weight s in [0, 1); by default `defaultSmoothing` of the longest series. */
  readonly smoothing?: number;
}

/** Series colours in order (the loss plot's). */
const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'] as const;
/** Points drawn per series at most; longer series are thinned evenly (the EMA still sees every value). */
const MAX_POINTS = 2000;

/** 0.9, or less for short series so the smoothed line does not trail its first few points (as the loss plot). */
export function defaultSmoothing(points: number): number {
  return Math.min(0.9, Math.max(0, 1 - 4 / Math.max(1, points)));
}

/** The debiased EMA of `values` with weight `smoothing` (see the file comment). */
export function debiasedEma(values: readonly number[], smoothing: number): number[] {
  if (!(smoothing >= 0 && smoothing < 1)) throw new RangeError(`chart smoothing must lie in [0, 1), got ${smoothing}`);
  let ema = 0;
  return values.map((v, i) => {
    ema = smoothing * ema + (1 - smoothing) * v;
    return ema / (1 - smoothing ** (i + 1));
  });
}

/** The finite values of `key` in the records against their step, multiplied by `scale`. */
export function seriesOf(records: readonly MetricRecord[], key: string, label = key, scale = 1): Series {
  const points = records.flatMap((r): Point[] => {
    const v = r[key];
    return typeof v === 'number' && Number.isFinite(v) ? [[r.step, v * scale]] : [];
  });
  return { label, points };
}

const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (v: number): string => String(Math.round(v * 10) / 10);

/** An inline SVG line chart of `series` (see the file comment); series without points are left out. */
export function lineChartSvg(series: readonly Series[], options: ChartOptions): string {
  const W = 560, H = 320, L = 70, R = 16, T = 34, B = 44;
  const title = escapeXml(options.title);
  const shown = series.filter((s) => s.points.length > 0);
  const head = `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12" role="img" aria-label="${title}">\n<title>${title}</title>\n<rect width="${W}" height="${H}" fill="#ffffff"/>\n<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${title}</text>\n`;
  if (shown.length === 0) return `${head}<text x="${W / 2}" y="${H / 2}" text-anchor="middle">nothing logged</text>\n</svg>\n`;

  // Loops, not Math.min(...spread): a long run has more points than the call stack takes arguments.
  let [x0, x1, v0, v1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const s of shown) for (const [x, v] of s.points) [x0, x1, v0, v1] = [Math.min(x0, x), Math.max(x1, x), Math.min(v0, v), Math.max(v1, v)];
  const pad = (v1 - v0) * 0.05 || Math.abs(v0) * 0.05 || 1;
  const [y0, y1] = [v0 - pad, v1 + pad];
  const sx = (x: number): number => L + (x1 === x0 ? (W - L - R) / 2 : ((x - x0) / (x1 - x0)) * (W - L - R));
  const sy = (y: number): number => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);

  const parts = [head, `<g class="axes" stroke="#000000" fill="none">\n<path d="M${L} ${T}V${H - B}H${W - R}"/>\n`];
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
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">step</text>\n`);
  parts.push(`<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>\n`);

  const smoothed = (options.style ?? 'smoothed') === 'smoothed';
  const smoothing = options.smoothing ?? defaultSmoothing(Math.max(...shown.map((s) => s.points.length)));
  shown.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const stride = Math.ceil(s.points.length / MAX_POINTS);
    const kept = (_: unknown, j: number): boolean => j % stride === 0 || j === s.points.length - 1;
    const line = (smoothed ? debiasedEma(s.points.map((p) => p[1]), smoothing) : s.points.map((p) => p[1]))
      .map((y, j) => [s.points[j]![0], y] as const)
      .filter(kept)
      .map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${fmt(sx(x))} ${fmt(sy(y))}`);
    parts.push(`<g class="series" data-label="${escapeXml(s.label)}">\n`);
    if (smoothed) {
      const dots = s.points.filter(kept).map(([x, y]) => `<circle cx="${fmt(sx(x))}" cy="${fmt(sy(y))}" r="2"/>`);
      parts.push(`<g class="raw" fill="${colour}" fill-opacity="0.5">${dots.join('')}</g>\n`);
    }
    parts.push(`<path class="${smoothed ? 'smoothed' : 'line'}" d="${line.join('')}" fill="none" stroke="${colour}" stroke-width="2"/>\n</g>\n`);
  });
  if (shown.length > 1) {
    parts.push('<g class="legend">\n');
    shown.forEach((s, i) => {
      const y = T + 8 + i * 18;
      parts.push(`<rect x="${W - R - 130}" y="${y - 9}" width="14" height="4" fill="${COLOURS[i % COLOURS.length]!}"/><text x="${W - R - 110}" y="${y - 3}">${escapeXml(s.label)}</text>\n`);
    });
    parts.push('</g>\n');
  }
  parts.push('</svg>\n');
  return parts.join('');
}
