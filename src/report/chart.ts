/**
 * Line charts as plain SVG, for the run report (`multisiam report`): one or more series against the
 * step, each either as faint raw points under a line smoothed by a debiased exponential moving
 * average (noisy series: losses, throughput), or as the values joined (schedules: learning rate,
 * momentum). The frame (ranges, axes, ticks), the colours and the smoothing are the loss plot's
 * (src/train/metrics.ts), so the report has one chart for every logged quantity.
 */
import { COLOURS, MAX_POINTS, type MetricRecord, debiasedEma, defaultSmoothing, escapeXml, fmt, plotFrame } from '../train/metrics.js';

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

/** The finite values of `key` in the records against their step, multiplied by `scale`. */
export function seriesOf(records: readonly MetricRecord[], key: string, label = key, scale = 1): Series {
  const points = records.flatMap((r): Point[] => {
    const v = r[key];
    return typeof v === 'number' && Number.isFinite(v) ? [[r.step, v * scale]] : [];
  });
  return { label, points };
}


/** An inline SVG line chart of `series` (see the file comment); series without points are left out. */
export function lineChartSvg(series: readonly Series[], options: ChartOptions): string {
  const W = 560, H = 320, L = 70, R = 16, T = 34, B = 44;
  const title = escapeXml(options.title);
  const shown = series.filter((s) => s.points.length > 0);
  const head = `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12" role="img" aria-label="${title}">\n<title>${title}</title>\n<rect width="${W}" height="${H}" fill="#ffffff"/>\n<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${title}</text>\n`;
  if (shown.length === 0) return `${head}<text x="${W / 2}" y="${H / 2}" text-anchor="middle">nothing logged</text>\n</svg>\n`;

  const { svg: frame, sx, sy } = plotFrame(shown, { W, H, L, R, T, B }, options.yLabel);
  const parts = [head, frame];

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
